"""Hypothesis strategies for rulesets the kernel accepts, in natsim's canonical form.

Small on purpose: filter and nat tables, user chains that builtin chains jump to (no
loops), and the matches and targets Docker hosts use.  Every generated value is in the
form the parser produces (networks without host bits, normalised targets), so
``parse(render(ruleset)) == ruleset`` must hold exactly.
"""

from __future__ import annotations

import ipaddress

from hypothesis import strategies as st

from natsim.model import matches as m
from natsim.model import targets as t
from natsim.model.ruleset import BUILTIN_CHAINS, Chain, Rule, Ruleset, Table
from natsim.model.values import AddressRange, Interface, MarkMask, NatRange, Neg, PortRange

negs = st.booleans()
interfaces = st.sampled_from(["eth0", "docker0", "br-1a2b3c", "br+", "lo", "wlan0", "veth+"]).map(Interface)


@st.composite
def networks(draw, version: int = 4):
    bits = 32 if version == 4 else 128
    prefix = draw(st.integers(1, bits))  # /0 unnegated is no match at all: the kernel drops it
    num = draw(st.integers(0, 2 ** bits - 1))
    cls = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    return cls((num >> (bits - prefix) << (bits - prefix) if prefix else 0, prefix))


@st.composite
def port_ranges(draw):
    lo = draw(st.integers(0, 65535))
    hi = draw(st.one_of(st.just(lo), st.integers(lo, 65535)))
    if (lo, hi) == (0, 65535):
        hi = 65534
    return PortRange(lo, hi)


@st.composite
def port_matches(draw):
    """A port match in canonical form: a negated range never touches 0 or 65535 (decision 0021)."""
    rng = draw(port_ranges())
    negated = draw(negs) and rng.lo > 0 and rng.hi < 65535
    return Neg(rng, negated)


comments = st.text(st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=40)
ctstates = st.frozensets(st.sampled_from(["NEW", "ESTABLISHED", "RELATED", "INVALID", "DNAT", "SNAT"]), min_size=1)


def neg_of(values):
    return st.builds(Neg, values, negs)


@st.composite
def rules(draw, table: str, chain: str, user_chains: tuple[str, ...], version: int = 4):
    proto = draw(st.sampled_from([None, "tcp", "udp", "icmp"]))
    if version == 6 and proto == "icmp":
        proto = None
    matches: list[m.Match] = []
    if proto in ("tcp", "udp") and draw(st.booleans()):
        cls = m.Tcp if proto == "tcp" else m.Udp
        dport = draw(st.none() | port_matches())
        sport = draw(st.none() | port_matches())
        matches.append(cls(sport=sport, dport=dport))
    if draw(st.booleans()):
        matches.append(m.Conntrack(ctstate=draw(neg_of(ctstates))))
    if draw(st.booleans()):
        matches.append(m.Comment(draw(comments)))
    if draw(st.booleans()):
        matches.append(m.AddrType(dst_type=draw(neg_of(st.frozensets(st.sampled_from(["LOCAL", "UNICAST",
                                                                                      "BROADCAST"]), min_size=1)))))
    if draw(st.booleans()):
        matches.append(m.Mark(draw(neg_of(st.builds(MarkMask, st.integers(0, 2**32 - 1), st.just(0xFFFFFFFF))))))
    targets = [st.just(t.Accept()), st.just(t.Return()),
               st.builds(t.Log, log_prefix=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1,
                                                   max_size=20))]
    if table == "filter":
        targets.append(st.just(t.Drop()))
    if table == "filter" and chain in ("INPUT", "FORWARD", "OUTPUT"):
        tcp_match = bool(matches) and isinstance(matches[0], m.Tcp)  # tcp-reset needs -p tcp (not negated)
        targets.append(st.just(t.Reject(reject_with="tcp-reset" if tcp_match else None)))
    if user_chains and chain in BUILTIN_CHAINS[table]:
        targets.append(st.sampled_from(user_chains).flatmap(lambda c: st.sampled_from([t.Jump(c), t.Jump(c, True)])))
    if table == "nat" and chain in ("PREROUTING", "OUTPUT") and version == 4:
        addr = draw(st.integers(1, 2**32 - 2))
        ports = PortRange(80, 80) if proto in ("tcp", "udp") else None
        ip = ipaddress.IPv4Address(addr)
        targets.append(st.just(t.Dnat(to_destination=(NatRange(AddressRange(ip, ip), ports),))))
    if table == "nat" and chain == "POSTROUTING":
        targets.append(st.just(t.Masquerade()))
    target = draw(st.none() | st.one_of(targets))
    return Rule(
        source=draw(st.none() | neg_of(networks(version))),
        destination=draw(st.none() | neg_of(networks(version))),
        in_interface=draw(st.none() | neg_of(interfaces)) if chain not in ("OUTPUT", "POSTROUTING") else None,
        out_interface=draw(st.none() | neg_of(interfaces)) if chain not in ("PREROUTING", "INPUT") else None,
        protocol=Neg(proto, draw(negs) if not matches or not isinstance(matches[0], (m.Tcp, m.Udp)) else False)
        if proto else None,
        matches=tuple(matches),
        target=target,
    )


chain_names = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ-_0123456789", min_size=1, max_size=12).filter(
    lambda n: n[0].isalpha() and n not in ("INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING")
    and n not in t.TARGETS)


@st.composite
def rulesets(draw, version: int = 4, max_rules: int = 4):
    tables = []
    for name in ("nat", "filter"):
        if not draw(st.booleans()):
            continue
        users = tuple(sorted(draw(st.sets(chain_names, max_size=3))))
        chains = []
        for cname in BUILTIN_CHAINS[name]:
            policy = draw(st.sampled_from(["ACCEPT", "DROP"])) if name == "filter" else "ACCEPT"
            chains.append(Chain(cname, policy, None,
                                tuple(draw(st.lists(rules(name, cname, users, version), max_size=max_rules)))))
        for cname in users:
            chains.append(Chain(cname, None, None,
                                tuple(draw(st.lists(rules(name, cname, (), version), max_size=max_rules)))))
        tables.append(Table(name, tuple(chains)))
    return Ruleset(version, tuple(t for t in sorted(tables, key=lambda t: t.name != "nat")))
