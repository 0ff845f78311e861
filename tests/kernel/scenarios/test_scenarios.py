"""Re-measure the scenario catalog against the kernel, so expected.json cannot rot.

Every flow of every scenario is probed on both iptables backends and must give the recorded
outcome, answering server and seen address. A mismatch means the record (or the lab) is
wrong: re-run record.py and review the diff of expected.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.kernel.scenarios.catalog import catalog
from tests.kernel.scenarios.measure import BACKENDS, measure

EXPECTED = Path(__file__).with_name("expected.json")
SCENARIOS = catalog()


def recorded() -> dict:
    return json.loads(EXPECTED.read_text())["scenarios"]


def test_the_record_covers_the_catalog_exactly():
    rec = recorded()
    assert list(rec) == [s.name for s in SCENARIOS]
    for s in SCENARIOS:
        assert [f["id"] for f in rec[s.name]["flows"]] == [f.id for f in s.flows], s.name


def test_the_catalog_covers_every_layout_and_option():
    layouts = {s.layout for s in SCENARIOS}
    assert {"docker<=27", "docker-28.0.0", "docker-28.x", "docker-29"} <= layouts
    specs = [s.spec for s in SCENARIOS]
    assert {sp.userland_proxy for sp in specs} == {True, False}
    assert {sp.br_netfilter for sp in specs} == {True, False}
    assert {b.hairpin for sp in specs for b in sp.bridges} == {True, False}
    assert any(sp.ipsets for sp in specs) and any(sp.rules_v6 for sp in specs)


@pytest.mark.kernel
@pytest.mark.parametrize("batch", [SCENARIOS[i:i + 4] for i in range(0, len(SCENARIOS), 4)],
                         ids=lambda b: ",".join(s.name for s in b))
def test_kernel_still_gives_the_recorded_answers(batch):
    rec = recorded()
    measured = measure(list(batch))
    wrong = []
    for s in batch:
        for b in BACKENDS:
            for flow, got, want in zip(s.flows, measured[(s.name, b)], rec[s.name]["flows"]):
                expect = want.get(b, want["kernel"]) if b == "legacy" else want["kernel"]
                if got != expect:
                    wrong.append(f"{s.name} [{b}] {flow.id}: kernel {got}, recorded {expect}")
    assert not wrong, "\n".join(wrong)
