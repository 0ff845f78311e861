"""What one rule matches, as constraints on the header-space dimensions.

Only matches whose meaning is a plain function of the header are translated; the
rest (marks, ipsets, rate limits, unknown modules ...) are *opaque*.  A rule with an
opaque match has an over-approximated region: fine for "can this rule be reached?",
never used to claim that it decides a packet.  Kernel facts encoded here:

* ``-m tcp``/``udp``/``sctp``/``dccp``/``multiport``/``icmp`` never match a non-first
  fragment, negated options included (``tcp_mt``: ``if (par->fragoff != 0) return false``).
* ``--ctstate`` matches when any of the packet's state bits is listed; SNAT/DNAT are
  extra bits of a tracked connection (``xt_conntrack.c`` ``conntrack_mt``).
* ``--dst-type``/``--src-type`` match the route type of the address (``xt_addrtype.c``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from natsim.audit.space import (
    ADDR_TYPES,
    CT_POINTS,
    PKT_TYPES,
    TCP_FLAG_BITS,
    Constraint,
    Dim,
)
from natsim.model import matches as m
from natsim.model.ruleset import Rule
from natsim.model.values import AddressRange, Interface, Neg

PROTOCOLS = {
    "all": 0, "icmp": 1, "igmp": 2, "ipencap": 4, "tcp": 6, "egp": 8, "udp": 17, "dccp": 33,
    "ipv6": 41, "gre": 47, "esp": 50, "ah": 51, "icmpv6": 58, "ipv6-icmp": 58, "icmp6": 58,
    "ospf": 89, "ipip": 94, "pim": 103, "vrrp": 112, "l2tp": 115, "sctp": 132, "udplite": 136,
}


def protocol_number(name: str) -> int | None:
    """``tcp`` -> 6, ``47`` -> 47; None when the name is not known."""
    key = name.lower()
    if key in PROTOCOLS:
        return PROTOCOLS[key]
    if key.isdigit() and int(key) < 256:
        return int(key)
    return None


@dataclass(frozen=True, slots=True)
class Region:
    """A rule's constraints; ``opaque`` lists what natsim could not translate (empty: exact)."""

    constraints: tuple[Constraint, ...]
    opaque: tuple[str, ...] = ()
    never: bool = False  # the rule can match no packet at all (e.g. ``-p udp -m tcp``)

    @property
    def exact(self) -> bool:
        return not self.opaque and not self.never


def _net_interval(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[int, int]:
    return int(net.network_address), int(net.broadcast_address)


def _range_interval(r: AddressRange) -> tuple[int, int]:
    return int(r.lo), int(r.hi)


def _ports(neg: Neg, dim: Dim) -> Constraint:
    value = neg.value
    ranges = value if isinstance(value, tuple) else (value,)
    return Constraint(dim, tuple((p.lo, p.hi) for p in ranges), neg.negated)


_FIRST_FRAGMENT = Constraint(Dim.FRAG, (0,))


@lru_cache(maxsize=None)
def tcp_flags_points(mask: frozenset[str], comp: frozenset[str]) -> tuple[int, ...]:
    """The 8-bit flag combinations for which ``(flags & mask) == comp`` (``tcp_mt``)."""
    bit = {name: 1 << i for i, name in enumerate(TCP_FLAG_BITS)}
    expand = {"ALL": set(TCP_FLAG_BITS), "NONE": set()}

    def bits(names: frozenset[str]) -> int:
        total = 0
        for n in names:
            for f in expand.get(n.upper(), {n.upper()}):
                total |= bit.get(f, 0)
        return total

    mk, cp = bits(mask), bits(comp)
    return tuple(v for v in range(256) if (v & mk) == cp)


def _ct_points(states: frozenset[str]) -> tuple[int, ...]:
    wanted = {s.upper() for s in states}
    out = []
    for i, (base, snat, dnat) in enumerate(CT_POINTS):
        if base in wanted or (snat and "SNAT" in wanted) or (dnat and "DNAT" in wanted):
            out.append(i)
    return tuple(out)


def _addr_types(types: frozenset[str]) -> tuple[int, ...] | None:
    idx = []
    for t in types:
        if t.upper() not in ADDR_TYPES:
            return None
        idx.append(ADDR_TYPES.index(t.upper()))
    return tuple(sorted(idx))


def _iface(dim: Dim, neg: Neg[Interface]) -> Constraint:
    name = neg.value.name
    pattern = (name[:-1], True) if name.endswith("+") else (name, False)
    return Constraint(dim, (pattern,), neg.negated)


def _match_constraints(match: m.Match, out: list[Constraint], opaque: list[str]) -> None:
    """Append the constraints of one ``-m`` module, or say why it is opaque."""
    if isinstance(match, m.Comment):
        return
    if isinstance(match, (m.Tcp, m.Udp, m.UdpLite, m.Sctp, m.Dccp)):
        out.append(_FIRST_FRAGMENT)
        if match.sport is not None:
            out.append(_ports(match.sport, Dim.SPORT))
        if match.dport is not None:
            out.append(_ports(match.dport, Dim.DPORT))
        if isinstance(match, m.Tcp):
            if match.flags is not None:
                f = match.flags
                out.append(Constraint(Dim.TCPFLAGS, tcp_flags_points(f.value.mask, f.value.comp), f.negated))
            if match.tcp_option is not None:
                opaque.append("--tcp-option")
        if isinstance(match, m.Sctp) and match.chunk_types is not None:
            opaque.append("--chunk-types")
        return
    if isinstance(match, m.Multiport):
        out.append(_FIRST_FRAGMENT)
        if match.sports is not None:
            out.append(_ports(match.sports, Dim.SPORT))
        if match.dports is not None:
            out.append(_ports(match.dports, Dim.DPORT))
        if match.ports is not None:
            opaque.append("multiport --ports (source or destination port)")
        return
    if isinstance(match, (m.Icmp, m.Icmp6)):
        out.append(_FIRST_FRAGMENT)
        # IPv4 type 255 matches every ICMP packet (ip_tables.c icmp_type_code_match: test_type == 0xFF)
        any_v4 = isinstance(match, m.Icmp) and match.icmp_type is not None and match.icmp_type.value.type_ == 255
        if any_v4 and match.icmp_type.negated:
            out.append(Constraint(Dim.ICMP, ((0, 65535),), True))  # "! any": no packet
        if match.icmp_type is not None and match.icmp_type.value.type_ is not None and not any_v4:
            t = match.icmp_type.value
            lo, hi = (t.code, t.code) if t.code is not None else (0, 255)
            out.append(Constraint(Dim.ICMP, ((t.type_ * 256 + lo, t.type_ * 256 + hi),), match.icmp_type.negated))
        return
    if isinstance(match, (m.Conntrack, m.State)):
        states = match.ctstate if isinstance(match, m.Conntrack) else match.state
        if states is not None:
            out.append(Constraint(Dim.CTSTATE, _ct_points(states.value), states.negated))
        if isinstance(match, m.Conntrack):
            others = [
                name for name in (
                    "ctproto", "ctorigsrc", "ctorigdst", "ctreplsrc", "ctrepldst", "ctorigsrcport",
                    "ctorigdstport", "ctreplsrcport", "ctrepldstport", "ctstatus", "ctexpire", "ctdir",
                ) if getattr(match, name) is not None
            ]
            if others:
                opaque.append("conntrack " + ", ".join("--" + o for o in others))
        return
    if isinstance(match, m.AddrType):
        if match.limit_iface_in or match.limit_iface_out:
            opaque.append("addrtype --limit-iface-in/out")
            return
        for neg, dim in ((match.src_type, Dim.SRCTYPE), (match.dst_type, Dim.DSTTYPE)):
            if neg is None:
                continue
            pts = _addr_types(neg.value)
            if pts is None:
                opaque.append("addrtype with an unknown type")
            else:
                out.append(Constraint(dim, pts, neg.negated))
        return
    if isinstance(match, m.IpRange):
        if match.src_range is not None:
            out.append(Constraint(Dim.SRC, (_range_interval(match.src_range.value),), match.src_range.negated))
        if match.dst_range is not None:
            out.append(Constraint(Dim.DST, (_range_interval(match.dst_range.value),), match.dst_range.negated))
        return
    if isinstance(match, m.PktType):
        if match.pkt_type is not None:
            name = match.pkt_type.value.lower()
            if name in PKT_TYPES:
                out.append(Constraint(Dim.PKTTYPE, (PKT_TYPES.index(name),), match.pkt_type.negated))
            else:
                opaque.append(f"pkttype {name}")
        return
    if isinstance(match, m.UnknownMatch):
        opaque.append(f"unknown match -m {match.name}")
        return
    opaque.append(f"-m {type(match).module}")


def rule_region(rule: Rule) -> Region:
    """Translate a rule's header matches; cached per rule value by :func:`region_of`."""
    out: list[Constraint] = []
    opaque: list[str] = []
    never = False
    if rule.source is not None:
        out.append(Constraint(Dim.SRC, (_net_interval(rule.source.value),), rule.source.negated))
    if rule.destination is not None:
        out.append(Constraint(Dim.DST, (_net_interval(rule.destination.value),), rule.destination.negated))
    if rule.in_interface is not None:
        out.append(_iface(Dim.IIF, rule.in_interface))
    if rule.out_interface is not None:
        out.append(_iface(Dim.OIF, rule.out_interface))
    if rule.protocol is not None:
        num = protocol_number(rule.protocol.value)
        if num is None:
            opaque.append(f"protocol {rule.protocol.value}")
        elif num != 0:
            out.append(Constraint(Dim.PROTO, ((num, num),), rule.protocol.negated))
        elif rule.protocol.negated:
            never = True  # ! -p all
    if rule.fragment is not None:
        out.append(Constraint(Dim.FRAG, (1,), rule.fragment.negated))
    for match in rule.matches:
        _match_constraints(match, out, opaque)
    return Region(tuple(out), tuple(opaque), never)


_CACHE: dict[int, tuple[Rule, Region]] = {}


def region_of(rule: Rule) -> Region:
    """:func:`rule_region`, memoised by identity (rules are immutable and shared)."""
    hit = _CACHE.get(id(rule))
    if hit is not None and hit[0] is rule:
        return hit[1]
    region = rule_region(rule)
    if len(_CACHE) > 200_000:
        _CACHE.clear()
    _CACHE[id(rule)] = (rule, region)
    return region
