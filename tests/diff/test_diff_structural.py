"""Structural diff on hand-built models: identity that survives renumbering, moves, changes, counters."""

from __future__ import annotations

import ipaddress

from natsim.diff.structural import rule_identity, similarity, structural_diff
from natsim.model.matches import Comment, Tcp
from natsim.model.ruleset import Chain, Counters, Rule, Ruleset, Table
from natsim.model.targets import Accept, Drop, Jump, Reject
from natsim.model.values import Interface, Neg, PortRange


def tcp(port: int, target=Accept(), iface: str = "eth0", counters: Counters | None = None) -> Rule:
    return Rule(
        in_interface=Neg(Interface(iface)),
        protocol=Neg("tcp"),
        matches=(Tcp(dport=Neg(PortRange(port, port))),),
        target=target,
        counters=counters,
    )


def filter_rs(forward: tuple[Rule, ...], user: tuple[Rule, ...] = (), policy: str = "ACCEPT") -> list[Ruleset]:
    chains = (
        Chain("INPUT", "ACCEPT"),
        Chain("FORWARD", policy, rules=(Rule(target=Jump("DOCKER-USER")), *forward)),
        Chain("OUTPUT", "ACCEPT"),
        Chain("DOCKER-USER", rules=user),
    )
    return [Ruleset(4, (Table("filter", chains),))]


def test_identical_rulesets_are_equal() -> None:
    a = filter_rs((tcp(80), tcp(443)))
    assert structural_diff(a, filter_rs((tcp(80), tcp(443)))).equal


def test_insert_at_the_top_is_one_addition_not_a_renumbering() -> None:
    old = filter_rs((), user=(tcp(80), tcp(443), tcp(22)))
    new = filter_rs((), user=(Rule(source=Neg(ipaddress.ip_network("10.0.0.0/8")), target=Drop()),
                              tcp(80), tcp(443), tcp(22)))
    d = structural_diff(old, new)
    assert [(c.kind, c.place.chain, c.new_index) for c in d.rules] == [("added", "DOCKER-USER", 1)]
    assert not d.chains and not d.tables


def test_removed_rule_and_moved_rule() -> None:
    old = filter_rs((tcp(1), tcp(2), tcp(3), tcp(4), tcp(5)))
    new = filter_rs((tcp(2), tcp(3), tcp(4), tcp(1)))
    kinds = sorted((c.kind, c.old_index, c.new_index) for c in structural_diff(old, new).rules)
    # FORWARD rule 1 is the jump, so tcp(n) sits at n+1.
    assert kinds == [("moved", 2, 5), ("removed", 6, None)]


def test_changed_target_is_paired_as_changed() -> None:
    old = filter_rs((tcp(80), tcp(443)))
    new = filter_rs((tcp(80), tcp(443, target=Reject("tcp-reset"))))
    d = structural_diff(old, new)
    assert [(c.kind, c.old_index, c.new_index) for c in d.rules] == [("changed", 3, 3)]
    assert d.rules[0].similarity is not None and 0.5 <= d.rules[0].similarity < 1


def test_unrelated_rules_are_not_paired() -> None:
    old = filter_rs((tcp(80),))
    new = filter_rs((Rule(matches=(Comment("x"),), target=Drop()),))
    kinds = sorted(c.kind for c in structural_diff(old, new).rules)
    assert kinds == ["added", "removed"]


def test_counters_are_ignored_unless_asked() -> None:
    old = filter_rs((tcp(80, counters=Counters(1, 60)),))
    new = filter_rs((tcp(80, counters=Counters(9, 540)),))
    assert structural_diff(old, new).equal
    d = structural_diff(old, new, counters=True)
    assert [c.kind for c in d.rules] == ["counters"]


def test_chain_policy_and_chain_added() -> None:
    old = filter_rs((tcp(80),))
    new_chains = filter_rs((tcp(80),), policy="DROP")[0].tables[0].chains + (Chain("EXTRA"),)
    new = [Ruleset(4, (Table("filter", new_chains),))]
    d = structural_diff(old, new)
    assert sorted((c.kind, c.place.chain) for c in d.chains) == [("added", "EXTRA"), ("policy", "FORWARD")]


def test_empty_accept_table_equals_missing_table() -> None:
    raw = Table("raw", (Chain("PREROUTING", "ACCEPT"), Chain("OUTPUT", "ACCEPT")))
    a = filter_rs((tcp(80),))
    b = [Ruleset(4, a[0].tables + (raw,))]
    assert structural_diff(a, b).equal
    raw_drop = Table("raw", (Chain("PREROUTING", "DROP"), Chain("OUTPUT", "ACCEPT")))
    d = structural_diff(a, [Ruleset(4, a[0].tables + (raw_drop,))])
    assert [(t.kind, t.table) for t in d.tables] == [("added", "raw")]


def test_identity_and_similarity() -> None:
    assert rule_identity(tcp(80, counters=Counters(5, 5))) == tcp(80)
    assert similarity(tcp(80), tcp(80)) == 1.0
    assert similarity(tcp(80), tcp(81)) < 1.0


def test_changed_rule_says_which_options_differ() -> None:
    old = filter_rs((tcp(80), tcp(443)))
    new = filter_rs((tcp(80), tcp(8443)))
    (change,) = structural_diff(old, new).rules
    assert change.kind == "changed" and change.differs == ("-m tcp --dport",)
    new = filter_rs((tcp(80), tcp(443, iface="eth1")))
    (change,) = structural_diff(old, new).rules
    assert change.differs == ("-i",)
