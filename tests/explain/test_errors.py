"""Bad endpoints and inputs: a one-line message naming what is expected, exit status 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from natsim.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mysqlserver"


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (("--from", "inside", "--to", "host:80/tcp"), "bad source endpoint 'inside'"),
        (("--from", "outside", "--to", "host:80/gre"), "unknown protocol 'gre'"),
        (("--from", "outside", "--to", "host:80/tcp", "--via", "nonsense"), "--via 'nonsense' is not an IP address"),
    ],
)
def test_bad_endpoints_exit_2_before_reading_anything(capsys, argv, fragment) -> None:
    code, out, err = _run(capsys, "explain", "/nonexistent/rules", *argv)
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err and out == ""


def test_missing_rules_file(capsys) -> None:
    code, _, err = _run(capsys, "explain", "/nonexistent/rules", "--from", "outside", "--to", "host:80/tcp")
    assert code == 2
    assert "'/nonexistent/rules' does not exist" in err


def test_snapshot_without_rules(capsys, tmp_path) -> None:
    code, _, err = _run(capsys, "trace", str(tmp_path), "--from", "outside", "--to", "host:80/tcp")
    assert code == 2
    assert "holds neither iptables.rules nor ip6tables.rules" in err


def test_usage_errors_from_a_subprocess_have_no_traceback() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "natsim", "explain", str(EXAMPLE), "--from", "outside", "--to", "container:"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "container name is needed" in proc.stderr
    assert "Traceback" not in proc.stderr
