"""Structural diff and live read speed, each beside a baseline measured in the same run.

    .venv/bin/python benchmarks/diff.py [--quick]

(a) structural diff of a generated Docker host (N published ports) against itself with one
    DOCKER-USER rule inserted and one published port removed, and (b) against a copy where every
    filter DOCKER rule's port changed (all rules "changed": the worst case of the pairing step);
    each printed with the time to *parse* the same text (the baseline: a diff should cost about a parse).
(c) when root: the time to read a namespace holding that host live (python-iptables, both backends
    probed), beside ``iptables-legacy-save -c`` of the same namespace.
No assertion: numbers are printed, not judged.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from natsim.diff.structural import structural_diff  # noqa: E402
from natsim.generate import docker_host  # noqa: E402
from natsim.parse import parse_text  # noqa: E402


def best(fn, repeat: int = 3) -> tuple[float, object]:
    out, value = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        out = min(out, time.perf_counter() - t0)
    return out, value


def variants(text: str) -> tuple[str, str]:
    lines = text.splitlines()
    dnat = next(i for i, ln in enumerate(lines) if "-j DNAT" in ln)
    edited = lines[:dnat] + lines[dnat + 1:]
    user = next(i for i, ln in enumerate(edited) if ln.startswith("-A DOCKER-USER") or ln.startswith("-A FORWARD"))
    edited.insert(user, "-A DOCKER-USER -s 198.51.100.0/24 -j DROP" if ":DOCKER-USER" in text
                  else "-A FORWARD -s 198.51.100.0/24 -j DROP")
    bumped = [re.sub(r"--dport (\d+) -j ACCEPT", lambda m: f"--dport {int(m.group(1)) + 1} -j ACCEPT", ln)
              if ln.startswith("-A DOCKER ") else ln for ln in lines]
    return "\n".join(edited) + "\n", "\n".join(bumped) + "\n"


def live_read(text: str) -> None:
    if os.geteuid() != 0:
        print("(c) skipped: not root")
        return
    from natsim.live.rules import read_live_rules

    ns = f"bench-live-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", ns, "iptables-legacy-restore"], input=text, text=True, check=True)
        t_save, _ = best(lambda: subprocess.run(["ip", "netns", "exec", ns, "iptables-legacy-save", "-c"],
                                                capture_output=True, check=True))
        t_live, live = best(lambda: read_live_rules(ns))
        n = live.rulesets[0].rule_count()  # type: ignore[attr-defined]
        print(f"(c) live read of {n} rules: {t_live * 1000:.0f} ms; iptables-legacy-save -c {t_save * 1000:.0f} ms; "
              f"ratio {t_live / t_save:.1f}")
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


def main() -> None:
    ports = 500 if "--quick" in sys.argv else 2000
    text = docker_host(ports)
    edited, bumped = variants(text)
    t_parse, parsed = best(lambda: parse_text(text, "a").ruleset)
    a = parsed
    b1 = parse_text(edited, "b").ruleset
    b2 = parse_text(bumped, "c").ruleset
    t1, d1 = best(lambda: structural_diff([a], [b1]))  # type: ignore[list-item]
    t2, d2 = best(lambda: structural_diff([a], [b2]))  # type: ignore[list-item]
    n = a.rule_count()  # type: ignore[attr-defined]
    print(f"docker host, {ports} published ports, {n} rules; parse {t_parse * 1000:.0f} ms (baseline)")
    print(f"(a) insert + removal: {t1 * 1000:.0f} ms, {len(d1.rules)} changes; diff/parse {t1 / t_parse:.2f}")  # type: ignore[attr-defined]
    changed = d2.count("changed")  # type: ignore[attr-defined]
    print(f"(b) every DOCKER rule changed: {t2 * 1000:.0f} ms, {changed} changed; diff/parse {t2 / t_parse:.2f}")
    live_read(text)


if __name__ == "__main__":
    main()
