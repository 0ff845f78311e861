"""Every live reader gives the model the file parser gives for the same rules (both backends).

For the legacy backend, python-iptables' dump must also equal ``iptables-legacy-save -c`` byte for byte.
"""

from __future__ import annotations

import pytest

from natsim.diff.structural import rule_identity
from natsim.live.dumps import read_dump
from natsim.live.rules import parse_dump
from natsim.model.ruleset import Ruleset
from natsim.parse import parse_file
from tests.live.conftest import FIXTURES, restore, save

pytestmark = pytest.mark.kernel

CASES = [
    ("moby-iptabler-golden-default-proxy-icc-masq-nat.rules", 4),
    ("moby-iptabler-golden-noproxy-hairpin-icc-masq-nat.ip6.rules", 6),
    ("kube-proxy-test-overall-iptables-rules.restore.rules", 4),  # restore input: non-canonical forms
    ("forum-ufw-ubuntu1404-netbook.rules", 4),
    ("fffuu-ufw-server2.rules", 4),
    ("free5gc-compose-docker-tailscale-sctp.rules", 4),
]


def shape(rs: Ruleset) -> dict[str, dict[str, tuple[object, ...]]]:
    """Tables -> chains -> (policy, rules without counters); chain order is the tool's, so it is dropped."""
    return {
        t.name: {c.name: (c.policy, tuple(rule_identity(r) for r in c.rules)) for c in t.chains}
        for t in rs.tables
    }


def tables_text(text: str) -> dict[str, str]:
    """Dump text per table, comment lines dropped (tables in whatever order the tool printed them)."""
    text = "".join(line + "\n" for line in text.splitlines() if not line.startswith("#"))
    return {b.split("\n", 1)[0]: b for b in text.split("*")[1:]}


def assert_same_model(live: Ruleset, name: str, family: int, reader: str) -> None:
    got = shape(live)
    expected = shape(parse_file(FIXTURES / name, family=family).ruleset)
    for table, chains in expected.items():
        assert table in got, f"{table} missing from the live dump ({reader})"
        for chain, value in chains.items():
            assert got[table][chain] == value, f"{table}/{chain} differs ({reader})"
        extra = set(got[table]) - set(chains)
        # A restore input may omit built-in chains: the kernel has them, empty, with ACCEPT policy.
        assert all(got[table][c] == ("ACCEPT", ()) for c in extra), extra


@pytest.mark.parametrize("name,family", CASES)
@pytest.mark.parametrize("backend", ["legacy", "nft"])
def test_live_model_equals_file_model(make_netns, name: str, family: int, backend: str) -> None:
    ns = make_netns("model")
    restore(ns, (FIXTURES / name).read_text(), backend=backend, family=family)
    readers = ("python-iptables", "iptables-legacy-save") if backend == "legacy" else ("iptables-nft-save",)
    for reader in readers:
        dump = read_dump(backend, family, ns, reader)  # type: ignore[arg-type]
        assert dump.reader == reader and not dump.warnings
        if reader == "python-iptables":
            assert tables_text(dump.text) == tables_text(save(ns, backend="legacy", family=family))
        assert_same_model(parse_dump(dump), name, family, reader)
