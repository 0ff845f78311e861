"""`natsim audit live --netns` and `natsim matrix live --netns` read a real namespace, read-only.

The namespace gets the hostaudit host's rules (ufw + Docker 28) with a published port, loaded by
iptables-legacy-restore, and a veth uplink; the live audit must find what the offline audit of
the same text finds (Docker's DNAT bypasses ufw's INPUT DROP), and the live matrix must show the
published port DNATed but not forwarded (a fresh namespace has ip_forward=0) and the port no rule
names closed by ufw's INPUT DROP.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from natsim.cli import main
from tests.audit.test_audit_corpus import _with_published_port
from tests.live.conftest import FIXTURES, restore, save

pytestmark = [
    pytest.mark.kernel,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces"),
    pytest.mark.skipif(shutil.which("iptables-legacy-restore") is None, reason="iptables-legacy is not installed"),
]


def _host_text() -> str:
    text = (FIXTURES / "hostaudit-ufw-docker28-libvirt-counters.v4.rules").read_text()
    # the dump's redacted placeholders are not valid iptables input: leave those lines out
    return "\n".join(l for l in _with_published_port(text).splitlines() if "REDACTED" not in l and "IP4_1" not in l) + "\n"


def _uplink(ns: str, peer_ns: str) -> None:
    """eth0 in ``ns``, its veth peer in ``peer_ns`` (the router beyond it at 203.0.113.1)."""
    for argv in (["link", "set", "lo", "up"], ["link", "add", "eth0", "type", "veth", "peer", "name", "up0",
                                                 "netns", peer_ns],
                 ["addr", "add", "203.0.113.5/24", "dev", "eth0"], ["link", "set", "eth0", "up"],
                 ["route", "add", "default", "via", "203.0.113.1"]):
        subprocess.run(["ip", "-n", ns, *argv], check=True, capture_output=True, timeout=10)


def test_live_audit_and_matrix_of_a_namespace(make_netns, capsys, tmp_path) -> None:
    ns = make_netns("audit")
    _uplink(ns, make_netns("router"))
    restore(ns, _host_text(), backend="legacy")
    offline = tmp_path / "same.rules"
    offline.write_text(save(ns, backend="legacy"))

    assert main(["audit", "live", "--netns", ns, "--format", "json"]) == 0
    live = json.loads(capsys.readouterr().out)
    assert main(["audit", str(offline), "--format", "json"]) == 0
    saved = json.loads(capsys.readouterr().out)
    checks = lambda doc: sorted(f["check"] for f in doc["findings"])  # noqa: E731
    assert "docker-bypasses-input" in checks(live)
    assert checks(live) == checks(saved)

    assert main(["matrix", "live", "--netns", ns, "--format", "json"]) == 0
    m = json.loads(capsys.readouterr().out)
    cells = {(c["zone"], c["service"]): c["verdict"] for c in m["cells"]}
    published = next(c for c in m["cells"] if c["zone"] == "outside:eth0" and c["service"] == "published *:8080/tcp")
    # the DNAT happens, but a fresh namespace does not forward: the live sysctl decides, not Docker's default
    assert published["verdict"] == "blocked"
    assert all("172.17.0.2:80" in e["nat"][0] and "ip_forward=0" in e["reason"] for e in published["entries"])
    free = next(s["key"] for s in m["services"] if "no rule names it" in s["key"])
    assert cells[("outside:eth0", free)] == "blocked"  # ufw's INPUT DROP


def test_netns_needs_live(capsys) -> None:
    path = FIXTURES / "fffuu-sargon.rules"
    assert main(["matrix", str(path), "--netns", "x"]) == 2
    assert "--netns x reads a live namespace" in capsys.readouterr().err
