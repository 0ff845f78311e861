"""What the engine walks: a packet, its connection's conntrack entry, and where it is.

Immutable: each hook that changes a packet (NAT, MARK) returns a new one, so a trace
can show the packet before and after every step.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, fields
from typing import Literal

from natsim.model.construct import fast_init
from natsim.model.values import IPAddress

Proto = Literal["tcp", "udp", "sctp", "icmp", "icmpv6"]


@fast_init
@dataclass(frozen=True, slots=True)
class Tuple5:
    """A conntrack tuple: what identifies one direction of a connection."""

    src: IPAddress
    dst: IPAddress
    proto: str
    sport: int | None = None  # None for ICMP (the id is folded into sport by conntrack; we do not need it)
    dport: int | None = None

    def inverted(self) -> "Tuple5":
        return Tuple5(self.dst, self.src, self.proto, self.dport, self.sport)

    def __hash__(self) -> int:
        # conntrack looks tuples up at every hook; an address's own hash formats it as hex text each time
        try:
            return hash((self.src._ip, self.dst._ip, self.proto, self.sport, self.dport))
        except AttributeError:  # an address not chosen yet (None)
            return hash((self.src, self.dst, self.proto, self.sport, self.dport))


@fast_init
@dataclass(frozen=True, slots=True)
class Conn:
    """A conntrack entry as the packet sees it (``-m conntrack``/``-m state`` read this).

    ``state`` is the ctstate of *this* packet: NEW, ESTABLISHED, RELATED, INVALID, UNTRACKED.
    ``status`` holds SNAT/DNAT once a NAT binding exists (``--ctstate SNAT/DNAT`` and ``--ctstatus``).
    ``reply`` is the expected reply tuple after NAT bindings were made.
    """

    state: str
    original: Tuple5
    reply: Tuple5
    status: frozenset[str] = frozenset()
    is_reply: bool = False  # this packet travels in the reply direction (--ctdir REPLY)
    mark: int = 0  # connmark


@fast_init
@dataclass(frozen=True)
class Packet:
    family: int  # 4 or 6
    src: IPAddress
    dst: IPAddress
    proto: str  # "tcp", "udp", "sctp", "icmp", "icmpv6" (or a number as text)
    sport: int | None = None
    dport: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    tcp_flags: frozenset[str] = frozenset({"SYN"})
    length: int = 60
    mark: int = 0
    in_iface: str | None = None  # -i: the interface it arrived on (None when locally generated)
    out_iface: str | None = None  # -o: chosen by routing (None before routing)
    physdev_in: str | None = None  # bridge port it arrived on, when bridged/bridge-netfilter
    physdev_out: str | None = None
    bridged: bool = False  # travelling through br_netfilter (physdev-is-bridged)
    conn: Conn | None = None
    src_mac: str | None = None
    pkt_type: str = "unicast"
    #: For an ICMP error (or a REJECT's RST): the tuple of the packet it answers, as sent by the client
    #: side; conntrack finds the connection through it and treats the error as RELATED.
    related_to: Tuple5 | None = None

    def with_(self, **changes: object) -> "Packet":
        """A copy with some fields changed (a fast ``dataclasses.replace``: the walk makes many)."""
        if not _FIELD_SET.issuperset(changes):
            raise TypeError(f"Packet has no field {sorted(set(changes) - _FIELD_SET)[0]!r}")
        new = object.__new__(Packet)
        d = new.__dict__
        d.update(self.__dict__)
        d.update(changes)
        return new

    def tuple(self) -> Tuple5:
        return Tuple5(self.src, self.dst, self.proto, self.sport, self.dport)

    def __str__(self) -> str:
        s = f"{self.proto} {endpoint(self.src, self.sport)} -> {endpoint(self.dst, self.dport)}"
        if self.proto in ("icmp", "icmpv6") and self.icmp_type is not None:
            s += f" type {self.icmp_type}"
        ifs = []
        if self.in_iface:
            ifs.append(f"in={self.in_iface}")
        if self.out_iface:
            ifs.append(f"out={self.out_iface}")
        if self.mark:
            ifs.append(f"mark={self.mark:#x}")
        if self.conn is not None:
            ifs.append(f"ct={self.conn.state}")
        return s + (f" ({' '.join(ifs)})" if ifs else "")


_FIELD_SET = frozenset(f.name for f in fields(Packet))


_TEXT: dict[IPAddress, str] = {}


def address_text(a: IPAddress | None) -> str:
    """``str(a)``, remembered: the walk writes the same few addresses into thousands of notes."""
    if a is None:
        return "?"
    t = _TEXT.get(a)
    if t is None:
        if len(_TEXT) > 65536:
            _TEXT.clear()
        t = _TEXT[a] = str(a)
    return t


def endpoint(a: IPAddress | None, port: int | None) -> str:
    """``addr:port`` (``[addr]:port`` for IPv6); the address alone without a port; ``?`` for no address."""
    if port is None:
        return address_text(a)
    return f"[{address_text(a)}]:{port}" if a is not None and a.version == 6 else f"{address_text(a)}:{port}"


def address(text: str) -> IPAddress:
    return ipaddress.ip_address(text)
