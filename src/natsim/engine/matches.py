"""What each match module means for a packet: one function per class of ``natsim.model.matches``.

Each function takes the match, the packet and the :class:`Env` of the hook being walked,
and returns True, False or an :class:`Unknown` naming the missing fact.  ``-m statistic``
returns a :class:`Chance`: the walker branches on it and reports each outcome with its
probability.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from natsim.engine.packet import Packet
from natsim.engine.tri import Tri, Unknown, negate_if
from natsim.model import matches as m
from natsim.model.ruleset import IpSets
from natsim.model.values import Interface, IPAddress, Neg


class Env(Protocol):
    """What a match may ask about the place it runs: the namespace, the hook, the ipsets."""

    hook: str
    family: int
    ipsets: IpSets | None

    def addr_type(self, address: IPAddress, dev: str | None) -> str: ...

    def rpfilter(self, packet: Packet, loose: bool) -> Tri: ...


@dataclass(frozen=True, slots=True)
class Chance:
    """A match that holds with a probability (``-m statistic``)."""

    probability: float
    text: str


MatchFn = Callable[[Any, Packet, Env], "Tri | Chance"]
MATCH_SEMANTICS: dict[type, MatchFn] = {}

PROTO_NUMBERS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132, "udplite": 136,
                 "dccp": 33, "gre": 47, "esp": 50, "ah": 51}
TCP_ALL = frozenset({"FIN", "SYN", "RST", "PSH", "ACK", "URG"})


def semantics(cls: type) -> Callable[[MatchFn], MatchFn]:
    def register(fn: MatchFn) -> MatchFn:
        MATCH_SEMANTICS[cls] = fn
        return fn

    return register


_PROTO_CACHE: dict[str, int | None] = {}


def proto_number(name: str) -> int | None:
    got = _PROTO_CACHE.get(name, -1)
    if got != -1:
        return got  # type: ignore[return-value]
    low = name.lower()
    value = int(low) if low.isdigit() else PROTO_NUMBERS.get(low)
    _PROTO_CACHE[name] = value
    return value


def protocol_matches(rule_proto: str, packet_proto: str) -> bool:
    """``-p`` as the kernel compares it: by number; ``all``/``0`` matches anything."""
    if rule_proto in ("all", "0"):
        return True
    return proto_number(rule_proto) == proto_number(packet_proto)


def _neg(opt: Neg[Any] | None, test: Callable[[Any], Tri]) -> Tri:
    if opt is None:
        return True
    return negate_if(test(opt.value), opt.negated)


def _in_ranges(port: int | None, ranges: Any) -> bool:
    if port is None:
        return False
    if isinstance(ranges, tuple):
        return any(port in r for r in ranges)
    return port in ranges


def _ports(mt: Any, packet: Packet, proto: str) -> Tri:
    if packet.proto != proto:
        return False
    return _neg(mt.sport, lambda r: _in_ranges(packet.sport, r)) is True and _neg(
        mt.dport, lambda r: _in_ranges(packet.dport, r)
    ) is True


def iface_matches(value: object, name: str | None) -> bool:
    if isinstance(value, Interface):
        return value.matches(name)
    return Interface(str(value)).matches(name)


@semantics(m.Tcp)
def _tcp(mt: m.Tcp, p: Packet, env: Env) -> Tri:
    if not _ports(mt, p, "tcp"):
        return False
    if mt.flags is not None:
        def flags_ok(f: m.TcpFlags) -> bool:
            mask = _expand_flags(f.mask)
            return (p.tcp_flags & mask) == (_expand_flags(f.comp) & mask)

        if _neg(mt.flags, flags_ok) is False:
            return False
    if mt.tcp_option is not None:
        return Unknown(f"-m tcp --tcp-option {mt.tcp_option.value}: TCP options of the packet are not modelled")
    return True


def _expand_flags(flags: frozenset[str]) -> frozenset[str]:
    out: set[str] = set()
    for f in flags:
        f = f.upper()
        if f == "ALL":
            out |= TCP_ALL
        elif f != "NONE":
            out.add(f)
    return frozenset(out)


@semantics(m.Udp)
def _udp(mt: m.Udp, p: Packet, env: Env) -> Tri:
    return _ports(mt, p, "udp")


@semantics(m.UdpLite)
def _udplite(mt: m.UdpLite, p: Packet, env: Env) -> Tri:
    return _ports(mt, p, "udplite")


@semantics(m.Dccp)
def _dccp(mt: m.Dccp, p: Packet, env: Env) -> Tri:
    return _ports(mt, p, "dccp")


@semantics(m.Sctp)
def _sctp(mt: m.Sctp, p: Packet, env: Env) -> Tri:
    if not _ports(mt, p, "sctp"):
        return False
    if mt.chunk_types is not None:
        return Unknown(f"-m sctp --chunk-types {mt.chunk_types.value}: SCTP chunks are not modelled")
    return True


def _icmp_type(opt: Neg[m.IcmpType] | None, p: Packet, protos: tuple[str, ...]) -> Tri:
    if p.proto not in protos:
        return False

    def test(t: m.IcmpType) -> bool:
        if t.type_ is None:
            return True
        return p.icmp_type == t.type_ and (t.code is None or p.icmp_code == t.code)

    return _neg(opt, test)


@semantics(m.Icmp)
def _icmp(mt: m.Icmp, p: Packet, env: Env) -> Tri:
    return _icmp_type(mt.icmp_type, p, ("icmp",))


@semantics(m.Icmp6)
def _icmp6(mt: m.Icmp6, p: Packet, env: Env) -> Tri:
    return _icmp_type(mt.icmp_type, p, ("icmpv6", "ipv6-icmp"))


@semantics(m.Multiport)
def _multiport(mt: m.Multiport, p: Packet, env: Env) -> Tri:
    if p.sport is None and p.dport is None:
        return False
    if _neg(mt.sports, lambda r: _in_ranges(p.sport, r)) is False:
        return False
    if _neg(mt.dports, lambda r: _in_ranges(p.dport, r)) is False:
        return False
    return _neg(mt.ports, lambda r: _in_ranges(p.sport, r) or _in_ranges(p.dport, r))


def ct_states(p: Packet) -> frozenset[str]:
    """The states ``--ctstate`` sees: the packet's state plus the DNAT/SNAT virtual states."""
    c = p.conn
    if c is None:
        return frozenset({"INVALID"})
    states = {c.state}
    if c.state != "UNTRACKED":
        if c.original.dst != c.reply.src or c.original.dport != c.reply.sport:
            states.add("DNAT")
        if c.original.src != c.reply.dst or c.original.sport != c.reply.dport:
            states.add("SNAT")
    return frozenset(states)


@semantics(m.Conntrack)
def _conntrack(mt: m.Conntrack, p: Packet, env: Env) -> Tri:
    c = p.conn
    if mt.ctstate is not None and _neg(mt.ctstate, lambda s: bool(s & ct_states(p))) is False:
        return False
    if c is None or c.state == "UNTRACKED":
        # Only --ctstate can match an untracked packet; every other option needs an entry.
        others = [mt.ctproto, mt.ctorigsrc, mt.ctorigdst, mt.ctreplsrc, mt.ctrepldst, mt.ctstatus,
                  mt.ctorigsrcport, mt.ctorigdstport, mt.ctreplsrcport, mt.ctrepldstport, mt.ctexpire, mt.ctdir]
        return all(o is None for o in others)
    o, r = c.original, c.reply
    checks: list[Tri] = [
        _neg(mt.ctproto, lambda v: protocol_matches(v, o.proto)),
        _neg(mt.ctorigsrc, lambda n: o.src in n),
        _neg(mt.ctorigdst, lambda n: o.dst in n),
        _neg(mt.ctreplsrc, lambda n: r.src in n),
        _neg(mt.ctrepldst, lambda n: r.dst in n),
        _neg(mt.ctorigsrcport, lambda pr: o.sport in pr),
        _neg(mt.ctorigdstport, lambda pr: o.dport in pr),
        _neg(mt.ctreplsrcport, lambda pr: r.sport in pr),
        _neg(mt.ctrepldstport, lambda pr: r.dport in pr),
        _neg(mt.ctstatus, lambda s: bool(s & _ct_status(p)) or ("NONE" in s and not _ct_status(p))),
    ]
    if mt.ctexpire is not None:
        checks.append(Unknown("-m conntrack --ctexpire: conntrack timeouts are not modelled"))
    if mt.ctdir is not None:
        checks.append((mt.ctdir.upper() == "REPLY") == c.is_reply)
    for v in checks:
        if v is False:
            return False
    return next((v for v in checks if isinstance(v, Unknown)), True)


def _ct_status(p: Packet) -> frozenset[str]:
    c = p.conn
    if c is None:
        return frozenset()
    out = set(c.status & {"SEEN_REPLY", "ASSURED", "CONFIRMED", "EXPECTED"})
    return frozenset(out)


@semantics(m.State)
def _state(mt: m.State, p: Packet, env: Env) -> Tri:
    state = p.conn.state if p.conn is not None else "INVALID"
    return _neg(mt.state, lambda s: state in s)


@semantics(m.AddrType)
def _addrtype(mt: m.AddrType, p: Packet, env: Env) -> Tri:
    dev: str | None = None
    if mt.limit_iface_in:
        dev = p.in_iface
    elif mt.limit_iface_out:
        dev = p.out_iface
    if _neg(mt.src_type, lambda s: env.addr_type(p.src, dev) in s) is False:
        return False
    return _neg(mt.dst_type, lambda s: env.addr_type(p.dst, dev) in s)


@semantics(m.Comment)
def _comment(mt: m.Comment, p: Packet, env: Env) -> Tri:
    return True


@semantics(m.Mark)
def _mark(mt: m.Mark, p: Packet, env: Env) -> Tri:
    return _neg(mt.mark, lambda mm: mm.matches(p.mark))


@semantics(m.Connmark)
def _connmark(mt: m.Connmark, p: Packet, env: Env) -> Tri:
    mark = p.conn.mark if p.conn is not None else 0
    return _neg(mt.mark, lambda mm: mm.matches(mark))


@semantics(m.Physdev)
def _physdev(mt: m.Physdev, p: Packet, env: Env) -> Tri:
    # Without bridge netfilter the packet carries no bridge-port information at all,
    # and every physdev test is false (xt_physdev.c: "Not a bridged IP packet").
    checks = [
        _neg(mt.physdev_in, lambda v: iface_matches(v, p.physdev_in)),
        _neg(mt.physdev_out, lambda v: iface_matches(v, p.physdev_out)),
        _neg(mt.is_in, lambda v: p.physdev_in is not None),
        _neg(mt.is_out, lambda v: p.physdev_out is not None),
        _neg(mt.is_bridged, lambda v: p.bridged),
    ]
    return all(c is True for c in checks)


@semantics(m.IpRange)
def _iprange(mt: m.IpRange, p: Packet, env: Env) -> Tri:
    if _neg(mt.src_range, lambda r: p.src in r) is False:
        return False
    return _neg(mt.dst_range, lambda r: p.dst in r)


@semantics(m.Set)
def _set(mt: m.Set, p: Packet, env: Env) -> Tri:
    if mt.match_set is None:
        return True
    name, dims = mt.match_set.value
    return negate_if(ipset_contains(env.ipsets, name, dims, p), mt.match_set.negated)


@semantics(m.Statistic)
def _statistic(mt: m.Statistic, p: Packet, env: Env) -> "Tri | Chance":
    if (mt.mode or "random") == "random" and mt.probability is not None:
        prob = float(mt.probability.value)
        if mt.probability.negated:
            return Chance(1.0 - prob, f"! --probability {mt.probability.value}")
        return Chance(prob, f"--probability {mt.probability.value}")
    if mt.mode == "nth" and mt.every is not None:
        prob = 1.0 / mt.every.value
        if mt.every.negated:
            prob = 1.0 - prob
        return Chance(prob, f"--mode nth --every {mt.every.value}")
    return Unknown("-m statistic with these options is not modelled")


@semantics(m.Mac)
def _mac(mt: m.Mac, p: Packet, env: Env) -> Tri:
    if mt.mac_source is None:
        return True
    if p.src_mac is None:
        return Unknown(f"-m mac --mac-source {mt.mac_source.value}: the sender's MAC address is not known")
    return negate_if(p.src_mac.lower() == str(mt.mac_source.value).lower(), mt.mac_source.negated)


@semantics(m.Limit)
def _limit(mt: m.Limit, p: Packet, env: Env) -> Tri:
    return True  # one connection's first packets stay within any rate limit


@semantics(m.Recent)
def _recent(mt: m.Recent, p: Packet, env: Env) -> Tri:
    if mt.set_ is not None and not mt.set_.negated and mt.rcheck is None and mt.update is None:
        return True  # --set only records the address and always matches
    return Unknown(f"-m recent --name {mt.name or 'DEFAULT'}: the recent list's history is not known")


@semantics(m.Owner)
def _owner(mt: m.Owner, p: Packet, env: Env) -> Tri:
    return Unknown("-m owner: the sending process's user/group is not known")


@semantics(m.PktType)
def _pkttype(mt: m.PktType, p: Packet, env: Env) -> Tri:
    return _neg(mt.pkt_type, lambda t: str(t).lower() == p.pkt_type)


@semantics(m.Length)
def _length(mt: m.Length, p: Packet, env: Env) -> Tri:
    return _neg(mt.length, lambda r: p.length in r)


@semantics(m.Dscp)
def _dscp(mt: m.Dscp, p: Packet, env: Env) -> Tri:
    if mt.dscp_class is not None:
        return negate_if(str(mt.dscp_class.value).upper() in ("BE", "CS0"), mt.dscp_class.negated)
    return _neg(mt.dscp, lambda v: v == 0)  # natsim's packets carry DSCP 0


@semantics(m.Tos)
def _tos(mt: m.Tos, p: Packet, env: Env) -> Tri:
    return _neg(mt.tos, lambda mm: mm.matches(0))


@semantics(m.Policy)
def _policy(mt: m.Policy, p: Packet, env: Env) -> Tri:
    # natsim models no IPsec: every packet is "--pol none".
    return (mt.pol or "").lower() == "none"


@semantics(m.Rpfilter)
def _rpfilter(mt: m.Rpfilter, p: Packet, env: Env) -> Tri:
    result = env.rpfilter(p, bool(mt.loose))
    return negate_if(result, bool(mt.invert))


@semantics(m.Socket)
def _socket(mt: m.Socket, p: Packet, env: Env) -> Tri:
    return Unknown("-m socket: which sockets exist on the host is not modelled for this match")


#: IPv6 extension-header matches: each first looks for its header (ipv6_find_hdr) and returns false,
#: whatever its options and their "!", when the packet has none -- and natsim's packets carry none.
EXTENSION_HEADER_MATCHES = frozenset({"rt", "frag", "hbh", "dst"})


@semantics(m.UnknownMatch)
def _unknown(mt: m.UnknownMatch, p: Packet, env: Env) -> Tri:
    if p.family == 6 and mt.name in EXTENSION_HEADER_MATCHES:
        return False
    args = " ".join(mt.args)
    return Unknown(f"-m {mt.name} {args}".rstrip() + f" has no natsim semantics (packet {p.proto} {p.src} -> {p.dst})")


# --------------------------------------------------------------------------- ipsets


def ipset_contains(ipsets: IpSets | None, name: str, dims: tuple[str, ...], p: Packet) -> Tri:
    """``--match-set NAME src,dst``: is the packet's element in the set?"""
    values: list[object] = []
    for i, d in enumerate(dims):
        addr = p.src if d == "src" else p.dst
        port = p.sport if d == "src" else p.dport
        values.append((addr, port))
    shown = ",".join(str(v[0]) for v in values)
    if ipsets is None:
        return Unknown(f"ipset {name} is not known (no ipset save given): does it contain {shown}?")
    s = ipsets.get(name)
    if s is None:
        return Unknown(f"ipset {name} is not in the ipset save: does it contain {shown}?")
    kinds = s.type.split(":", 1)[1].split(",") if ":" in s.type else []
    if s.type.startswith("list:"):
        results = [ipset_contains(ipsets, e.element, dims, p) for e in s.entries]
        if any(r is True for r in results):
            return True
        return next((r for r in results if isinstance(r, Unknown)), False)
    found: Tri = False
    for e in s.entries:
        hit = _entry_matches(s.type, kinds, e.element, values, p)
        if isinstance(hit, Unknown):
            found = hit
            continue
        if hit:
            return "nomatch" not in e.options
    return found


def _entry_matches(settype: str, kinds: list[str], element: str, values: list[Any], p: Packet) -> Tri:
    parts = element.split(",")
    if len(parts) < len(kinds):
        return Unknown(f"ipset element {element!r} of type {settype} is not understood")
    for i, kind in enumerate(kinds):
        part = parts[i]
        val = values[min(i, len(values) - 1)]
        if kind in ("ip", "net"):
            if not _addr_in(val[0], part):
                return False
        elif kind == "port":
            proto, _, port = part.rpartition(":")
            if proto and proto != p.proto:
                return False
            lo, _, hi = port.partition("-")
            try:
                if val[1] is None or not (int(lo) <= val[1] <= int(hi or lo)):
                    return False
            except ValueError:
                return Unknown(f"ipset element {element!r}: port {port!r} is not understood")
        elif kind == "mac":
            return Unknown(f"ipset {settype}: MAC elements are not modelled")
        elif kind == "iface":
            iface = p.in_iface if i == 0 else p.out_iface
            if iface != part.replace("physdev:", ""):
                return False
        else:
            return Unknown(f"ipset type {settype} is not modelled")
    return True


def _addr_in(addr: IPAddress, text: str) -> bool:
    try:
        if "-" in text:
            lo, hi = (ipaddress.ip_address(x) for x in text.split("-", 1))
            return addr.version == lo.version and lo <= addr <= hi  # type: ignore[operator]
        return addr in ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False


def evaluate(match: object, packet: Packet, env: Env) -> "Tri | Chance":
    """The registry lookup; a match class without semantics is unknown, never guessed."""
    fn = MATCH_SEMANTICS.get(type(match))
    if fn is None:
        return Unknown(f"-m {getattr(match, 'module', type(match).__name__)} has no natsim semantics")
    return fn(match, packet, env)
