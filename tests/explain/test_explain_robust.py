"""Every corpus ruleset, every renderer: an answer or a usage error (exit 2), never an internal error (exit 3)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from natsim.cli import main

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"
HOST_TOML = str(Path(__file__).parent / "data" / "moby-usernet-host.toml")
FILES = sorted(p for p in CORPUS.iterdir() if p.suffix in (".rules", ".txt"))
QUESTIONS = [
    ("explain", "outside", "host:8080/tcp", "--json"),
    ("trace", "container:c1", "host:8080/tcp"),
    ("explain", "host", "192.0.2.2/icmp"),
    ("trace", "198.51.100.7", "[2001:db8::1]:53/udp", "--json"),
]


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_no_internal_error(capsys, path: Path) -> None:
    for command, src, dst, *more in QUESTIONS:
        code = main([command, str(path), "--lenient", "--topology", HOST_TOML, "--from", src, "--to", dst, *more])
        out, err = capsys.readouterr()
        assert code in (0, 2), (command, src, dst, err)
        if code == 2:
            assert err.strip() and "Traceback" not in err
        elif more:
            assert json.loads(out)["verdict"] in ("reachable", "blocked", "unknown")
        else:
            assert out.split(": ", 1)[1].split()[0] in ("REACHABLE", "BLOCKED", "UNKNOWN", "DEPENDS")
