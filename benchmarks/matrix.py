"""Exposure-matrix speed: a generated Docker host (200 containers, 2,000 published ports), TUM, a kube node.

    .venv/bin/python benchmarks/matrix.py [--quick] [--repeat N]

Prints, for each input and size: rules, zones, services, cells, flows asked, the time to
enumerate the flows and to simulate them (CPU seconds of this process, one core, best of
``--repeat`` runs, default 3) and the time per rule and per flow relative to the smallest size
of the same input.  Target (issue 7): the full matrix of each under 10 s on one core, growing
near-linearly.  Also prints the time of ``natsim audit`` (rule-level findings) on the same inputs.

How to read growth: the Docker host's zones stay fixed (containers the rules treat alike share
one zone) while its services grow with its rules, so time per rule stays flat.  TUM's cut
rulesets name more interfaces *and* more services as they grow: its cells are zones x services
and grow faster than its rules, so its time per flow (one engine walk each) is the measure of
the engine's growth there.

The generated kube-proxy node (250, 500, 1,000 services; no target in issue 7) shows the growth on
a ruleset whose source classes are cut per service: each service's endpoints are sources its own
rules single out, and the classes are found by a sweep over runs of alike addresses (0.0.0.0/0 is
cut into thousands of pieces there), not by a pass over every piece per service.

This VM's speed varies by up to a third from minute to minute.  The benchmark times a fixed
pure-Python workload before and after (``calibration``) so a slow run can be told from a slow
change; compare runs by ``matrix / calibration`` when calibrations differ.
"""

from __future__ import annotations

import dataclasses
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from natsim.audit.assume import with_assumed_uplinks  # noqa: E402
from natsim.audit.flows import cell_flows  # noqa: E402
from natsim.audit.matrix import build_matrix  # noqa: E402
from natsim.audit.run import audit_ruleset  # noqa: E402
from natsim.engine import Network  # noqa: E402
from natsim.explain.inputs import infer_topology  # noqa: E402
from natsim.generate import docker_host, kube_proxy  # noqa: E402
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


def calibration() -> float:
    """CPU seconds of a fixed workload shaped like the engine's (small objects, dict lookups, calls)."""
    t0 = time.process_time()
    table: dict[str, int] = {}

    class Item:
        __slots__ = ("a", "b")

        def __init__(self, a: int, b: str) -> None:
            self.a, self.b = a, b

    for i in range(600_000):
        item = Item(i, str(i & 1023))
        table[item.b] = table.get(item.b, 0) + item.a
    return time.process_time() - t0


def measure(make: Callable[[], Ruleset], repeat: int) -> dict[str, float]:
    """Best of ``repeat`` cold runs: each parses its own ruleset, so no cache of an earlier run helps."""
    best: dict[str, float] = {}
    for _ in range(repeat):
        rs = make()
        net = network_of(rs)
        gc.collect()
        t0 = time.process_time()
        flows = cell_flows(net)
        t1 = time.process_time()
        matrix = build_matrix(net, "bench", flows=flows)
        t2 = time.process_time()
        audit_ruleset(rs)
        t3 = time.process_time()
        run = {"enumerate": t1 - t0, "simulate": t2 - t1, "matrix": t2 - t0, "audit": t3 - t2}
        best = run if not best or run["matrix"] < best["matrix"] else best
        del matrix
    return {"rules": rs.rule_count(), "flows": len(flows), "zones": len({f.zone.key for f in flows}),
            "services": len({f.service.key for f in flows}), "cells": len({(f.zone.key, f.service.key) for f in flows}),
            **best}


def report(name: str, rows: list[dict[str, float]], calib: float, target: bool = True) -> None:
    base = rows[0]
    print(f"\n{name}")
    print(f"  {'rules':>6} {'zones':>5} {'svcs':>5} {'cells':>6} {'flows':>6} {'enum s':>7} {'sim s':>7} {'matrix s':>8}"
          f" {'audit s':>7} {'s/rule vs first':>15} {'s/flow vs first':>15} {'matrix/calib':>12}")
    for r in rows:
        per_rule = (r["matrix"] / r["rules"]) / (base["matrix"] / base["rules"])
        per_flow = (r["matrix"] / max(r["flows"], 1)) / (base["matrix"] / max(base["flows"], 1))
        print(f"  {r['rules']:>6} {r['zones']:>5} {r['services']:>5} {r['cells']:>6} {r['flows']:>6}"
              f" {r['enumerate']:>7.2f} {r['simulate']:>7.2f} {r['matrix']:>8.2f} {r['audit']:>7.2f}"
              f" {per_rule:>15.2f} {per_flow:>15.2f} {r['matrix'] / calib:>12.1f}")
    last = rows[-1]
    if not target:
        print(f"  full size: matrix {last['matrix']:.2f} s CPU (no target: growth only)")
        return
    verdict = "OK" if last["matrix"] < 10 else "OVER TARGET"
    print(f"  full size: matrix {last['matrix']:.2f} s CPU (target < 10 s): {verdict}")


def main() -> None:
    quick = "--quick" in sys.argv
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else (1 if quick else 3)
    before = min(calibration() for _ in range(3))
    sizes = [(500, 50), (1000, 100), (2000, 200)] if not quick else [(200, 20), (400, 40)]
    rows = []
    for ports, containers in sizes:
        text = docker_host(ports, containers=containers)
        rows.append(measure(lambda: parse_text(text, f"docker-{ports}").ruleset, repeat))
    tum_text = TUM.read_text()
    fractions = (0.25, 0.5, 1.0) if not quick else (0.25, 0.5)
    tum_rows = [measure(lambda: cut(parse_text(tum_text, TUM.name).ruleset, f), repeat) for f in fractions]
    services = (250, 500, 1000) if not quick else (100, 200)
    kube_rows = []
    for n in services:
        text = kube_proxy(n)
        kube_rows.append(measure(lambda: parse_text(text, f"kube-{n}").ruleset, repeat))
    after = min(calibration() for _ in range(3))
    calib = min(before, after)
    print(f"calibration (fixed pure-Python workload, best of 3): {before:.3f} s before, {after:.3f} s after;"
          f" best {repeat} run(s) of each size")
    report("generated Docker host (ports, containers) = " + ", ".join(map(str, sizes)), rows, calib)
    report(f"{TUM.name} at {', '.join(f'{int(f * 100)}%' for f in fractions)} of each chain", tum_rows, calib)
    report("generated kube-proxy node, services = " + ", ".join(map(str, services)), kube_rows, calib, target=False)


if __name__ == "__main__":
    main()
