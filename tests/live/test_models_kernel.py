"""Every live reader gives the model the file parser gives for the same rules (both backends)."""

from __future__ import annotations

import pytest

from natsim.diff.structural import rule_identity
from natsim.live.dumps import read_dump
from natsim.live.rules import parse_dump
from natsim.model.ruleset import Ruleset
from natsim.parse import parse_file
from tests.live.conftest import FIXTURES, restore

pytestmark = pytest.mark.kernel

CASES = [
    ("moby-iptabler-golden-default-proxy-icc-masq-nat.rules", 4),
    ("moby-iptabler-golden-noproxy-hairpin-icc-masq-nat.ip6.rules", 6),
    pytest.param(
        "kube-proxy-test-overall-iptables-rules.restore.rules", 4,  # restore input: non-canonical forms
        marks=pytest.mark.xfail(
            reason="parser keeps --probability 0.5000000000 as written; the kernel prints 0.50000000000 "
                   "(requested in docs/notes/requests.md)", strict=False),
    ),
    ("forum-ufw-ubuntu1404-netbook.rules", 4),
    ("fffuu-ufw-server2.rules", 4),
    ("free5gc-compose-docker-tailscale-sctp.rules", 4),
]
READERS = [("legacy", "python-iptables"), ("legacy", "iptables-legacy-save"), ("nft", "iptables-nft-save")]


def shape(rs: Ruleset) -> dict[str, dict[str, tuple[object, ...]]]:
    """Tables -> chains -> (policy, rules without counters); chain order is the tool's, so it is dropped."""
    return {
        t.name: {c.name: (c.policy, tuple(rule_identity(r) for r in c.rules)) for c in t.chains}
        for t in rs.tables
    }




@pytest.mark.parametrize("name,family", CASES)
@pytest.mark.parametrize("backend,reader", READERS)
def test_live_model_equals_file_model(make_netns, name: str, family: int, backend: str, reader: str) -> None:
    ns = make_netns("model")
    restore(ns, (FIXTURES / name).read_text(), backend=backend, family=family)
    live = shape(parse_dump(read_dump(backend, family, ns, reader)))  # type: ignore[arg-type]
    expected = shape(parse_file(FIXTURES / name, family=family).ruleset)
    for table, chains in expected.items():
        assert table in live, f"{table} missing from the live {backend} dump"
        for chain, value in chains.items():
            assert live[table][chain] == value, f"{table}/{chain} differs ({reader})"
        extra = set(live[table]) - set(chains)
        # A restore input may omit built-in chains: the kernel has them, empty, with ACCEPT policy.
        assert all(live[table][c] == ("ACCEPT", ()) for c in extra), extra
