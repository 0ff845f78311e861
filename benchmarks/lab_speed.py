"""Speed of the namespace lab (tests/lab), as ratios against baselines measured in the same run.

    sudo .venv/bin/python benchmarks/lab_speed.py

- probe: one TCP connect + answer through an agent, vs the naive way (a new
  `ip netns exec NS python3 -c ...` process per probe).
- build: a Docker-like host (host, outside, 3 containers, rules loaded), vs just creating and
  deleting the same number of namespaces with `ip netns add/del` one by one.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.kernel.scenarios.catalog import by_name  # noqa: E402
from tests.lab import build  # noqa: E402

NAIVE_PROBE = ("import socket,sys; s=socket.create_connection((sys.argv[1], int(sys.argv[2])), 1); "
               "print(s.recv(200))")


def timed(fn, n: int) -> float:
    """Median seconds per call over n calls."""
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main() -> None:
    scenario = by_name("v28.5-proxy")
    with build(scenario.host("nft"), prefix="bench") as h:
        agent = timed(lambda: h.probe("outside", "198.18.0.1", 8080), 200)
        ns = h.ns["outside"]
        naive = timed(lambda: subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-c", NAIVE_PROBE,
                                              "198.18.0.1", "8080"], check=True, capture_output=True), 10)
        batch = timed(lambda: h.probe_many([{"frm": f.frm, "dst": f.dst, "port": f.port, "proto": f.proto}
                                            for f in scenario.flows if f.frm != "outside"]), 5)
    print(f"probe: agent {agent * 1e3:.2f} ms, new process {naive * 1e3:.1f} ms, ratio {naive / agent:.0f}x faster")
    print(f"probe_many of the scenario's non-outside flows (some time out at 0.5 s): {batch * 1e3:.1f} ms")

    def lab_host() -> None:
        build(scenario.host("nft"), prefix="bench").close()

    def bare() -> None:
        names = [f"bench-bare-{i}" for i in range(5)]
        for n in names:
            subprocess.run(["ip", "netns", "add", n], check=True)
        for n in names:
            subprocess.run(["ip", "netns", "del", n], check=True)

    lab = timed(lab_host, 10)
    base = timed(bare, 10)
    print(f"build+close host (5 namespaces, rules, listeners): {lab * 1e3:.0f} ms; "
          f"bare ip netns add/del x5: {base * 1e3:.0f} ms; ratio {lab / base:.2f}")


if __name__ == "__main__":
    main()
