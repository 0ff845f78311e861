"""The live readers against the kernel: what they read equals what the tools print, and reading writes nothing."""

from __future__ import annotations

import pytest

from natsim.live.dumps import read_dump
from tests.live.conftest import FIXTURES, legacy_tables, restore, save

pytestmark = pytest.mark.kernel

#: Fixtures the kernel loads (Docker layouts, kube-proxy, ufw, a real host with sctp/tailscale).
LOADABLE = [
    ("moby-iptabler-golden-default-proxy-icc-masq-nat.rules", 4),
    ("moby-iptabler-golden-noproxy-hairpin-icc-masq-nat.ip6.rules", 6),
    ("kube-proxy-test-overall-iptables-rules.restore.rules", 4),
    ("forum-ufw-ubuntu1404-netbook.rules", 4),
    ("free5gc-compose-docker-tailscale-sctp.rules", 4),
]

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


def _tables(text: str) -> dict[str, str]:
    """Dump text per table (a table's block, in whatever order the tool printed the tables)."""
    text = "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))
    blocks = text.split("*")[1:]
    return {b.split("\n", 1)[0]: b for b in blocks}


@pytest.mark.parametrize("name,family", LOADABLE)
def test_python_iptables_reads_what_iptables_legacy_save_prints(make_netns, name: str, family: int) -> None:
    ns = make_netns("iptc")
    restore(ns, (FIXTURES / name).read_text(), backend="legacy", family=family)
    dump = read_dump("legacy", family, ns, "python-iptables")
    assert dump.reader == "python-iptables" and not dump.warnings
    assert _tables(dump.text) == _tables(save(ns, backend="legacy", family=family))


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


def test_nft_reader_reads_the_nft_backend(make_netns) -> None:
    ns = make_netns("nft")
    text = (FIXTURES / "moby-iptabler-golden-default-proxy-icc-masq-nat.rules").read_text()
    restore(ns, text, backend="nft")
    dump = read_dump("nft", 4, ns)
    assert dump.reader == "iptables-nft-save"
    assert _tables(dump.text) == _tables(save(ns, backend="nft"))
    assert "-A DOCKER -d 192.168.0.2/32 ! -i br-dummy -o br-dummy -p tcp -m tcp --dport 80 -j ACCEPT" in dump.text
