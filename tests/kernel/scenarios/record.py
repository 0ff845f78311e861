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

from tests.kernel.scenarios.catalog import Scenario, catalog  # noqa: E402
from tests.kernel.scenarios.measure import BACKENDS, measure  # noqa: E402
from tests.lab.topology import to_toml  # noqa: E402

EXPECTED = HERE / "expected.json"
HOSTS = HERE / "hosts"


def export(s: Scenario) -> None:
    """hosts/<name>/: the scenario as natsim input files (topology.toml, rules, ipsets), for CLI-level use."""
    d = HOSTS / s.name
    d.mkdir(parents=True, exist_ok=True)
    files = {"topology.toml": to_toml(s.spec, s.layout), "iptables.rules": s.spec.rules_v4,
             "ip6tables.rules": s.spec.rules_v6, "ipset.txt": s.spec.ipsets}
    for name, text in files.items():
        if text.strip():
            (d / name).write_text(text)
        elif (d / name).exists():
            (d / name).unlink()


def record(names: list[str]) -> dict:
    old = json.loads(EXPECTED.read_text()) if EXPECTED.exists() else {"scenarios": {}}
    chosen = [s for s in catalog() if not names or s.name in names]
    started = time.perf_counter()
    results = {}
    for i in range(0, len(chosen), 3):  # three scenarios (six hosts) at a time
        results.update(measure(chosen[i:i + 3]))
    for s in chosen:
        export(s)
        flows = []
        for i, f in enumerate(s.flows):
            per = {b: results[(s.name, b)][i] for b in BACKENDS}
            flows.append({"id": f.id, "from": f.frm, "dst": f.dst, "port": f.port, "proto": f.proto, "why": f.why,
                          "kernel": per["nft"], "backends_agree": per["nft"] == per["legacy"],
                          **({} if per["nft"] == per["legacy"] else {"legacy": per["legacy"]})})
        old["scenarios"][s.name] = {"layout": s.layout, "description": s.description, "sources": list(s.sources),
                                    "changes": s.changes, "files": f"tests/kernel/scenarios/hosts/{s.name}/",
                                    "flows": flows}
    old["scenarios"] = {s.name: old["scenarios"][s.name] for s in catalog() if s.name in old["scenarios"]}
    old["format"] = ("kernel = {outcome, by, seen} measured with tests/lab on iptables-nft; legacy is listed "
                     "only where it differs. outcome: connected|closed|refused|timeout|unreachable|error; "
                     "by: which server answered; seen: the client address that server saw.")
    EXPECTED.write_text(json.dumps(old, indent=1) + "\n")
    print(f"recorded {len(chosen)} scenarios in {time.perf_counter() - started:.1f} s -> {EXPECTED}")
    return old


if __name__ == "__main__":
    record(sys.argv[1:])
