"""Exposure-matrix speed: a generated Docker host (200 containers, 2,000 published ports) and TUM.

    .venv/bin/python benchmarks/matrix.py [--quick]

Prints, for each input and size: rules, flows asked, the time to enumerate the flows and
to simulate them (CPU seconds of this process, one core, best of the runs) and the time per
rule and per flow relative to the smallest size of the same input — near-linear growth shows
as ratios close to 1.  Target (issue 7): the full matrix of each under 10 s on one core.
Also prints the time of ``natsim audit`` (rule-level findings) on the same inputs.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from natsim.audit.assume import with_assumed_uplinks  # noqa: E402
from natsim.audit.flows import cell_flows  # noqa: E402
from natsim.audit.matrix import build_matrix  # noqa: E402
from natsim.audit.run import audit_ruleset  # noqa: E402
from natsim.engine import Network  # noqa: E402
from natsim.explain.inputs import infer_topology  # noqa: E402
from natsim.generate import docker_host  # noqa: E402
from natsim.model.ruleset import Ruleset  # noqa: E402
from natsim.parse import parse_text  # noqa: E402
from natsim.topology.model import Topology  # noqa: E402

TUM = ROOT / "fixtures" / "corpus" / "fffuu-tum-net-2015-09-03-large.rules"


def network_of(rs: Ruleset) -> Network:
    topo = infer_topology({rs.family: rs}, Topology())
    topo, _ = with_assumed_uplinks(topo, {rs.family: rs})
    return Network(rulesets={rs.family: rs}, topology=topo)


def cut(rs: Ruleset, fraction: float) -> Ruleset:
    """The first ``fraction`` of every chain's rules: a smaller ruleset of the same shape."""
    tables = tuple(
        dataclasses.replace(t, chains=tuple(
            dataclasses.replace(c, rules=c.rules[: max(1, int(len(c.rules) * fraction))] if c.rules else ())
            for c in t.chains
        ))
        for t in rs.tables
    )
    return Ruleset(rs.family, tables, rs.source)


def measure(rs: Ruleset) -> dict[str, float]:
    net = network_of(rs)
    t0 = time.process_time()
    flows = cell_flows(net)
    t1 = time.process_time()
    matrix = build_matrix(net, "bench", flows=flows)
    t2 = time.process_time()
    audit_ruleset(rs)
    t3 = time.process_time()
    return {"rules": rs.rule_count(), "flows": len(flows), "cells": len(matrix.cells),
            "enumerate": t1 - t0, "simulate": t2 - t1, "matrix": t2 - t0, "audit": t3 - t2}


def report(name: str, rows: list[dict[str, float]]) -> None:
    base = rows[0]
    print(f"\n{name}")
    print(f"  {'rules':>6} {'flows':>6} {'cells':>6} {'enum s':>7} {'sim s':>7} {'matrix s':>8} {'audit s':>7}"
          f" {'s/rule vs first':>15} {'s/flow vs first':>15}")
    for r in rows:
        per_rule = (r["matrix"] / r["rules"]) / (base["matrix"] / base["rules"])
        per_flow = (r["matrix"] / max(r["flows"], 1)) / (base["matrix"] / max(base["flows"], 1))
        print(f"  {r['rules']:>6} {r['flows']:>6} {r['cells']:>6} {r['enumerate']:>7.2f} {r['simulate']:>7.2f}"
              f" {r['matrix']:>8.2f} {r['audit']:>7.2f} {per_rule:>15.2f} {per_flow:>15.2f}")
    last = rows[-1]
    verdict = "OK" if last["matrix"] < 10 else "OVER TARGET"
    print(f"  full size: matrix {last['matrix']:.2f} s CPU (target < 10 s): {verdict}")


def main() -> None:
    quick = "--quick" in sys.argv
    sizes = [(500, 50), (1000, 100), (2000, 200)] if not quick else [(200, 20), (400, 40)]
    rows = []
    for ports, containers in sizes:
        rs = parse_text(docker_host(ports, containers=containers), f"docker-{ports}").ruleset
        rows.append(measure(rs))
    report("generated Docker host (ports, containers) = " + ", ".join(map(str, sizes)), rows)
    tum = parse_text(TUM.read_text(), TUM.name).ruleset
    fractions = (0.25, 0.5, 1.0) if not quick else (0.25, 0.5)
    report(f"{TUM.name} at {', '.join(f'{int(f * 100)}%' for f in fractions)} of each chain",
           [measure(cut(tum, f)) for f in fractions])


if __name__ == "__main__":
    main()
