"""Measure the whole catalog on both backends and write expected.json (run as root).

    .venv/bin/python tests/kernel/scenarios/record.py [SCENARIO ...]

The file is data for natsim's comparison tests; test_scenarios.py re-measures it.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from tests.kernel.scenarios.catalog import catalog  # noqa: E402
from tests.kernel.scenarios.measure import BACKENDS, measure  # noqa: E402

EXPECTED = HERE / "expected.json"


def record(names: list[str]) -> dict:
    old = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {"scenarios": {}}
    chosen = [s for s in catalog() if not names or s.name in names]
    started = time.perf_counter()
    results = {}
    for s in chosen:  # one scenario (two hosts) at a time keeps the machine quiet
        results.update(measure([s]))
    for s in chosen:
        flows = []
        for i, f in enumerate(s.flows):
            per = {b: results[(s.name, b)][i] for b in BACKENDS}
            flows.append({"id": f.id, "from": f.frm, "dst": f.dst, "port": f.port, "proto": f.proto, "why": f.why,
                          "kernel": per["nft"], "backends_agree": per["nft"] == per["legacy"],
                          **({} if per["nft"] == per["legacy"] else {"legacy": per["legacy"]})})
        old["scenarios"][s.name] = {"layout": s.layout, "description": s.description, "sources": list(s.sources),
                                    "changes": s.changes, "flows": flows}
    old["scenarios"] = {s.name: old["scenarios"][s.name] for s in catalog() if s.name in old["scenarios"]}
    old["format"] = ("kernel = {outcome, by, seen} measured with tests/lab on iptables-nft; legacy is listed "
                     "only where it differs. outcome: connected|closed|refused|timeout|unreachable|error; "
                     "by: which server answered; seen: the client address that server saw.")
    EXPECTED.write_text(json.dumps(old, indent=1) + "\n")
    print(f"recorded {len(chosen)} scenarios in {time.perf_counter() - started:.1f} s -> {EXPECTED}")
    return old


if __name__ == "__main__":
    record(sys.argv[1:])
