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


def test_native_nftables_tables_are_named(make_netns) -> None:
    """firewalld or Docker's nftables backend: tables iptables-nft-save does not show are warned about."""
    import subprocess

    ns = make_netns("native")
    restore(ns, RULES, backend="nft")
    subprocess.run(["ip", "netns", "exec", ns, "nft", "add", "table", "inet", "firewalld"], check=True, timeout=10)
    live = read_live_rules(ns)
    assert live.backend == "nft"
    assert any("inet firewalld" in n and "not simulated" in n for n in live.notes), live.notes
    assert not any("ip filter" in n for n in live.notes)


def test_python_iptables_failure_falls_back_to_legacy_save(make_netns, monkeypatch) -> None:
    from natsim.live import dumps
    from natsim.live.process import ToolOutput

    ns = make_netns("fallback")
    restore(ns, RULES, backend="legacy")
    monkeypatch.setattr(dumps, "run_python_module",
                        lambda *a, **k: ToolOutput("x", ("x",), -11, "", "Segmentation fault"))
    dump = dumps.read_dump("legacy", 4, ns, "python-iptables")
    assert dump.reader == "iptables-legacy-save" and "--dport 22" in dump.text
    assert any("python-iptables reader failed" in w for w in dump.warnings)


def test_live_ipsets_are_read(make_netns) -> None:
    import subprocess

    from natsim.live.inputs import load_live

    ns = make_netns("ipset")
    restore(ns, RULES, backend="nft")
    for cmd in (["ipset", "create", "allow", "hash:net"], ["ipset", "add", "allow", "192.0.2.0/24"]):
        subprocess.run(["ip", "netns", "exec", ns, *cmd], check=True, timeout=10)
    rulesets, ipsets, _topo, notes = load_live(ns, topology=False)
    assert ipsets is not None and [e.element for e in ipsets.get("allow").entries] == ["192.0.2.0/24"]
    assert rulesets[4].chain("filter", "INPUT").rules and any("nft backend" in n for n in notes)
