"""Parser speed and memory, beside iptables-legacy-restore --test on the same text.

    .venv/bin/python benchmarks/parse.py [--quick]

For (a) fixtures/corpus/fffuu-tum-net-2015-09-03-large.rules, (b) a generated Docker host
with 10,000 published ports and (c) a generated kube-proxy ruleset with 5,000 services,
prints rules/s of natsim.parse (best of 5, wall-clock and CPU time), retained and peak
memory per rule (tracemalloc, a separate run), and the time of `iptables-legacy-restore
--test` on the same text in a throwaway network namespace (when root), with natsim's time /
its time.  On a loaded machine compare the ratios and the CPU-time column: both sides of a
ratio are measured in the same run, and CPU time does not count time spent waiting for a core.
Targets (issue 2): >= 50,000 rules/s on (b), < 1 KiB per rule.
"""

from __future__ import annotations

import gc
import os
import resource
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


def natsim_time(text: str, repeat: int) -> tuple[float, float, int]:
    """Best wall-clock and best CPU seconds of parse_text over ``repeat`` runs, and the rule count."""
    best, best_cpu, rules = float("inf"), float("inf"), 0
    for _ in range(repeat):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        parsed = parse_text(text, "bench")
        best, best_cpu = min(best, time.perf_counter() - t0), min(best_cpu, time.process_time() - c0)
        rules = parsed.ruleset.rule_count()
        del parsed
    return best, best_cpu, rules


def natsim_memory(text: str) -> tuple[int, int]:
    gc.collect()
    tracemalloc.start()
    parsed = parse_text(text, "bench")
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del parsed
    return retained, peak


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def kernel_time(text: str, repeat: int) -> tuple[float, float] | None:
    """Best wall-clock and best CPU seconds of `iptables-legacy-restore --test` (with `ip netns exec`)."""
    if os.geteuid() != 0 or shutil.which("iptables-legacy-restore") is None:
        return None
    ns = f"parser-bench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        best, best_cpu = float("inf"), float("inf")
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), _children_cpu()
            out = subprocess.run(["ip", "netns", "exec", ns, "iptables-legacy-restore", "--test"],
                                 input=text.replace("XX:XX:XX:XX:XX:XX", "02:00:00:00:00:01"),
                                 capture_output=True, text=True, timeout=600)
            elapsed, cpu = time.perf_counter() - t0, _children_cpu() - c0
            if out.returncode != 0:
                print(f"    iptables-legacy-restore --test refused it: {out.stderr.strip()[:200]}")
                return None
            best, best_cpu = min(best, elapsed), min(best_cpu, cpu)
        return best, best_cpu
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def main() -> None:
    quick = "--quick" in sys.argv
    repeat = 1 if quick else 5
    cases = [
        ("tum-net (fffuu, 5083 lines)", (ROOT / "fixtures/corpus/fffuu-tum-net-2015-09-03-large.rules").read_text()),
        ("docker host, 10,000 published ports", docker_host(1_000 if quick else 10_000)),
        ("kube-proxy, 5,000 services", kube_proxy(500 if quick else 5_000)),
    ]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; best of {repeat}")
    for name, text in cases:
        seconds, cpu, rules = natsim_time(text, repeat)
        retained, peak = natsim_memory(text)
        kernel = kernel_time(text, repeat)
        print(f"{name}: {rules} rules")
        print(f"    natsim.parse                    wall {seconds:7.3f} s {rules / seconds:8.0f} rules/s"
              f"   cpu {cpu:7.3f} s {rules / cpu:8.0f} rules/s")
        print(f"    memory               {retained / rules:8.0f} B/rule retained, {peak / rules:.0f} B/rule peak")
        if kernel is not None:
            k_wall, k_cpu = kernel
            print(f"    iptables-legacy-restore --test  wall {k_wall:7.3f} s {rules / k_wall:8.0f} rules/s"
                  f"   cpu {k_cpu:7.3f} s {rules / k_cpu:8.0f} rules/s")
            print(f"    natsim/iptables time ratio      wall {seconds / k_wall:7.2f}"
                  f"                      cpu {cpu / k_cpu:7.2f}")
        else:
            print("    iptables-legacy-restore --test: not run (needs root and iptables-legacy)")


if __name__ == "__main__":
    main()
