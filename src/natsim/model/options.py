"""Declarative option specs: how a match or target's fields are spelled on the command line.

A typed match is a frozen dataclass whose fields carry an :func:`option` spec.  The
parser reads the specs to turn ``--dport 80`` into ``dport=Neg(PortRange(80, 80))``
and the renderer reads the same specs to write it back, in field order (which is
the order ``iptables-save`` prints).  ``kind`` names the value syntax; the parser
and renderer each keep one function per kind.

Value kinds (argument syntax):
  flag          no argument; the field is True when present
  int           decimal or 0x-hex integer
  str           one word, kept as written (quoted words are unquoted)
  port          one port or service number            -> int
  port_range    ``80`` or ``1000:2000``                 -> PortRange
  port_list     ``80,443,1000:2000``                    -> tuple[PortRange, ...]
  str_set       ``ESTABLISHED,RELATED``                 -> frozenset[str] (upper-cased)
  str_list      ``src,dst``                              -> tuple[str, ...]
  network       ``10.0.0.0/8`` or ``10.0.0.1``           -> IPv4Network | IPv6Network
  address       ``10.0.0.1``                             -> IPv4Address | IPv6Address
  address_range ``10.0.0.1-10.0.0.9``                    -> AddressRange
  mark_mask     ``0x1/0xff``                             -> MarkMask
  tcp_flags     two words ``SYN,ACK SYN``                -> TcpFlags
  icmp_type     ``8``, ``8/0``, ``echo-request``, ``any`` -> IcmpType
  icmp6_type    the same with ICMPv6's names (``echo-request`` is 128) -> IcmpType
  nat_range     ``1.2.3.4:80``, ``[fd::1]:80``, ``:80``  -> NatRange
  port_nat      ``8080`` or ``8080-8090``                -> PortRange
  number_str    a probability 0..1 kept as its original text (``0.33333333349``) -> str
  interface     ``eth0`` or ``br+``                      -> Interface
  set_ref       two words ``NAME src,dst``               -> (name, ("src", "dst"))

Refined kinds: the same value type as a base kind, but only the values iptables accepts
for one option (docs/decisions/0151-*).  A spec keeps its declared ``kind`` (the value type,
how it is rendered); the parser reads it with ``spec.reader`` (``option(..., refined=...)``).
  ctstate, state, ctstatus, addrtype  names (or iptables' prefixes of them) -> str_set
  ctdir         ORIGINAL or REPLY                        -> str (upper-cased)
  choice words  stat_mode, policy_dir, policy_pol, policy_mode -> str
  u8, u16       0..255, 0..65535                          -> int
  dscp          0..63                                    -> int
  every         1..2^32-1                                -> int
  burst         1..10000                                 -> int
  mss           0..65515 (0..65495 in an IPv6 ruleset)   -> int
  tos           ``0x10``, ``0x10/0x3f`` (bytes) or a symbolic name -> MarkMask
  dscp_class    a DiffServ class name (``AF11``)          -> str
  rate          ``5/min`` as libxt_limit reads it        -> str
  log_level     ``0``..``7`` or a syslog level name      -> str
  mac           ``00:11:22:33:44:55``                    -> str (lower-case, two digits per byte)
  reject_with   an ICMP or ICMPv6 reply type              -> str (its full name)
  c_port_range  a port range with ports as tcp/sctp read them (0x50 is 80, 010 is 8) -> PortRange
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class OptionSpec:
    flags: tuple[str, ...]  # flags[0] is how iptables-save prints it; others are accepted aliases
    kind: str
    negatable: bool = True  # may be written with '!' in front; the field then holds Neg[...]
    nargs: int = 1  # argument words (0 for a flag)
    refined: str | None = None  # a narrower kind the parser reads the value with (see option())

    @property
    def reader(self) -> str:
        """The kind the parser converts the value with: the refined kind if any, else ``kind``."""
        return self.refined or self.kind

    @property
    def canonical(self) -> str:
        return self.flags[0]


#: Refined kind -> the base kind it is rendered as.
REFINES: dict[str, str] = {
    "ctstate": "str_set", "state": "str_set", "ctstatus": "str_set", "addrtype": "str_set",
    "ctdir": "str", "stat_mode": "str", "policy_dir": "str", "policy_pol": "str", "policy_mode": "str",
    "dscp_class": "str", "rate": "str", "log_level": "str", "mac": "str",
    "reject_with": "str",
    "u8": "int", "u16": "int", "dscp": "int", "every": "int", "burst": "int", "mss": "int",
    "tos": "mark_mask",
    "c_port_range": "port_range",
}


_NARGS = {"flag": 0, "tcp_flags": 2, "set_ref": 2}


def option(*flags: str, kind: str, negatable: bool = True, default: Any = None, refined: str | None = None) -> Any:
    """A dataclass field that is spelled ``flags[0] VALUE`` on the command line.

    ``refined`` names a narrower kind the parser reads the value with (only what iptables accepts
    for this option); ``kind`` stays the value's type and how it is rendered.
    """
    assert refined is None or REFINES[refined] == kind, (flags, kind, refined)
    spec = OptionSpec(tuple(flags), kind, negatable, _NARGS.get(kind, 1), refined)
    return dataclasses.field(default=default, metadata={"option": spec})


def option_fields(cls: type) -> tuple[tuple[str, OptionSpec], ...]:
    """(field name, spec) for each option field of a match or target class, in order."""
    cached = cls.__dict__.get("_natsim_option_fields")
    if cached is None:
        cached = tuple(
            (f.name, f.metadata["option"]) for f in dataclasses.fields(cls) if "option" in f.metadata
        )
        setattr(cls, "_natsim_option_fields", cached)
    return cached
