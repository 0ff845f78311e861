"""One converter per option value kind (see natsim.model.options): word(s) -> model value.

Converters are pure; :class:`natsim.parse.rules.Builder` caches their results so
equal values are shared.  A bad word raises :class:`ValueProblem` saying what was
expected; the caller adds the location.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from functools import lru_cache

from natsim.model.construct import fast_new
from natsim.model.matches import IcmpType, TcpFlags
from natsim.model.values import AddressRange, Interface, MarkMask, NatRange, PortRange
from natsim.parse import names
from natsim.parse.names import ICMP6_TYPES, ICMP_TYPES, TCP_FLAGS
from natsim.parse.normalize import limit_period

# Values are made once per distinct word, but a big dump has tens of thousands of distinct words.
_new_address_range = fast_new(AddressRange)
_new_interface = fast_new(Interface)
_new_mark_mask = fast_new(MarkMask)
_new_nat_range = fast_new(NatRange)
_new_port_range = fast_new(PortRange)

IFNAMSIZ = 16


class ValueProblem(Exception):
    """A value that is not of its kind; ``expected`` completes "found X; expected ..."."""

    def __init__(self, expected: str, offset: int = 0) -> None:
        super().__init__(expected)
        self.expected = expected
        self.offset = offset  # which of the option's words (0 = first value)


def parse_int(word: str, what: str = "a number", limit: int = 0xFFFFFFFF) -> int:
    """A number as strtoul(…, 0) reads it: decimal, 0x-hex or 0-octal."""
    try:
        if word[:2].lower() == "0x":
            value = int(word[2:], 16)
        elif len(word) > 1 and word[0] == "0":
            value = int(word[1:], 8)
        else:
            value = int(word, 10)
    except ValueError:
        raise ValueProblem(f"expected {what}") from None
    if value < 0 or value > limit or not word.isascii():
        raise ValueProblem(f"expected {what} between 0 and {limit}")
    return value


@lru_cache(maxsize=512)
def _service(name: str) -> int | None:
    for proto in ("tcp", "udp", "sctp", "dccp"):
        try:
            return socket.getservbyname(name, proto)
        except OSError:
            continue
    return None


def parse_port(word: str) -> int:
    if word.isdigit():
        port = int(word)
        if port <= 65535:
            return port
        raise ValueProblem("expected a port between 0 and 65535")
    port = _service(word) if word and word.replace("-", "").isalnum() else None
    if port is None:
        raise ValueProblem("expected a port number or service name")
    return port


def parse_c_port(word: str) -> int:
    """A port as libxtables' xtables_parse_port reads it (tcp, sctp, multiport, the NAT targets):
    strtoul base 0 first, so ``0x50`` is 80 and ``010`` is 8 (``08`` is refused), then a service name.
    udp, dccp and conntrack read ports in decimal (:func:`parse_port`); decision 0152."""
    if len(word) > 1 and word[0] == "0" and word.isalnum():
        return parse_int(word, "a port (a leading 0 makes it octal, 0x hexadecimal)", 0xFFFF)
    return parse_port(word)


def _port_range(word: str, read: Callable[[str], int]) -> PortRange:
    if ":" in word:
        lo_s, _, hi_s = word.partition(":")
        lo = read(lo_s) if lo_s else 0
        hi = read(hi_s) if hi_s else 65535
        if lo > hi:
            raise ValueProblem("expected a port range LOW:HIGH with LOW <= HIGH")
        return _new_port_range(lo, hi)
    port = read(word)
    return _new_port_range(port, port)


def port_range(word: str) -> PortRange:
    """``80``, ``1000:2000``, ``:1024`` (from 0), ``1024:`` (to 65535), decimal."""
    return _port_range(word, parse_port)


def c_port_range(word: str) -> PortRange:
    """:func:`port_range` with ports read as tcp and sctp read them (:func:`parse_c_port`)."""
    return _port_range(word, parse_c_port)


def port_list(word: str) -> tuple[PortRange, ...]:
    """multiport's ``80,443,1000:2000`` (at most 15), ports read as :func:`parse_c_port` does."""
    parts = word.split(",")
    if not all(parts):
        raise ValueProblem("expected a comma list of ports (80,443,1000:2000)")
    if len(parts) > 15:
        raise ValueProblem("expected at most 15 ports (multiport's limit)")
    return tuple(c_port_range(p) for p in parts)


def port_nat(word: str) -> PortRange:
    """``--to-ports 8080`` or ``8080-8090`` (ports read as :func:`parse_c_port`)."""
    lo_s, sep, hi_s = word.partition("-")
    lo = parse_c_port(lo_s)
    hi = parse_c_port(hi_s) if sep else lo
    if lo > hi:
        raise ValueProblem("expected a port range LOW-HIGH with LOW <= HIGH")
    return _new_port_range(lo, hi)


_IP4 = ipaddress.IPv4Address
_IP6 = ipaddress.IPv6Address
_NET4 = ipaddress.IPv4Network
_NET6 = ipaddress.IPv6Network


def _ip_int(text: str) -> tuple[int, int]:
    """(version, integer) of a numeric address, as inet_pton reads it (fast; no names)."""
    try:
        if ":" in text:
            return 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, text), "big")
        if text.count(".") == 3:
            return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text), "big")
    except OSError:
        pass
    raise ValueError(text)


def address(word: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        version, num = _ip_int(word)
    except ValueError:
        raise ValueProblem("expected an IPv4 or IPv6 address (natsim does not resolve host names)") from None
    return _IP4(num) if version == 4 else _IP6(num)


def network(word: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """``10.0.0.0/8``, ``10.0.0.1`` (a /32), ``10.0.0.0/255.0.0.0``; host bits are cleared as iptables does."""
    addr, sep, prefix = word.partition("/")
    try:
        version, num = _ip_int(addr)
        if not sep:
            return _NET4((num, 32)) if version == 4 else _NET6((num, 128))
        if prefix.isdigit() and int(prefix) <= (32 if version == 4 else 128):
            cls = _NET4 if version == 4 else _NET6
            return cls((num, int(prefix)), strict=False)
        return ipaddress.ip_network(word, strict=False)  # a dotted netmask
    except ValueError:
        raise ValueProblem(
            "expected an address or network like 10.0.0.0/8 or fd00::/64 (natsim does not resolve host names)"
        ) from None


def address_range(word: str) -> AddressRange:
    lo_s, sep, hi_s = word.partition("-")
    lo = address(lo_s)
    if not sep:
        return _new_address_range(lo, lo)
    hi = address(hi_s)
    if lo.version != hi.version or lo > hi:
        raise ValueProblem("expected an address range FIRST-LAST with FIRST <= LAST")
    return _new_address_range(lo, hi)


def mark_mask(word: str) -> MarkMask:
    value_s, sep, mask_s = word.partition("/")
    value = parse_int(value_s, "a mark value")
    mask = parse_int(mask_s, "a mask") if sep else 0xFFFFFFFF
    return _new_mark_mask(value, mask)


def _flag_set(word: str) -> frozenset[str]:
    out: set[str] = set()
    for name in word.upper().split(","):
        if name == "ALL":
            out.update(TCP_FLAGS)
        elif name == "NONE":
            continue
        elif name in TCP_FLAGS:
            out.add(name)
        else:
            raise ValueProblem("expected TCP flags from FIN,SYN,RST,PSH,ACK,URG,ALL,NONE")
    return frozenset(out)


def tcp_flags(mask: str, comp: str) -> TcpFlags:
    try:
        mask_set = _flag_set(mask)
    except ValueProblem as err:
        raise ValueProblem(err.expected, 0) from None
    try:
        comp_set = _flag_set(comp)
    except ValueProblem as err:
        raise ValueProblem(err.expected, 1) from None
    return TcpFlags(mask_set, comp_set)


def _icmp(word: str, names: dict[str, tuple[int | None, int | None]]) -> IcmpType:
    if word in names:
        return IcmpType(*names[word])
    type_s, sep, code_s = word.partition("/")
    if not type_s.isdigit() or (sep and not code_s.isdigit()):
        raise ValueProblem("expected an ICMP type: a number, TYPE/CODE or a name like echo-request")
    type_, code = int(type_s), (int(code_s) if sep else None)
    if type_ > 255 or (code is not None and code > 255):
        raise ValueProblem("expected an ICMP type and code between 0 and 255")
    return IcmpType(type_, code)


def icmp_type(word: str) -> IcmpType:
    """``--icmp-type``: a number, TYPE/CODE, ``any`` or one of libxt_icmp's names."""
    return _icmp(word, ICMP_TYPES)


def icmp6_type(word: str) -> IcmpType:
    """``--icmpv6-type``: a number, TYPE/CODE or one of libip6t_icmp6's names."""
    return _icmp(word, ICMP6_TYPES)


def nat_range(word: str) -> tuple[NatRange, ...]:
    """``1.2.3.4``, ``1.2.3.4-1.2.3.9:80-90``, ``[fd::1]:80``, ``fd::1``, ``:80``."""
    addr_s, ports_s, port_given = word, "", False
    if word.startswith("["):
        close = word.find("]")
        if close < 0:
            raise ValueProblem("expected [IPV6]:PORT with a closing ']'")
        addr_s, rest = word[1:close], word[close + 1:]
        if rest:
            if not rest.startswith(":"):
                raise ValueProblem("expected ':PORT' after ']'")
            ports_s, port_given = rest[1:], True
    elif word.count(":") == 1:  # IPv4 (or nothing) and a port; IPv6 needs brackets for a port
        addr_s, _, ports_s = word.partition(":")
        port_given = True
    if port_given and not ports_s:
        raise ValueProblem("expected a port after ':'")
    addresses = address_range(addr_s) if addr_s else None
    ports = port_nat(ports_s) if ports_s else None
    if addresses is None and ports is None:
        raise ValueProblem("expected ADDRESS[-ADDRESS][:PORT[-PORT]]")
    return (_new_nat_range(addresses, ports),)


def interface(word: str) -> Interface:
    if len(word) >= IFNAMSIZ:
        raise ValueProblem(f"expected an interface name shorter than {IFNAMSIZ} characters")
    return _new_interface(word)


def str_set(word: str) -> frozenset[str]:
    parts = word.split(",")
    if not all(parts):
        raise ValueProblem("expected a comma list of names")
    return frozenset(p.upper() for p in parts)


def str_list(word: str) -> tuple[str, ...]:
    parts = tuple(word.split(","))
    if not all(parts):
        raise ValueProblem("expected a comma list of names")
    return parts


def set_ref(name: str, flags: str) -> tuple[str, tuple[str, ...]]:
    parts = tuple(flags.split(","))
    if not all(p in ("src", "dst") for p in parts) or not parts:
        raise ValueProblem("expected the set's directions, a comma list of src and dst", 1)
    return (name, parts)


#: What strtod reads as a whole word: a decimal or a C99 hexadecimal float (Python's float()
#: would also take ``1_0``, which strtod stops at).  Infinities and NaN are matched separately.
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_HEX_FLOAT = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][+-]?\d+)?\Z")


def number_str(word: str) -> str:
    """``--probability P``: what libxt_statistic accepts (strtod, 0 <= P <= 1), kept as written.

    NaN passes iptables' range check but what lround() then stores is undefined, so natsim
    refuses it (docs/decisions/0150-*).  A hexadecimal float is kept as its decimal value.
    """
    what = "expected a probability between 0 and 1"
    if _DECIMAL.match(word):
        value = float(word)
    elif _HEX_FLOAT.match(word):
        try:
            value = float.fromhex(word)
        except (ValueError, OverflowError):
            raise ValueProblem(what) from None
        word = repr(value)
    else:
        raise ValueProblem(what)
    if not 0.0 <= value <= 1.0:  # also refuses an overflow to infinity (1e400)
        raise ValueProblem(what)
    return word


def _str(word: str) -> str:
    return word


# -- refined kinds (natsim.model.options.REFINES; docs/decisions/0151-*) -----------------------

def uint(lo: int, hi: int, what: str) -> Callable[[str], int]:
    """A converter of numbers strtoul reads (decimal, 0x-hex, 0-octal) from ``lo`` to ``hi``."""
    expected = f"expected {what} between {lo} and {hi}"

    def convert(word: str) -> int:
        try:
            value = parse_int(word, what, hi)
        except ValueProblem:
            raise ValueProblem(expected) from None
        if value < lo:
            raise ValueProblem(expected)
        return value

    return convert


def _abbreviated(item: str, choices: tuple[str, ...]) -> str | None:
    """The first choice ``item`` is a case-insensitive prefix of (strncasecmp over len(item))."""
    if not item:
        return None
    low = item.lower()
    for choice in choices:
        if choice.lower().startswith(low):
            return choice
    return None


def name_set(choices: tuple[str, ...], what: str) -> Callable[[str], frozenset[str]]:
    """A converter of comma lists of ``choices`` as libxt_conntrack/state/addrtype read them."""
    expected = f"expected a comma list of {what} ({', '.join(choices)}, or a prefix of one)"

    def convert(word: str) -> frozenset[str]:
        out = set()
        for item in word.split(","):
            name = _abbreviated(item, choices)
            if name is None:
                raise ValueProblem(expected)
            out.add(name)
        return frozenset(out)

    return convert


def choice(choices: tuple[str, ...], fold_case: bool = False) -> Callable[[str], str]:
    """A converter of one of ``choices``, spelled exactly (strcmp) or without case (strcasecmp)."""
    expected = "expected " + " or ".join(choices)

    def convert(word: str) -> str:
        key = word.upper() if fold_case else word
        if key not in choices:
            raise ValueProblem(expected)
        return key

    return convert


def tos(word: str) -> MarkMask:
    """``--tos``: ``V`` or ``V/M`` (bytes; a lone V compares the whole byte) or a symbolic name."""
    value_s, sep, mask_s = word.partition("/")
    try:
        value = parse_int(value_s, "a TOS value", 0xFF)
    except ValueProblem:
        if sep or word.lower() not in names.TOS_NAMES:
            raise ValueProblem("expected a TOS value 0..0xff[/MASK] or a name like Minimize-Delay") from None
        return _new_mark_mask(names.TOS_NAMES[word.lower()], 0x3F)
    mask = parse_int(mask_s, "a TOS mask", 0xFF) if sep else 0xFF
    return _new_mark_mask(value, mask)


def dscp_class(word: str) -> str:
    """``--dscp-class``: the first class the word starts with, without case (``af11`` is AF11)."""
    low = word.lower()
    for name, _code in names.DSCP_CLASS_ORDER:
        if low.startswith(name.lower()):
            return name
    raise ValueProblem("expected a DiffServ class (CS0..CS7, BE, AF11..AF43, EF)")


def rate(word: str) -> str:
    """``--limit``: what libxt_limit's parse_rate accepts (see normalize.limit_period), kept as written."""
    if limit_period(word) is None:
        raise ValueProblem("expected a rate N/UNIT with 1 <= N and UNIT second, minute, hour or day "
                           "(at most 10000/second)")
    return word


def log_level(word: str) -> str:
    """``--log-level``: 0..7 (strtoul) or a syslog name, spelled in lower case; kept as its number."""
    level = names.LOG_LEVELS.get(word)
    if level is None:
        try:
            level = parse_int(word, "a log level", 7)
        except ValueProblem:
            raise ValueProblem("expected a log level 0..7 or emerg, alert, crit, err, warning, notice, "
                               "info, debug") from None
    return str(level)


_MAC_BYTE = re.compile(r"(?:[0-9a-fA-F]{1,2}|[+\-\s][0-9a-fA-F])?\Z")


def mac(word: str) -> str:
    """``--mac-source``: six ':'-separated bytes as libxtables reads them (strtoul base 16, at
    most two characters each, an empty one is 0), printed as iptables-save does (``%02x``).

    A word iptables refuses is still kept as written, as before: fixtures/corpus/fffuu-tum-net-*
    holds 1653 redacted ``XX:XX:XX:XX:XX:XX`` (docs/decisions/0151-*, left open).
    """
    parts = word.split(":")
    if len(parts) != 6 or not all(_MAC_BYTE.match(p) for p in parts):
        return word
    return ":".join(f"{(int(p, 16) if p else 0) & 0xFF:02x}" for p in parts)


def reject_with(word: str, family: int | None) -> str:
    """``--reject-with``: the first (name, alias) the word abbreviates (without case), per family.

    A word that means different replies to iptables and ip6tables (``icmp``, ``""``) is refused
    while the ruleset's family is not known yet; ``port-unreach`` (the default in both) is kept.
    """
    v4, v6 = _reject_name(word, names.REJECT_TYPES4), _reject_name(word, names.REJECT_TYPES6)
    if family == 4 or (family is None and v6 is None):
        if v4 is None:
            raise ValueProblem("expected an IPv4 reject type such as icmp-port-unreachable or tcp-reset")
        return v4
    if family == 6 or v4 is None:
        if v6 is None:
            raise ValueProblem("expected an IPv6 reject type such as icmp6-port-unreachable or tcp-reset")
        return v6
    if v4 == v6:
        return v4
    if (v4, v6) == ("icmp-port-unreachable", "icmp6-port-unreachable"):
        return "port-unreach"  # the default of both families (natsim stores it as None)
    raise ValueProblem(f"expected a reject type of one family (iptables reads this as {v4}, ip6tables as {v6})")


def _reject_name(word: str, table: tuple[tuple[str, str], ...]) -> str | None:
    low = word.lower()
    for name, alias in table:
        if name.startswith(low) or alias.startswith(low):
            return name
    return None


#: TCPMSS --set-mss: at most 65535 less the minimal IP header (libxt_TCPMSS: 0-65515 / 0-65495).
_MSS_MAX = {4: 65535 - 20, 6: 65535 - 40}


def mss(word: str, family: int | None) -> int:
    """``--set-mss``: 0..65515 (IPv4) or 0..65495 (IPv6); the IPv4 bound while the family is unknown."""
    return uint(0, _MSS_MAX[family or 4], "an MSS")(word)


#: kind -> converter taking the option's value words.
CONVERTERS: dict[str, Callable[..., object]] = {
    "int": parse_int,
    "str": _str,
    "port": parse_port,
    "port_range": port_range,
    "port_list": port_list,
    "str_set": str_set,
    "str_list": str_list,
    "network": network,
    "address": address,
    "address_range": address_range,
    "mark_mask": mark_mask,
    "tcp_flags": tcp_flags,
    "icmp_type": icmp_type,
    "icmp6_type": icmp6_type,
    "nat_range": nat_range,
    "port_nat": port_nat,
    "number_str": number_str,
    "interface": interface,
    "set_ref": set_ref,
    "ctstate": name_set(names.CT_STATES, "conntrack states"),
    "state": name_set(names.STATES, "states"),
    "ctstatus": name_set(names.CT_STATUSES, "conntrack statuses"),
    "addrtype": name_set(names.ADDR_TYPES, "address types"),
    "ctdir": choice(("ORIGINAL", "REPLY"), fold_case=True),
    "stat_mode": choice(("random", "nth")),
    "policy_dir": choice(("in", "out")),
    "policy_pol": choice(("none", "ipsec")),
    "policy_mode": choice(("transport", "tunnel")),
    "u8": uint(0, 0xFF, "a number"),
    "u16": uint(0, 0xFFFF, "a number"),
    "dscp": uint(0, 63, "a DSCP value"),
    "every": uint(1, 0xFFFFFFFF, "a count"),
    "burst": uint(1, 10000, "a burst (the kernel refuses 0)"),
    "tos": tos,
    "dscp_class": dscp_class,
    "rate": rate,
    "log_level": log_level,
    "mac": mac,
    "c_port_range": c_port_range,
}

#: Kinds whose reading depends on the ruleset's family: kind -> converter(word, family or None).
FAMILY_CONVERTERS: dict[str, Callable[[str, int | None], object]] = {
    "reject_with": reject_with,
    "mss": mss,
}

#: Kinds whose values carry an IP address, so the ruleset's family must agree.
ADDRESS_KINDS = frozenset({"network", "address", "address_range", "nat_range"})
#: Kinds some of whose values only one family accepts (the parser checks them like addresses).
FAMILY_KINDS = ADDRESS_KINDS | {"reject_with", "mss"}


def family_of(kind: str, value: object) -> int | None:
    """The address family a value of an address kind implies (None: none)."""
    if kind in ("network", "address"):
        return value.version  # type: ignore[attr-defined]
    if kind == "address_range":
        return value.lo.version  # type: ignore[attr-defined]
    if kind == "nat_range":
        first = value[0].addresses  # type: ignore[index]
        return first.lo.version if first is not None else None
    if kind == "reject_with":
        return 6 if value.startswith("icmp6-") else 4 if value.startswith("icmp-") else None  # type: ignore[attr-defined]
    if kind == "mss":
        return 4 if value > _MSS_MAX[6] else None  # type: ignore[operator]
    return None
