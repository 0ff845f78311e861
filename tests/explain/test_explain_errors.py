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


def test_a_bad_rules_file_points_at_line_and_column(capsys, tmp_path) -> None:
    rules = tmp_path / "bad.rules"
    rules.write_text("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p tcp --dport 99999 -j ACCEPT\nCOMMIT\n")
    code, out, err = _run(capsys, "explain", str(rules), "--from", "outside", "--to", "10.0.0.1:80/tcp")
    assert code == 2 and out == ""
    assert err.startswith(f"{rules}:3:25: found '99999'; expected a port")
    assert "Traceback" not in err


def test_a_bad_topology_file_is_located(capsys, tmp_path) -> None:
    topo = tmp_path / "t.toml"
    topo.write_text('[[container]]\nname = "web"\nnetwork-mode = "bridge"\naddress = "10.0.0.300/24"\n')
    code, _, err = _run(capsys, "explain", str(EXAMPLE), "--topology", str(topo), "--from", "outside", "--to", "host:8066/tcp")
    assert code == 2
    assert err.startswith(f"{topo}:4:")


def test_unknown_container_lists_the_known_ones(capsys) -> None:
    code, _, err = _run(capsys, "explain", str(EXAMPLE), "--from", "container:mysql", "--to", "host:8066/tcp")
    assert code == 2
    assert "container:mysql is not known; known containers: mysqlserver, webapp" in err


def test_via_must_be_a_host_address(capsys) -> None:
    code, _, err = _run(capsys, "explain", str(EXAMPLE), "--from", "host", "--to", "host:8066/tcp", "--via", "10.1.1.1")
    assert code == 2
    assert "--via 10.1.1.1 is not an address of the host; its addresses: 127.0.0.1" in err


# Endpoint strings a fuzzer tried: each is a usage error (exit 2) before any file is read, never an internal error.
@pytest.mark.parametrize(
    "argv, fragment",
    [
        # "²".isdigit() is True but int("²") raises: was "internal error: ValueError"
        (("--from", "outside", "--to", "host:\u00b2/tcp"), "port '\u00b2' is not a number from 1 to 65535"),
        (("--from", "outside", "--to", "host:\uff18\uff10/tcp"), "is not a number from 1 to 65535"),
        # an unmatched bracket was stripped and the address accepted
        (("--from", "[::1", "--to", "host:80/tcp"), "bad source endpoint '[::1'"),
        (("--from", "::1]", "--to", "host:80/tcp"), "bad source endpoint '::1]'"),
        (("--from", "outside", "--to", "host:80/tcp", "--via", "[::1"), "--via '[::1' is not an IP address"),
        # ::1:8066 is a valid IPv6 address, so the port looked missing without a word why
        (("--from", "outside", "--to", "::1:8066/tcp"), "write an IPv6 address with a port as [V6]:PORT"),
    ],
)
def test_fuzzed_endpoints_exit_2(capsys, argv, fragment) -> None:
    code, out, err = _run(capsys, "explain", "/nonexistent/rules", *argv)
    assert code == 2, err
    assert fragment in err
    assert "internal error" not in err and out == ""
