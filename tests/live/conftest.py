"""Network namespaces for the live-reader tests: created per module, removed even on failure."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab import netns as labns

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"


def restore(ns: str, text: str, *, backend: str, family: int = 4, counters: bool = False) -> None:
    """Load rules into ``ns`` with ip[6]tables-{legacy,nft}-restore (inside the namespace only)."""
    tool = f"{'ip6tables' if family == 6 else 'iptables'}-{backend}-restore"
    argv = ["ip", "netns", "exec", ns, tool] + (["-c"] if counters else [])
    p = subprocess.run(argv, input=text, capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, f"{tool} failed: {p.stderr}"


def save(ns: str, *, backend: str, family: int = 4) -> str:
    """``ip[6]tables-*-save -c`` in ``ns`` without the timestamped comment lines."""
    tool = f"{'ip6tables' if family == 6 else 'iptables'}-{backend}-save"
    p = subprocess.run(["ip", "netns", "exec", ns, tool, "-c"], capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    return "".join(line + "\n" for line in p.stdout.splitlines() if not line.startswith("#"))


def legacy_tables(ns: str, family: int = 4) -> str:
    name = "ip6_tables_names" if family == 6 else "ip_tables_names"
    p = subprocess.run(["ip", "netns", "exec", ns, "cat", f"/proc/net/{name}"], capture_output=True, text=True,
                       timeout=10)
    return p.stdout


@pytest.fixture
def make_netns() -> Iterator:
    """A factory of fresh, empty namespaces (named lab.live.<pid>...), all deleted afterwards."""
    made: list[str] = []

    def make(role: str = "ns") -> str:
        name = labns.new_name("live", role)
        labns.create([name])
        made.append(name)
        return name

    try:
        yield make
    finally:
        labns.delete(made)
