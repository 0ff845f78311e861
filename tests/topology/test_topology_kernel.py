"""Real namespaces, read two ways (pyroute2 and the snapshot commands), give one model; issue 8 on a real bridge.

The lab (tests/lab) builds a Docker-like host: bridge docker0 172.17.0.1/16, containers c1
172.17.0.2 (its bridge port has hairpin on) and c2 172.17.0.3 (hairpin off), each publishing
port 80 (8080, 8081), and c3 172.17.0.4 whose server listens on 127.0.0.1:80 only (published
on 8082), with Docker 29's userland-proxy=false rules, uplink 198.18.0.1/24.
"""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path

import pytest

from natsim.cli import main
from natsim.engine.tri import Unknown
from natsim.parse import parse_file
from natsim.testing.docker import BridgeSpec, ContainerSpec, DockerHost, PortSpec, docker_rules
from natsim.topology.infer import infer_topology
from natsim.topology.live import read_live, read_live_topology
from natsim.topology.snapshot import read_snapshot

pytestmark = pytest.mark.kernel

ip = ipaddress.ip_address
DOCKER = DockerHost(
    era="29", userland_proxy=False,
    bridges=(BridgeSpec("docker0", ipaddress.IPv4Network("172.17.0.0/16")),),
    containers=(ContainerSpec("c1", "docker0", ipaddress.IPv4Address("172.17.0.2"), (PortSpec(8080, 80),), True),
                ContainerSpec("c2", "docker0", ipaddress.IPv4Address("172.17.0.3"), (PortSpec(8081, 80),), False),
                ContainerSpec("c3", "docker0", ipaddress.IPv4Address("172.17.0.4"), (PortSpec(8082, 80),), False)),
)


@pytest.fixture(scope="module")
def lab():
    from tests.lab import HOST, Bridge, Container, Host, Listen, Publish, build

    spec = Host(
        backend="nft", rules_v4=docker_rules(DOCKER), bridges=(Bridge("docker0", "172.17.0.1/16"),),
        containers=(Container("c1", "docker0", "172.17.0.2", listen=(Listen("tcp", 80),), hairpin=True),
                    Container("c2", "docker0", "172.17.0.3", listen=(Listen("tcp", 80),), hairpin=False),
                    Container("c3", "docker0", "172.17.0.4", listen=(Listen("tcp", 80, "127.0.0.1"),), hairpin=False)),
        publish=(Publish("c1", 80, 8080), Publish("c2", 80, 8081), Publish("c3", 80, 8082)), userland_proxy=False,
        host_listen=(Listen("tcp", 2222),),
    )
    with build(spec, prefix="topo") as h:
        h.netns_host = h.ns[HOST]
        yield h


@pytest.fixture(scope="module")
def hairpin_probes(lab):
    """The kernel's answer for issue 8, measured once; the traffic also fills ip neigh and the bridge FDB."""
    host = lab.address("host")
    return {c: lab.probe(c, host, port, timeout=0.5) for c, port in (("c1", 8080), ("c2", 8081))}


def snapshot(lab, directory: Path) -> Path:
    assert main(["snapshot", str(directory), "--netns", lab.netns_host, "--no-docker"]) == 0
    return directory


def net_sysctls(ns) -> dict[str, str]:
    return {s.key: s.value for s in ns.sysctls or () if s.key.startswith("net.")}


def test_snapshot_commands_and_pyroute2_read_the_same_model(lab, tmp_path: Path) -> None:
    for _attempt in range(3):  # neighbour and FDB entries may change between two reads: retry
        live = read_live(lab.netns_host)
        snap = read_snapshot(snapshot(lab, tmp_path / f"snap{_attempt}")).topology.host_namespace
        if live.neighbours == snap.neighbours and live.fdb == snap.fdb:
            break
    assert snap.links == live.links
    assert snap.routes == live.routes
    assert snap.policy_rules == live.policy_rules
    assert snap.listeners == live.listeners
    assert net_sysctls(snap) == net_sysctls(live)
    assert snap.neighbours == live.neighbours and snap.fdb == live.fdb
    # and the model holds what the lab built
    assert {p.name for p in live.ports_of("docker0")} == {lab.bridge_port(c) for c in ("c1", "c2", "c3")}
    assert live.link(lab.bridge_port("c1")).hairpin is True
    assert live.link(lab.bridge_port("c2")).hairpin is False
    assert live.is_local(ip("198.18.0.1")) is True and live.is_local(ip("172.17.0.2")) is False
    assert live.sysctl_int("net.ipv4.ip_forward") == 1
    assert live.bridge_nf_call(4, "docker0") is True
    assert any(l.port == 2222 for l in live.listeners)


def test_read_live_topology_in_a_namespace(lab) -> None:
    topo, notes = read_live_topology(lab.netns_host, sandboxes={"c3": f"/run/netns/{lab.ns['c3']}"})
    assert topo.host_namespace.link("docker0").kind == "bridge"
    assert any("netlink" in n for n in notes)
    c3 = topo.namespace("container:c3")  # read through its path, as a Docker SandboxKey would be
    assert c3.role == "container" and c3.is_local(ip("172.17.0.4")) is True
    assert [(str(l.address), l.port) for l in c3.listeners if l.proto == "tcp"] == [("127.0.0.1", 80)]


def test_issue8_bridge_port_and_hairpin_from_the_snapshot(lab, hairpin_probes, tmp_path: Path) -> None:
    # the kernel: only the container whose own port hairpins reaches itself through its published port
    assert hairpin_probes["c1"].outcome == "connected"
    assert hairpin_probes["c2"].outcome != "connected"
    d = snapshot(lab, tmp_path / "snap")
    rules = {4: parse_file(d / "iptables.rules").ruleset}
    topo = infer_topology(rules, read_snapshot(d).topology)
    c1, c2 = topo.container_at(ip("172.17.0.2")), topo.container_at(ip("172.17.0.3"))
    assert c1 is not None and c2 is not None
    b1, b2 = topo.bridge_port(c1.name), topo.bridge_port(c2.name)
    assert (b1.bridge, b1.port, b1.hairpin) == ("docker0", lab.bridge_port("c1"), True)
    assert (b2.bridge, b2.port, b2.hairpin) == ("docker0", lab.bridge_port("c2"), False)
    # without ip-neigh.json and bridge-fdb.json the link is gone, and the ports differ: unknown, naming the files
    shutil.rmtree(tmp_path / "cut", ignore_errors=True)
    cut = Path(shutil.copytree(d, tmp_path / "cut"))
    (cut / "ip-neigh.json").unlink()
    (cut / "bridge-fdb.json").unlink()
    topo = infer_topology(rules, read_snapshot(cut).topology)
    hp = topo.hairpin(c1.name)
    assert isinstance(hp, Unknown) and "ip-neigh.json" in hp.reason and "differ in hairpin" in hp.reason


def test_issue8_natsim_says_what_the_kernel_did(lab, hairpin_probes, tmp_path: Path) -> None:
    """End to end: the verdicts from the snapshot match the kernel; without the two files they are unknown."""
    from natsim.engine import Flow
    from natsim.explain.inputs import load_inputs

    d = snapshot(lab, tmp_path / "snap")
    host = ip(lab.address("host"))
    flows = {"c1": Flow("container:172.17.0.2", host, "tcp", 8080), "c2": Flow("container:172.17.0.3", host, "tcp", 8081)}
    inputs = load_inputs(str(d))
    kernel = {c: "reachable" if p.outcome == "connected" else "blocked" for c, p in hairpin_probes.items()}
    assert kernel == {"c1": "reachable", "c2": "blocked"}
    assert {c: inputs.simulate(f).verdict for c, f in flows.items()} == kernel
    (d / "ip-neigh.json").unlink()
    (d / "bridge-fdb.json").unlink()
    inputs = load_inputs(str(d))
    assert {c: inputs.simulate(f).verdict for c, f in flows.items()} == {"c1": "unknown", "c2": "unknown"}
    said = tuple(inputs.assumptions) + tuple(getattr(inputs, "notes", ()))
    assert any("bridge-fdb.json" in a for a in said), said


SS_SOCKETS = """
import socket, subprocess, sys
a = socket.socket(socket.AF_INET6); a.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0); a.bind(("::", 81)); a.listen()
b = socket.socket(socket.AF_INET6); b.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1); b.bind(("::", 82)); b.listen()
c = socket.socket(); c.bind(("127.0.0.1", 83)); c.listen()
sys.stdout.write(subprocess.run(["ss", "-Hltnup"], capture_output=True, text=True, timeout=5).stdout)
"""


def test_ss_star_is_a_dual_stack_socket_and_brackets_mean_v6only() -> None:
    """docs/decisions/0043: ss prints `*` for [::] with v6only=0 and `[::]` for v6only=1."""
    import os
    import subprocess

    from natsim.topology.iproute import parse_ss

    name = f"topo-ss.{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True, timeout=10)
        out = subprocess.run(["ip", "netns", "exec", name, "python3", "-c", SS_SOCKETS], capture_output=True,
                             text=True, timeout=10, check=True).stdout
    finally:
        subprocess.run(["ip", "netns", "del", name], timeout=10)
    by_port = {l.port: l for l in parse_ss(out, "ss")}
    assert by_port[81].v6only is False and by_port[81].accepts("tcp", ip("127.0.0.1"), 81)
    assert by_port[82].v6only is True and not by_port[82].accepts("tcp", ip("127.0.0.1"), 82)
    assert by_port[83].address == ip("127.0.0.1") and by_port[83].process == "python3"


def test_container_namespaces_in_a_snapshot(lab, tmp_path: Path) -> None:
    """containers/NAME/ holds each container's own files; a server bound to 127.0.0.1 inside one is seen."""
    from natsim.cli.snapshot import collect_containers
    from natsim.engine import Flow
    from natsim.explain.inputs import load_inputs

    d = snapshot(lab, tmp_path / "snap")
    assert collect_containers(d, {c: f"/run/netns/{lab.ns[c]}" for c in ("c1", "c3")}) == []
    topo = read_snapshot(d).topology
    c1 = topo.namespace("container:c1")
    assert c1.role == "container" and c1.is_local(ip("172.17.0.2")) is True
    assert any(l.port == 80 and l.address.is_unspecified for l in c1.listeners)
    c3 = topo.namespace("container:c3")
    assert [(str(l.address), l.port) for l in c3.listeners if l.proto == "tcp"] == [("127.0.0.1", 80)]
    # the rules know the containers only by address; the namespaces give them their names
    rules = {4: parse_file(d / "iptables.rules").ruleset}
    named = infer_topology(rules, topo)
    assert named.container_at(ip("172.17.0.2")).name == "c1" and named.container_at(ip("172.17.0.4")).name == "c3"
    # natsim and the kernel agree: outside -> host:8082 reaches c3, where nothing listens on 172.17.0.4:80
    kernel = lab.probe("outside", lab.address("host"), 8082, timeout=0.5)
    assert kernel.outcome == "refused"
    result = load_inputs(str(d)).simulate(Flow("outside", ip(lab.address("host")), "tcp", 8082))
    assert result.verdict == "blocked", [o.reason for o in result.outcomes]
    ok = load_inputs(str(d)).simulate(Flow("outside", ip(lab.address("host")), "tcp", 8080))
    assert ok.verdict == "reachable" and lab.probe("outside", lab.address("host"), 8080).outcome == "connected"


def test_container_namespace_links_its_port_without_neigh_or_fdb(lab, tmp_path: Path) -> None:
    """With containers/c1/ read, c1's eth0 names its peer's ifindex: the port is known without the two files."""
    from natsim.cli.snapshot import collect_containers

    d = snapshot(lab, tmp_path / "snap")
    collect_containers(d, {"c1": f"/run/netns/{lab.ns['c1']}"})
    (d / "ip-neigh.json").unlink()
    (d / "bridge-fdb.json").unlink()
    topo = infer_topology({4: parse_file(d / "iptables.rules").ruleset}, read_snapshot(d).topology)
    bp = topo.bridge_port("c1")
    assert (bp.port, bp.hairpin) == (lab.bridge_port("c1"), True)
    assert isinstance(topo.hairpin("172.17.0.3"), Unknown)  # c2's namespace was not collected
