"""Parser speed and memory, beside iptables-legacy-restore --test on the same text.

    .venv/bin/python benchmarks/parse.py [--quick]

For (a) fixtures/corpus/fffuu-tum-net-2015-09-03-large.rules, (b) a generated Docker host
with 10,000 published ports and (c) a generated kube-proxy ruleset with 5,000 services,
prints rules/s of natsim.parse (best of 3), retained and peak memory per rule
(tracemalloc, a separate run), and the time of `iptables-legacy-restore --test` on the
same text in a throwaway network namespace (when root), with natsim's time / its time.
Targets (issue 2): >= 50,000 rules/s on (b), < 1 KiB per rule.
"""

from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from natsim.generate import docker_host, kube_proxy  # noqa: E402
from natsim.parse import parse_text  # noqa: E402


def natsim_time(text: str, repeat: int) -> tuple[float, int]:
    best, rules = float("inf"), 0
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        parsed = parse_text(text, "bench")
        best = min(best, time.perf_counter() - t0)
        rules = parsed.ruleset.rule_count()
        del parsed
    return best, rules


def natsim_memory(text: str) -> tuple[int, int]:
    gc.collect()
    tracemalloc.start()
    parsed = parse_text(text, "bench")
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del parsed
    return retained, peak


def kernel_time(text: str, repeat: int) -> float | None:
    if os.geteuid() != 0 or shutil.which("iptables-legacy-restore") is None:
        return None
    ns = f"parser-bench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        best = float("inf")
        for _ in range(repeat):
            t0 = time.perf_counter()
            out = subprocess.run(["ip", "netns", "exec", ns, "iptables-legacy-restore", "--test"],
                                 input=text.replace("XX:XX:XX:XX:XX:XX", "02:00:00:00:00:01"),
                                 capture_output=True, text=True, timeout=600)
            elapsed = time.perf_counter() - t0
            if out.returncode != 0:
                print(f"    iptables-legacy-restore --test refused it: {out.stderr.strip()[:200]}")
                return None
            best = min(best, elapsed)
        return best
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def main() -> None:
    quick = "--quick" in sys.argv
    repeat = 1 if quick else 3
    cases = [
        ("tum-net (fffuu, 5083 lines)", (ROOT / "fixtures/corpus/fffuu-tum-net-2015-09-03-large.rules").read_text()),
        ("docker host, 10,000 published ports", docker_host(1_000 if quick else 10_000)),
        ("kube-proxy, 5,000 services", kube_proxy(500 if quick else 5_000)),
    ]
    for name, text in cases:
        seconds, rules = natsim_time(text, repeat)
        retained, peak = natsim_memory(text)
        kernel = kernel_time(text, repeat)
        print(f"{name}: {rules} rules")
        print(f"    natsim.parse         {seconds:8.3f} s  {rules / seconds:10.0f} rules/s")
        print(f"    memory               {retained / rules:8.0f} B/rule retained, {peak / rules:.0f} B/rule peak")
        if kernel is not None:
            print(f"    iptables-legacy-restore --test {kernel:8.3f} s  {rules / kernel:10.0f} rules/s"
                  f"   natsim/iptables time ratio {seconds / kernel:.2f}")
        else:
            print("    iptables-legacy-restore --test: not run (needs root and iptables-legacy)")


if __name__ == "__main__":
    main()
