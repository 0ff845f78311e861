"""docs/testing.md's worked example runs as written, and catches the leak it describes.

The python block of the doc is written to a temporary directory beside a copy of
examples/mysqlserver and run by pytest in a subprocess (so the ``pytest11`` entry point,
the marker, the fixtures and the failure message are all exercised as a user meets them).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "testing.md"
SNAPSHOT = ROOT / "examples" / "mysqlserver"
LEAK = (
    ("nat", "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 2222 -j DNAT --to-destination 172.17.0.3:22"),
    ("filter", "-A DOCKER-USER -d 172.17.0.3/32 -p tcp -m tcp --dport 22 -j ACCEPT"),
)


def _example() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    (block,) = [b for b in blocks if b.startswith("# test_firewall.py")]
    return block


def _run(tmp_path: Path) -> subprocess.CompletedProcess:
    (tmp_path / "test_firewall.py").write_text(_example())
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_firewall.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    if not (SNAPSHOT / "iptables.rules").exists():
        pytest.skip("examples/mysqlserver is not there")
    shutil.copytree(SNAPSHOT, tmp_path / "mysqlserver")
    return tmp_path / "mysqlserver"


def test_the_worked_example_passes(tmp_path: Path, snapshot: Path) -> None:
    run = _run(tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "3 passed" in run.stdout


def test_the_worked_example_catches_an_unpublished_port(tmp_path: Path, snapshot: Path) -> None:
    rules = snapshot / "iptables.rules"
    out, table = [], None
    for line in rules.read_text().splitlines():
        if line.startswith("*"):
            table = line[1:]
        if line == "COMMIT":
            out += [rule for t, rule in LEAK if t == table]
        out.append(line)
    rules.write_text("\n".join(out) + "\n")
    run = _run(tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "2 passed, 1 failed" in run.stdout or "1 failed, 2 passed" in run.stdout
    assert "unpublished container port(s) reachable from outside" in run.stdout
    assert "container webapp port 22/tcp via host:2222/tcp" in run.stdout
    assert "--- trace ---" in run.stdout
