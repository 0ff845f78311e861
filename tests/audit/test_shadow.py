"""Shadowed and redundant rules on hand-built chains (the model only, no parser)."""

from __future__ import annotations

import ipaddress

from natsim.audit.shadow import analyse_chain, analyse_ruleset
from natsim.model import matches as m
from natsim.model import targets as t
from natsim.model.ruleset import Chain, Rule, Ruleset, Table
from natsim.model.values import Interface, Neg, PortRange


def net(text: str) -> Neg:
    return Neg(ipaddress.ip_network(text))


def tcp(dport: int | tuple[int, int] | None = None, negated: bool = False) -> m.Tcp:
    if dport is None:
        return m.Tcp()
    lo, hi = (dport, dport) if isinstance(dport, int) else dport
    return m.Tcp(dport=Neg(PortRange(lo, hi), negated))


def rule(target: t.Target, **kw) -> Rule:
    if "proto" in kw:
        kw["protocol"] = Neg(kw.pop("proto"))
    for key in ("in_interface", "out_interface"):
        if isinstance(kw.get(key), str):
            kw[key] = Neg(Interface(kw[key]))
    if isinstance(kw.get("matches"), m.Match):
        kw["matches"] = (kw["matches"],)
    return Rule(target=target, **kw)


def dead(rules: list[Rule], policy: str | None = "ACCEPT") -> dict[int, str]:
    chain = Chain("INPUT", policy, rules=tuple(rules))
    table = Table("filter", (chain,))
    return {d.ref.index: d.kind for d in analyse_chain(4, table, chain)}


def test_single_rule_covers_a_narrower_one() -> None:
    rules = [
        rule(t.Accept(), source=net("10.0.0.0/8")),
        rule(t.Drop(), source=net("10.1.0.0/16"), proto="tcp", matches=tcp(22)),
    ]
    assert dead(rules) == {2: "shadowed"}


def test_same_verdict_is_redundant_not_shadowed() -> None:
    rules = [
        rule(t.Accept(), proto="tcp", matches=tcp((1, 1024))),
        rule(t.Accept(), proto="tcp", matches=tcp(80)),
    ]
    assert dead(rules) == {2: "redundant"}


def test_union_of_earlier_rules_covers() -> None:
    rules = [
        rule(t.Drop(), proto="tcp", matches=tcp((0, 1023))),
        rule(t.Drop(), proto="tcp", matches=tcp((1024, 65535))),
        rule(t.Accept(), proto="tcp", matches=tcp(80)),
        rule(t.Accept(), proto="tcp"),  # non-first fragments of tcp still reach this one
    ]
    assert dead(rules) == {3: "shadowed"}


def test_partial_overlap_is_not_shadowed() -> None:
    rules = [
        rule(t.Drop(), source=net("10.0.0.0/9")),
        rule(t.Accept(), source=net("10.0.0.0/8")),
    ]
    assert dead(rules) == {}


def test_negated_interface_and_wildcards() -> None:
    rules = [
        rule(t.Accept(), in_interface="br+"),
        rule(t.Drop(), in_interface="br-1234"),  # covered by br+
        rule(t.Drop(), in_interface="eth0"),  # not covered
    ]
    assert dead(rules) == {2: "shadowed"}
    rules = [
        rule(t.Drop(), in_interface=Neg(Interface("eth0"), True)),
        rule(t.Accept(), in_interface="docker0"),
    ]
    assert dead(rules) == {2: "shadowed"}


def test_opaque_matches_never_decide() -> None:
    rules = [
        rule(t.Accept(), matches=m.Limit(limit="3/min")),
        rule(t.Drop()),
    ]
    assert dead(rules) == {}
    rules = [
        rule(t.Accept(), matches=m.UnknownMatch("string", ("--string", "x"))),
        rule(t.Drop(), matches=m.UnknownMatch("string", ("--string", "x"))),
    ]
    assert dead(rules) == {}


def test_but_an_opaque_rule_can_itself_be_unreachable() -> None:
    rules = [
        rule(t.Drop(), proto="tcp"),
        rule(t.Accept(), proto="tcp", matches=m.Limit(limit="3/min")),
    ]
    assert dead(rules) == {2: "shadowed"}


def test_ctstate_bits() -> None:
    est = m.Conntrack(ctstate=Neg(frozenset({"RELATED", "ESTABLISHED"})))
    rules = [
        rule(t.Accept(), matches=est),
        rule(t.Accept(), matches=m.Conntrack(ctstate=Neg(frozenset({"ESTABLISHED"})))),
        rule(t.Drop(), matches=m.Conntrack(ctstate=Neg(frozenset({"DNAT"})))),  # NEW+DNAT still reaches
        rule(t.Drop(), matches=m.Conntrack(ctstate=Neg(frozenset({"INVALID"})))),
        rule(t.Accept(), matches=m.State(state=Neg(frozenset({"NEW"})))),
        rule(t.Accept(), matches=m.Conntrack(ctstate=Neg(frozenset({"DNAT"})))),  # DNAT: NEW/EST/REL all gone
    ]
    assert dead(rules) == {2: "redundant", 6: "shadowed"}


def test_notrack_widens_the_state() -> None:
    rules = [
        rule(t.Accept(), matches=m.Conntrack(ctstate=Neg(frozenset({"UNTRACKED"})))),
        rule(t.Notrack()),
        rule(t.Drop(), matches=m.Conntrack(ctstate=Neg(frozenset({"UNTRACKED"})))),
    ]
    assert dead(rules) == {}


def test_jump_does_not_decide_but_goto_does() -> None:
    rules = [
        rule(t.Jump("X"), proto="tcp"),
        rule(t.Drop(), proto="tcp", matches=tcp(22)),
    ]
    assert dead(rules) == {}
    rules = [
        rule(t.Jump("X", goto=True), proto="tcp"),
        rule(t.Drop(), proto="tcp", matches=tcp(22)),
    ]
    assert dead(rules) == {2: "shadowed"}


def test_port_matches_exclude_later_fragments() -> None:
    rules = [
        rule(t.Drop(), proto="tcp", matches=tcp(22, negated=True)),
        rule(t.Drop(), proto="tcp", matches=tcp(22)),
        rule(t.Accept(), proto="tcp"),  # fragments: matched by neither port rule
    ]
    assert dead(rules) == {}


def test_policy_tail() -> None:
    chain = Chain("INPUT", "DROP", rules=(
        rule(t.Accept(), proto="tcp", matches=tcp(22)),
        rule(t.Drop(), proto="udp"),
        rule(t.Drop()),
    ))
    rs = Ruleset(4, (Table("filter", (chain,)),))
    found = {(d.ref.index, d.kind) for d in analyse_ruleset(rs)}
    assert found == {(3, "same-as-policy")}


def test_icmp_type_255_is_any_type_in_ipv4() -> None:
    any_type = m.Icmp(icmp_type=Neg(m.IcmpType(255, None)))
    echo = m.Icmp(icmp_type=Neg(m.IcmpType(8, None)))
    rules = [rule(t.Accept(), proto="icmp", matches=any_type), rule(t.Drop(), proto="icmp", matches=echo)]
    assert dead(rules) == {2: "shadowed"}
    never = m.Icmp(icmp_type=Neg(m.IcmpType(255, None), True))
    assert dead([rule(t.Accept(), proto="icmp", matches=never)]) == {1: "never-matches"}
