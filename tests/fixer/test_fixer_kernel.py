"""Kernel facts behind the fixer's engine changes (decision 0136), in a namespace of our own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cases.caseskit import explain_argv

#: IPv6 extension-header matches on a packet with no extension header: none matches, negated or not.
EXT_RULES = [
    "-A INPUT -p tcp -m rt --rt-type 0 -j DROP",
    "-A INPUT -p tcp -m rt ! --rt-type 0 -j DROP",
    "-A INPUT -p tcp -m frag ! --fragid 0 -j DROP",
    "-A INPUT -p tcp -m frag --fragid 0:4294967295 -j DROP",
]
PORT = 9431

CONNECT = """
import socket, sys
srv = socket.socket(socket.AF_INET6); srv.bind(("::1", %d)); srv.listen(1)
c = socket.socket(socket.AF_INET6); c.settimeout(1.0)
try:
    c.connect(("::1", %d)); print("connected")
except socket.timeout:
    print("timeout")
except OSError as e:
    print("error", e)
""" % (PORT, PORT)


def _sh(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=10)


@pytest.fixture(scope="module")
def netns():
    name = f"fixer-{os.getpid()}"
    _sh("ip", "netns", "add", name)
    try:
        _sh("ip", "netns", "exec", name, "ip", "link", "set", "lo", "up")
        yield name
    finally:
        _sh("ip", "netns", "delete", name)


@pytest.mark.kernel
@pytest.mark.parametrize("tool", ["ip6tables-legacy", "ip6tables-nft"])
def test_extension_header_matches_never_match_a_plain_packet(netns: str, tool: str) -> None:
    try:
        for rule in EXT_RULES:
            p = _sh("ip", "netns", "exec", netns, tool, *rule.split())
            assert p.returncode == 0, (rule, p.stderr)
        got = _sh("ip", "netns", "exec", netns, sys.executable, "-c", CONNECT).stdout.strip()
        assert got == "connected", got
    finally:
        _sh("ip", "netns", "exec", netns, tool, "-F", "INPUT")


def test_natsim_agrees_on_extension_header_matches(tmp_path: Path) -> None:
    rules = tmp_path / "ext.ip6.rules"
    rules.write_text("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                     + "\n".join(EXT_RULES) + "\n-A INPUT -s 2001:db8:9::/48 -j ACCEPT\nCOMMIT\n")  # IPv6 by content
    data = explain_argv(str(rules), "--from", "host", "--to", f"[::1]:{PORT}/tcp").data
    assert data["verdict"] == "reachable" and not data["depends_on"], (data["reason"], data["depends_on"])
