"""The live readers against the kernel: what they read equals what the tools print, and reading writes nothing."""

from __future__ import annotations

import pytest

from natsim.live.dumps import read_dump
from tests.live.conftest import legacy_tables, restore, save

pytestmark = pytest.mark.kernel

COUNTED = """*filter
:INPUT DROP [7:420]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [3:180]
:DOCKER-USER - [0:0]
[11:660] -A INPUT -i lo -j ACCEPT
[5:300] -A INPUT -p tcp -m tcp --dport 22 -m comment --comment "ssh in" -j ACCEPT
[2:120] -A FORWARD -j DOCKER-USER
[1:60] -A DOCKER-USER -s 10.9.0.0/16 ! -i eth0 -j DROP
COMMIT
"""


@pytest.mark.parametrize("backend", ["legacy", "nft"])
def test_reading_changes_no_rule_and_no_counter(make_netns, backend: str) -> None:
    from natsim.live.rules import read_live_rules

    ns = make_netns("ro")
    restore(ns, COUNTED, backend=backend, counters=True)
    before = {b: save(ns, backend=b) for b in ("legacy", "nft")}
    tables_before = legacy_tables(ns), legacy_tables(ns, 6)
    assert "[5:300] -A INPUT" in before[backend]
    read_live_rules(ns)  # both backends, both families, every reader it uses by default
    read_dump("legacy", 4, ns, "iptables-legacy-save")
    assert {b: save(ns, backend=b) for b in ("legacy", "nft")} == before
    # Opening a legacy table the kernel does not list would create it in the namespace.
    assert (legacy_tables(ns), legacy_tables(ns, 6)) == tables_before


def test_reading_an_unlisted_legacy_table_creates_it_but_natsim_does_not(make_netns) -> None:
    """Decision 0090: a plain read (iptables-legacy -t raw -S) instantiates the table; natsim's readers don't."""
    import subprocess

    from natsim.live.rules import read_live_rules

    probe, ns = make_netns("fact"), make_netns("natsim")
    for name in (probe, ns):
        restore(name, "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\nCOMMIT\n", backend="legacy")
        assert legacy_tables(name).split() == ["filter"]
    subprocess.run(["ip", "netns", "exec", probe, "iptables-legacy", "-t", "raw", "-S"], capture_output=True,
                   timeout=10, check=True)
    assert "raw" in legacy_tables(probe).split()  # the kernel fact
    read_live_rules(ns, backend="legacy")
    read_dump("legacy", 4, ns, "python-iptables")
    assert legacy_tables(ns).split() == ["filter"]
