"""Source classes are cut by the host's routes (decision 0154), checked against the kernel.

A host with its default route on eth0 and a LAN on eth1 drops, with ``-m rpfilter --invert``
on eth1, a packet whose source the host would route back by eth0 (a distant address) and
keeps one from an on-link neighbour of eth1. The matrix must tell the two apart (it lumped
them together and called the whole of eth1 blocked); the kernel's rule counter says which
probe the rule dropped, on both iptables backends.
"""

from __future__ import annotations

import ipaddress
import subprocess
import textwrap

import pytest

from natsim.audit.load import load
from natsim.audit.matrix import build_matrix
from natsim.engine import Flow, simulate
from tests.lab import netns

pytestmark = pytest.mark.kernel

RULES = """*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -i eth1 -p tcp -m rpfilter --invert -j DROP
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 2222 -j ACCEPT
COMMIT
"""

TOPOLOGY = """host = "host"

[[namespace]]
name = "host"
role = "host"

[[namespace.interface]]
name = "lo"
kind = "loopback"
addresses = ["127.0.0.1/8"]

[[namespace.interface]]
name = "eth0"
kind = "physical"
addresses = ["10.0.0.1/24"]

[[namespace.interface]]
name = "eth1"
kind = "physical"
addresses = ["10.1.0.1/24"]

[[namespace.route]]
dst = "0.0.0.0/0"
dev = "eth0"
via = "10.0.0.2"

[[namespace.route]]
dst = "10.0.0.0/24"
dev = "eth0"
src = "10.0.0.1"

[[namespace.route]]
dst = "10.1.0.0/24"
dev = "eth1"
src = "10.1.0.1"

[namespace.sysctl]
"net.ipv4.ip_forward" = 0
"net.ipv4.conf.all.rp_filter" = 0
"net.ipv4.conf.default.rp_filter" = 0
"net.ipv4.conf.eth0.rp_filter" = 0
"net.ipv4.conf.eth1.rp_filter" = 0
"""

NEIGHBOUR, DISTANT = "10.1.0.2", "192.0.2.50"

CONNECT = textwrap.dedent("""
    import socket, sys
    s = socket.socket()
    s.settimeout(0.3)
    s.bind((sys.argv[1], 0))
    try:
        s.connect(("10.1.0.1", 2222))
        print("connected")
    except OSError as e:
        print("failed", e)
""")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=10)


def _in(ns: str, argv: list[str], stdin: str | None = None) -> str:
    p = subprocess.run(["ip", "netns", "exec", ns, *argv], input=stdin, capture_output=True, text=True, timeout=10)
    if p.returncode != 0:
        raise AssertionError(f"{' '.join(argv)} in {ns}: {p.stderr.strip()}")
    return p.stdout


def _drops(host: str, backend: str) -> int:
    """Packets the raw PREROUTING rpfilter rule has dropped so far."""
    for line in _in(host, [f"iptables-{backend}-save", "-c", "-t", "raw"]).splitlines():
        if "rpfilter" in line and line.startswith("["):
            return int(line[1:].split(":", 1)[0])
    raise AssertionError("the rpfilter rule is not in the host's raw table")


@pytest.mark.parametrize("backend", ["legacy", "nft"])
def test_rpfilter_tells_on_link_neighbours_from_distant_sources(backend, tmp_path) -> None:
    (tmp_path / "rules.v4").write_text(RULES)
    (tmp_path / "topology.toml").write_text(TOPOLOGY)
    loaded = load(str(tmp_path / "rules.v4"), (str(tmp_path / "topology.toml"),))
    net = loaded.network(assume_uplinks=True)
    m = build_matrix(net, "rpf", assumptions=loaded.assumptions(assume_uplinks=True))
    cell = next(c for c in m.cells.values() if c.zone.key == "outside:eth1" and "2222" in c.service.key)
    assert cell.verdict == "partial", [(e.source_class, e.verdict) for e in cell.entries]
    by_class = {e.source_class: e for e in cell.entries}
    assert by_class["any other address"].verdict == "blocked"
    assert by_class["any other address"].deciding.chain == "PREROUTING"
    on_link = [e for e in cell.entries if e.source_class != "any other address"]
    assert on_link and all(e.verdict == "reachable" for e in on_link)
    expect = {}
    for src in (NEIGHBOUR, DISTANT):
        flow = Flow("outside", ipaddress.ip_address("10.1.0.1"), "tcp", 2222, ipaddress.ip_address(src), None, "eth1")
        expect[src] = simulate(net, flow).verdict
    assert expect == {NEIGHBOUR: "reachable", DISTANT: "blocked"}

    host, lan, up = (netns.new_name("rpf", r) for r in ("host", "lan", "up"))
    netns.create([host, lan, up])
    try:
        _ip("-n", host, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0", "netns", up)
        _ip("-n", host, "link", "add", "eth1", "type", "veth", "peer", "name", "eth0", "netns", lan)
        for ns, lines in (
            (host, ["addr add 10.0.0.1/24 dev eth0", "addr add 10.1.0.1/24 dev eth1", "link set lo up",
                    "link set eth0 up", "link set eth1 up", "route add default via 10.0.0.2"]),
            (up, ["addr add 10.0.0.2/24 dev eth0", "link set lo up", "link set eth0 up"]),
            (lan, ["addr add 10.1.0.2/24 dev eth0", f"addr add {DISTANT}/32 dev eth0", "link set lo up",
                   "link set eth0 up", "route add default via 10.1.0.1"]),
        ):
            _in(ns, ["ip", "-batch", "-"], "\n".join(lines) + "\n")
        for key in ("all", "default", "eth0", "eth1"):
            _in(host, ["sysctl", "-qw", f"net.ipv4.conf.{key}.rp_filter=0"])
        _in(host, [f"iptables-{backend}-restore"], RULES)
        server = subprocess.Popen(
            ["ip", "netns", "exec", host, "python3", "-c",
             "import socket,time\ns=socket.socket()\ns.bind(('0.0.0.0',2222))\ns.listen(8)\ntime.sleep(30)"])
        try:
            seen = {}
            for src in (NEIGHBOUR, DISTANT):
                before = _drops(host, backend)
                for _ in range(20):  # the server may still be starting: a refused connect is tried again
                    out = _in(lan, ["python3", "-c", CONNECT, src]).strip()
                    if "refused" not in out:
                        break
                seen[src] = ("dropped" if _drops(host, backend) > before else "passed", out.split()[0])
        finally:
            server.kill()
            server.wait(5)
    finally:
        netns.delete([host, lan, up])
    # the kernel: the neighbour's SYN passes the rule and connects; the distant source's SYN is dropped by it
    assert seen[NEIGHBOUR] == ("passed", "connected")
    assert seen[DISTANT][0] == "dropped" and seen[DISTANT][1] == "failed"
