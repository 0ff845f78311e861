"""Typed match modules (``-m NAME ...``): one frozen dataclass per iptables module.

Only syntax lives here (via :func:`option` specs); what a match *means* for a packet
is in ``natsim.engine.matches``, one function per class.  A module natsim does not
know is kept verbatim as :class:`UnknownMatch`, never dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from natsim.model.options import option
from natsim.model.values import (
    AddressRange,
    IPAddress,
    IPNetwork,
    MarkMask,
    Neg,
    PortRange,
)


class Match:
    """Base of all match modules.  ``module`` is the ``-m`` name as iptables-save prints it."""

    __slots__ = ()
    module: ClassVar[str]


MATCHES: dict[str, type[Match]] = {}


def match_module(name: str, *aliases: str):
    """Register a match class under its ``-m`` name (and any aliases the kernel tools accept)."""

    def register(cls: type[Match]) -> type[Match]:
        cls.module = name
        for key in (name, *aliases):
            MATCHES[key] = cls
        return cls

    return register


@dataclass(frozen=True, slots=True)
class TcpFlags:
    """``--tcp-flags MASK COMP``: the flags in ``mask`` are examined, those in ``comp`` must be set."""

    mask: frozenset[str]
    comp: frozenset[str]


@dataclass(frozen=True, slots=True)
class IcmpType:
    """``--icmp-type 8/0``; ``type_`` None means ``any``; ``code`` None means any code."""

    type_: int | None
    code: int | None = None


@match_module("tcp")
@dataclass(frozen=True, slots=True)
class Tcp(Match):
    sport: Neg[PortRange] | None = option("--sport", "--source-port", kind="port_range", refined="c_port_range")
    dport: Neg[PortRange] | None = option("--dport", "--destination-port", kind="port_range", refined="c_port_range")
    flags: Neg[TcpFlags] | None = option("--tcp-flags", kind="tcp_flags")  # --syn is parsed into this
    tcp_option: Neg[int] | None = option("--tcp-option", kind="int", refined="u8")


@match_module("udp")
@dataclass(frozen=True, slots=True)
class Udp(Match):
    sport: Neg[PortRange] | None = option("--sport", "--source-port", kind="port_range")
    dport: Neg[PortRange] | None = option("--dport", "--destination-port", kind="port_range")


@match_module("udplite")
@dataclass(frozen=True, slots=True)
class UdpLite(Match):
    sport: Neg[PortRange] | None = option("--sport", "--source-port", kind="port_range")
    dport: Neg[PortRange] | None = option("--dport", "--destination-port", kind="port_range")


@match_module("sctp")
@dataclass(frozen=True, slots=True)
class Sctp(Match):
    sport: Neg[PortRange] | None = option("--sport", "--source-port", kind="port_range", refined="c_port_range")
    dport: Neg[PortRange] | None = option("--dport", "--destination-port", kind="port_range", refined="c_port_range")
    chunk_types: Neg[str] | None = option("--chunk-types", kind="str")  # kept as written


@match_module("dccp")
@dataclass(frozen=True, slots=True)
class Dccp(Match):
    sport: Neg[PortRange] | None = option("--sport", "--source-port", kind="port_range")
    dport: Neg[PortRange] | None = option("--dport", "--destination-port", kind="port_range")


@match_module("icmp")
@dataclass(frozen=True, slots=True)
class Icmp(Match):
    icmp_type: Neg[IcmpType] | None = option("--icmp-type", kind="icmp_type")


@match_module("icmp6", "icmpv6", "ipv6-icmp")
@dataclass(frozen=True, slots=True)
class Icmp6(Match):
    icmp_type: Neg[IcmpType] | None = option("--icmpv6-type", kind="icmp6_type")  # ICMPv6 names


@match_module("multiport")
@dataclass(frozen=True, slots=True)
class Multiport(Match):
    sports: Neg[tuple[PortRange, ...]] | None = option("--sports", "--source-ports", kind="port_list")
    dports: Neg[tuple[PortRange, ...]] | None = option("--dports", "--destination-ports", kind="port_list")
    ports: Neg[tuple[PortRange, ...]] | None = option("--ports", kind="port_list")


@match_module("conntrack")
@dataclass(frozen=True, slots=True)
class Conntrack(Match):
    ctstate: Neg[frozenset[str]] | None = option("--ctstate", kind="str_set", refined="ctstate")
    ctproto: Neg[str] | None = option("--ctproto", kind="str")
    ctorigsrc: Neg[IPNetwork] | None = option("--ctorigsrc", kind="network")
    ctorigdst: Neg[IPNetwork] | None = option("--ctorigdst", kind="network")
    ctreplsrc: Neg[IPNetwork] | None = option("--ctreplsrc", kind="network")
    ctrepldst: Neg[IPNetwork] | None = option("--ctrepldst", kind="network")
    ctorigsrcport: Neg[PortRange] | None = option("--ctorigsrcport", kind="port_range")
    ctorigdstport: Neg[PortRange] | None = option("--ctorigdstport", kind="port_range")
    ctreplsrcport: Neg[PortRange] | None = option("--ctreplsrcport", kind="port_range")
    ctrepldstport: Neg[PortRange] | None = option("--ctrepldstport", kind="port_range")
    ctstatus: Neg[frozenset[str]] | None = option("--ctstatus", kind="str_set", refined="ctstatus")
    ctexpire: Neg[PortRange] | None = option("--ctexpire", kind="port_range")
    ctdir: str | None = option("--ctdir", kind="str", negatable=False, refined="ctdir")


@match_module("state")
@dataclass(frozen=True, slots=True)
class State(Match):
    state: Neg[frozenset[str]] | None = option("--state", kind="str_set", refined="state")


@match_module("addrtype")
@dataclass(frozen=True, slots=True)
class AddrType(Match):
    src_type: Neg[frozenset[str]] | None = option("--src-type", kind="str_set", refined="addrtype")
    dst_type: Neg[frozenset[str]] | None = option("--dst-type", kind="str_set", refined="addrtype")
    limit_iface_in: bool | None = option("--limit-iface-in", kind="flag", negatable=False)
    limit_iface_out: bool | None = option("--limit-iface-out", kind="flag", negatable=False)


@match_module("comment")
@dataclass(frozen=True, slots=True)
class Comment(Match):
    comment: str | None = option("--comment", kind="str", negatable=False)


@match_module("mark")
@dataclass(frozen=True, slots=True)
class Mark(Match):
    mark: Neg[MarkMask] | None = option("--mark", kind="mark_mask")


@match_module("connmark")
@dataclass(frozen=True, slots=True)
class Connmark(Match):
    mark: Neg[MarkMask] | None = option("--mark", kind="mark_mask")


@match_module("physdev")
@dataclass(frozen=True, slots=True)
class Physdev(Match):
    physdev_in: Neg[str] | None = option("--physdev-in", kind="interface")
    physdev_out: Neg[str] | None = option("--physdev-out", kind="interface")
    is_in: Neg[bool] | None = option("--physdev-is-in", kind="flag")
    is_out: Neg[bool] | None = option("--physdev-is-out", kind="flag")
    is_bridged: Neg[bool] | None = option("--physdev-is-bridged", kind="flag")


@match_module("iprange")
@dataclass(frozen=True, slots=True)
class IpRange(Match):
    src_range: Neg[AddressRange] | None = option("--src-range", kind="address_range")
    dst_range: Neg[AddressRange] | None = option("--dst-range", kind="address_range")


@match_module("set")
@dataclass(frozen=True, slots=True)
class Set(Match):
    """``-m set [!] --match-set NAME src[,dst...]``; the set's contents come from ``ipset save``."""

    match_set: Neg[tuple[str, tuple[str, ...]]] | None = option("--match-set", kind="set_ref")
    return_nomatch: bool | None = option("--return-nomatch", kind="flag", negatable=False)
    update_counters: Neg[bool] | None = option("--update-counters", kind="flag")
    update_subcounters: Neg[bool] | None = option("--update-subcounters", kind="flag")
    packets_eq: Neg[int] | None = option("--packets-eq", kind="int")
    packets_lt: int | None = option("--packets-lt", kind="int", negatable=False)
    packets_gt: int | None = option("--packets-gt", kind="int", negatable=False)
    bytes_eq: Neg[int] | None = option("--bytes-eq", kind="int")
    bytes_lt: int | None = option("--bytes-lt", kind="int", negatable=False)
    bytes_gt: int | None = option("--bytes-gt", kind="int", negatable=False)


@match_module("statistic")
@dataclass(frozen=True, slots=True)
class Statistic(Match):
    mode: str | None = option("--mode", kind="str", negatable=False, refined="stat_mode")
    probability: Neg[str] | None = option("--probability", kind="number_str")
    every: Neg[int] | None = option("--every", kind="int", refined="every")
    packet: int | None = option("--packet", kind="int", negatable=False)


@match_module("mac")
@dataclass(frozen=True, slots=True)
class Mac(Match):
    mac_source: Neg[str] | None = option("--mac-source", kind="str", refined="mac")


@match_module("limit")
@dataclass(frozen=True, slots=True)
class Limit(Match):
    limit: str | None = option("--limit", kind="str", negatable=False, refined="rate")
    limit_burst: int | None = option("--limit-burst", kind="int", negatable=False, refined="burst")


@match_module("recent")
@dataclass(frozen=True, slots=True)
class Recent(Match):
    set_: Neg[bool] | None = option("--set", kind="flag")
    rcheck: Neg[bool] | None = option("--rcheck", kind="flag")
    update: Neg[bool] | None = option("--update", kind="flag")
    remove: Neg[bool] | None = option("--remove", kind="flag")
    seconds: int | None = option("--seconds", kind="int", negatable=False)
    reap: bool | None = option("--reap", kind="flag", negatable=False)
    hitcount: int | None = option("--hitcount", kind="int", negatable=False)
    rttl: bool | None = option("--rttl", kind="flag", negatable=False)
    name: str | None = option("--name", kind="str", negatable=False)
    mask: IPAddress | None = option("--mask", kind="address", negatable=False)
    rsource: bool | None = option("--rsource", kind="flag", negatable=False)
    rdest: bool | None = option("--rdest", kind="flag", negatable=False)


@match_module("owner")
@dataclass(frozen=True, slots=True)
class Owner(Match):
    uid_owner: Neg[str] | None = option("--uid-owner", kind="str")
    gid_owner: Neg[str] | None = option("--gid-owner", kind="str")
    suppl_groups: bool | None = option("--suppl-groups", kind="flag", negatable=False)
    socket_exists: Neg[bool] | None = option("--socket-exists", kind="flag")


@match_module("pkttype")
@dataclass(frozen=True, slots=True)
class PktType(Match):
    pkt_type: Neg[str] | None = option("--pkt-type", kind="str")


@match_module("length")
@dataclass(frozen=True, slots=True)
class Length(Match):
    length: Neg[PortRange] | None = option("--length", kind="port_range")


@match_module("dscp")
@dataclass(frozen=True, slots=True)
class Dscp(Match):
    dscp: Neg[int] | None = option("--dscp", kind="int", refined="dscp")
    dscp_class: Neg[str] | None = option("--dscp-class", kind="str", refined="dscp_class")


@match_module("tos")
@dataclass(frozen=True, slots=True)
class Tos(Match):
    tos: Neg[MarkMask] | None = option("--tos", kind="mark_mask", refined="tos")


@match_module("policy")
@dataclass(frozen=True, slots=True)
class Policy(Match):
    dir: str | None = option("--dir", kind="str", negatable=False, refined="policy_dir")
    pol: str | None = option("--pol", kind="str", negatable=False, refined="policy_pol")
    strict: bool | None = option("--strict", kind="flag", negatable=False)
    reqid: Neg[int] | None = option("--reqid", kind="int")
    spi: Neg[int] | None = option("--spi", kind="int")
    proto: Neg[str] | None = option("--proto", kind="str")
    mode: Neg[str] | None = option("--mode", kind="str", refined="policy_mode")
    tunnel_src: Neg[IPNetwork] | None = option("--tunnel-src", kind="network")
    tunnel_dst: Neg[IPNetwork] | None = option("--tunnel-dst", kind="network")
    next: bool | None = option("--next", kind="flag", negatable=False)


@match_module("rpfilter")
@dataclass(frozen=True, slots=True)
class Rpfilter(Match):
    loose: bool | None = option("--loose", kind="flag", negatable=False)
    validmark: bool | None = option("--validmark", kind="flag", negatable=False)
    accept_local: bool | None = option("--accept-local", kind="flag", negatable=False)
    invert: bool | None = option("--invert", kind="flag", negatable=False)


@match_module("socket")
@dataclass(frozen=True, slots=True)
class Socket(Match):
    transparent: bool | None = option("--transparent", kind="flag", negatable=False)
    nowildcard: bool | None = option("--nowildcard", kind="flag", negatable=False)
    restore_skmark: bool | None = option("--restore-skmark", kind="flag", negatable=False)


@dataclass(frozen=True, slots=True)
class UnknownMatch(Match):
    """A module natsim has no semantics for, kept word for word.

    ``args`` are the words after ``-m NAME`` up to the next module or target,
    exactly as written (``!`` included).  The engine treats such a match as
    *unknown*: the verdict then depends on it and says so.
    """

    name: str
    args: tuple[str, ...] = ()

    @property
    def module(self) -> str:  # type: ignore[override]
        return self.name
