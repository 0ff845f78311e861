"""Topology speed, each number beside a baseline measured in the same run.

    .venv/bin/python benchmarks/topology.py [--quick]

(a) inference from the rules of a generated Docker host with N published ports, beside the time to
    parse the same text (the baseline: inference should cost a fraction of a parse);
(b) reading the recorded snapshot tests/topology/data/host1, beside ``json.loads`` of its JSON files;
(c) when root: reading this namespace through pyroute2 (``read_live`` without sysctl/ss), beside running
    ``ip -d -j addr``, ``ip -j route show table all``, ``ip -j rule``, ``ip -j neigh``, ``bridge -j fdb show``
    and ``bridge -j -d link`` and parsing their output (what ``natsim snapshot`` + ``read_snapshot`` do).
No assertion: numbers are printed, not judged.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from natsim.generate import docker_host  # noqa: E402
from natsim.parse import parse_text  # noqa: E402
from natsim.topology.infer import infer_from_rules  # noqa: E402
from natsim.topology.iproute import (  # noqa: E402
    apply_bridge_link, parse_bridge_fdb, parse_ip_addr, parse_ip_neigh, parse_ip_route, parse_ip_rule)
from natsim.topology.snapshot import read_snapshot  # noqa: E402


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    quick = "--quick" in sys.argv
    repeat = 2 if quick else 5
    for ports in ((100, 1000) if quick else (100, 1000, 5000)):
        text = docker_host(ports)
        t_parse = best(lambda: parse_text(text, "gen.rules"), repeat)
        rs = parse_text(text, "gen.rules").ruleset
        t_infer = best(lambda: infer_from_rules({4: rs}), repeat)
        n = len(infer_from_rules({4: rs}).containers or ())
        print(f"(a) {ports:5d} ports, {n:4d} containers: infer {t_infer * 1e3:8.1f} ms, parse {t_parse * 1e3:8.1f} ms,"
              f" infer/parse = {t_infer / t_parse:.2f}")

    host1 = ROOT / "tests" / "topology" / "data" / "host1"
    files = [p for p in host1.iterdir() if p.suffix == ".json"]
    t_json = best(lambda: [json.loads(p.read_text()) for p in files], repeat * 4)
    t_snap = best(lambda: read_snapshot(host1), repeat * 4)
    print(f"(b) read_snapshot(host1) {t_snap * 1e3:.2f} ms, json.loads of its files {t_json * 1e3:.2f} ms,"
          f" ratio {t_snap / t_json:.1f}")

    if os.geteuid() != 0:
        print("(c) skipped: not root")
        return
    from natsim.topology.live import read_live

    def commands() -> None:
        def run(*argv: str) -> str:
            return subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
        links = parse_ip_addr(run("ip", "-d", "-j", "addr"))
        apply_bridge_link(links, run("bridge", "-j", "-d", "link"))
        parse_ip_route(run("ip", "-j", "route", "show", "table", "all"))
        parse_ip_rule(run("ip", "-j", "rule"))
        parse_ip_neigh(run("ip", "-j", "neigh"))
        parse_bridge_fdb(run("bridge", "-j", "fdb", "show"))

    t_live = best(lambda: read_live(None, sysctls=False, sockets=False), repeat)
    t_cmd = best(commands, repeat)
    print(f"(c) pyroute2 read_live {t_live * 1e3:.1f} ms, iproute2 commands + parsing {t_cmd * 1e3:.1f} ms,"
          f" live/commands = {t_live / t_cmd:.2f}")


if __name__ == "__main__":
    main()
