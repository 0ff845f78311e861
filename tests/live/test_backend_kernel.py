"""Which backend holds the rules, what natsim reads, and what it warns about."""

from __future__ import annotations

import pytest

from natsim.live.rules import default_backend, read_live_rules
from tests.live.conftest import restore

pytestmark = pytest.mark.kernel

RULES = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
COMMIT
"""
OTHER = RULES.replace("--dport 22", "--dport 2222")


def _dport(live) -> int:
    rule = live.rulesets[0].chain("filter", "INPUT").rules[0]
    return rule.matches[0].dport.value.lo


@pytest.mark.parametrize("backend", ["legacy", "nft"])
def test_the_backend_holding_rules_is_read(make_netns, backend: str) -> None:
    ns = make_netns(backend)
    restore(ns, RULES, backend=backend)
    live = read_live_rules(ns)
    assert live.backend == backend and _dport(live) == 22
    assert live.readers == (("python-iptables",) if backend == "legacy" else ("iptables-nft-save",))
    assert not any("also holds rules" in n for n in live.notes)


def test_both_backends_with_rules_warns_and_reads_the_default(make_netns) -> None:
    ns = make_netns("both")
    restore(ns, RULES, backend="legacy")
    restore(ns, OTHER, backend="nft")
    live = read_live_rules(ns)
    chosen = default_backend()
    assert live.backend == chosen
    assert _dport(live) == (22 if chosen == "legacy" else 2222)
    other = "nft" if chosen == "legacy" else "legacy"
    assert any(f"the {other} backend also holds rules" in n for n in live.notes), live.notes
    assert live.other and _dport(type(live)(live.other, other, ())) == (2222 if other == "nft" else 22)
    forced = read_live_rules(ns, backend=other)
    assert forced.backend == other and any(f"the {chosen} backend also holds rules" in n for n in forced.notes)


def test_empty_namespace_says_so(make_netns) -> None:
    ns = make_netns("empty")
    live = read_live_rules(ns)
    assert any("no rules in either backend" in n for n in live.notes)
    assert all(not rs.rule_count() for rs in live.rulesets)
