"""natsim's verdict and seen address against the kernel's, for every scenario of the lab's catalog.

The catalog (tests/kernel/scenarios/) holds Docker hosts as data and the kernel's recorded
outcome of each flow on both iptables backends (``expected.json``; the lab re-measures it in
its own test so the record cannot rot).  Here each scenario's host is turned into a natsim
Topology, its rules are parsed, and every flow is simulated: natsim must say *reachable*
exactly when the kernel connected, name the same server, and report the same seen address.
Refused/timeout/unreachable are compared too where the kernel's answer is one of them.

``test_engine_matches_live_kernel`` re-probes a few flows live (root only) so this file also
checks against the kernel directly, not only against the record.
"""

from __future__ import annotations

import ipaddress
import json
from functools import cache
from pathlib import Path

import pytest

from natsim.engine import Flow, Network, simulate
from natsim.parse import parse_ipset_text, parse_text
from natsim.topology.model import (
    Container as TContainer,
    DaemonOptions,
    DockerNetwork,
    Endpoint,
    Link,
    LinkAddress,
    Listener,
    Namespace,
    PublishedPort,
    Sysctl,
    Topology,
    read_from,
)
from tests.kernel.scenarios.catalog import Scenario, catalog
from tests.lab.spec import Host

EXPECTED = Path(__file__).with_name("scenarios") / "expected.json"
SRC = read_from("lab-scenario")
LO = Link("lo", "loopback", (LinkAddress(ipaddress.ip_address("127.0.0.1"), 8, "host", SRC),
                             LinkAddress(ipaddress.ip_address("::1"), 128, "host", SRC)), True, provenance=SRC)


def _la(cidr: str) -> LinkAddress:
    i = ipaddress.ip_interface(cidr)
    return LinkAddress(i.ip, i.network.prefixlen, "global", SRC)


def _listeners(ls, family_addrs) -> tuple[Listener, ...]:
    out = []
    for l in ls:
        if l.addr is not None:
            out.append(Listener(l.proto, ipaddress.ip_address(l.addr), l.port, "server", provenance=SRC))
        else:
            out.append(Listener(l.proto, ipaddress.ip_address("0.0.0.0"), l.port, "server", provenance=SRC))
            out.append(Listener(l.proto, ipaddress.ip_address("::"), l.port, "server", v6only=True, provenance=SRC))
    return tuple(out)


def topology_of(spec: Host) -> Topology:
    """The lab host as natsim's topology: every fact the lab sets, read (not assumed)."""
    host_links = [LO, Link(spec.uplink, "physical", tuple(_la(a) for a in spec.uplink_v4 + spec.uplink_v6), True,
                           provenance=SRC)]
    networks, containers, namespaces = [], [], []
    for b in spec.bridges:
        addrs = tuple(_la(a) for a in (b.v4, b.v6) if a)
        host_links.append(Link(b.name, "bridge", addrs, True, bridge_nf_call_iptables=False,
                               bridge_nf_call_ip6tables=False, provenance=SRC))
        networks.append(DockerNetwork(b.name, driver="bridge", bridge=b.name,
                                      subnets=tuple(ipaddress.ip_interface(a).network for a in (b.v4, b.v6) if a),
                                      gateways=tuple(ipaddress.ip_interface(a).ip for a in (b.v4, b.v6) if a),
                                      provenance=SRC))
    listen_of: dict[str, list] = {}
    for c in spec.containers:
        listen_of.setdefault(spec.netns_owner(c.name).name, []).extend(c.listen)
    for i, c in enumerate(spec.containers):
        ports = tuple(PublishedPort(p.container_port, p.proto, p.host_port, ipaddress.ip_address(p.host_ip), SRC)
                      for p in spec.publish if p.container == c.name)
        if c.net_container is not None:
            containers.append(TContainer(c.name, None, f"container:{c.net_container}", (), ports, True, SRC))
            continue
        b = spec.bridge(c.bridge)
        caddrs = []
        ep = Endpoint(b.name, provenance=SRC)
        if c.v4:
            plen = ipaddress.ip_interface(b.v4).network.prefixlen
            caddrs.append(LinkAddress(ipaddress.ip_address(c.v4), plen, "global", SRC))
            ep = Endpoint(b.name, ipaddress.ip_address(c.v4), plen, gateway=ipaddress.ip_address(b.gateway4),
                          provenance=SRC)
        if c.v6 and b.v6:
            plen6 = ipaddress.ip_interface(b.v6).network.prefixlen
            caddrs.append(LinkAddress(ipaddress.ip_address(c.v6), plen6, "global", SRC))
            ep = Endpoint(b.name, ep.ipv4, ep.ipv4_prefixlen, ipaddress.ip_address(c.v6), plen6, None, ep.gateway,
                          ipaddress.ip_address(b.gateway6), SRC)
        containers.append(TContainer(c.name, None, b.name, (ep,), ports, True, SRC))
        hairpin = b.hairpin if c.hairpin is None else c.hairpin
        port = f"veth{i}"
        host_links.append(Link(port, "veth", (), True, master=b.name, hairpin=hairpin, peer="eth0",
                               peer_namespace=f"container:{c.name}", provenance=SRC))
        namespaces.append(Namespace(
            f"container:{c.name}", "container",
            (LO, Link("eth0", "veth", tuple(caddrs), True, peer=port, peer_namespace="host", provenance=SRC)),
            None, None, (), False, _listeners(listen_of.get(c.name, ()), caddrs), provenance=SRC))
    host_listen = list(_listeners(spec.host_listen, ()))
    if spec.userland_proxy:
        for p in spec.publish:
            host_listen.append(Listener(p.proto, ipaddress.ip_address(p.host_ip), p.host_port, "docker-proxy",
                                        provenance=SRC))
    sysctls = [("net.ipv4.ip_forward", int(spec.ip_forward)), ("net.ipv6.conf.all.forwarding", int(spec.ip_forward)),
               ("net.bridge.bridge-nf-call-iptables", int(spec.br_netfilter)),
               ("net.bridge.bridge-nf-call-ip6tables", int(spec.br_netfilter)),
               ("net.ipv4.conf.all.rp_filter", spec.rp_filter), ("net.ipv4.conf.all.accept_local", 0),
               ("net.ipv4.conf.all.route_localnet", int("all" in spec.route_localnet))]
    for link in host_links:
        sysctls.append((f"net.ipv4.conf.{link.name}.route_localnet", int(link.name in spec.route_localnet)))
        sysctls.append((f"net.ipv4.conf.{link.name}.accept_local", 0))
        sysctls.append((f"net.ipv4.conf.{link.name}.rp_filter", spec.rp_filter))
    host = Namespace("host", "host", tuple(host_links), None, None,
                     tuple(Sysctl(k, str(v), SRC) for k, v in sysctls), False, tuple(host_listen), provenance=SRC)
    return Topology((host, *namespaces), tuple(networks), tuple(containers),
                    DaemonOptions(userland_proxy=spec.userland_proxy, ip_forward=spec.ip_forward, provenance=SRC))


def network_of(spec: Host) -> Network:
    rulesets = {4: parse_text(spec.rules_v4, "lab-rules-v4", family=4).ruleset}
    if spec.rules_v6:
        rulesets[6] = parse_text(spec.rules_v6, "lab-rules-v6", family=6).ruleset
    ipsets = parse_ipset_text(spec.ipsets, "lab-ipsets") if spec.ipsets else None
    return Network(rulesets=rulesets, ipsets=ipsets, topology=topology_of(spec))


def flow_of(spec: Host, f) -> Flow:
    src = "outside" if f.frm == "outside" else ("host" if f.frm == "host" else f"container:{f.frm}")
    addr = None
    if f.frm == "outside":
        addr = ipaddress.ip_address(spec.outside_v4 if ":" not in f.dst else spec.outside_v6)
    return Flow(src, ipaddress.ip_address(f.dst), f.proto, f.port, source_address=addr)


def server_name(spec: Host, namespace: str | None, port: int | None) -> str | None:
    """The lab's name for who answered: a container (the one listening on the port), host, outside."""
    if namespace is None:
        return None
    if namespace in ("host", "outside"):
        return namespace
    owner = namespace.split(":", 1)[1]
    for c in spec.containers:
        if spec.netns_owner(c.name).name == owner and any(l.port == port for l in c.listen):
            return c.name
    return owner


@cache
def _expected() -> dict:
    return json.loads(EXPECTED.read_text())["scenarios"]


@cache
def _networks() -> dict[str, tuple[Scenario, Network]]:
    return {s.name: (s, network_of(s.spec)) for s in catalog()}


def _cases():
    exp = _expected()
    for s in catalog():
        rec = exp.get(s.name)
        if rec is None:
            continue
        for f in s.flows:
            fr = next((x for x in rec["flows"] if x["id"] == f.id), None)
            if fr is None:
                continue
            for backend in ("nft", "legacy"):
                k = fr["kernel"] if backend == "nft" or fr.get("backends_agree", True) else fr.get("legacy", fr["kernel"])
                yield pytest.param(s.name, f, backend, k, id=f"{s.name}:{backend}:{f.id}")


#: Disagreements that are documented findings, not engine bugs (see docs/decisions/0060-...).
KNOWN: dict[str, str] = {}


def compare(spec: Host, net: Network, f, kernel: dict) -> list[str]:
    result = simulate(net, flow_of(spec, f))
    problems = []
    if len(result.outcomes) != 1:
        return [f"natsim gives {len(result.outcomes)} outcomes: " + "; ".join(
            f"{o.verdict} if {o.conditions}" for o in result.outcomes)]
    o = result.outcomes[0]
    connected = kernel["outcome"] == "connected"
    if (o.verdict == "reachable") != connected:
        problems.append(f"verdict {o.verdict} ({o.reason}) but kernel {kernel['outcome']}")
    elif connected and f.proto != "icmp":  # for ping the lab records who answered the echo, not a peer
        by = server_name(spec, o.server, o.destination_port)
        if by != kernel["by"]:
            problems.append(f"server {by} but kernel {kernel['by']}")
        if str(o.seen_source) != kernel["seen"]:
            problems.append(f"seen {o.seen_source} but kernel {kernel['seen']}")
    elif kernel["outcome"] in ("refused", "timeout", "unreachable") and o.end != kernel["outcome"]:
        problems.append(f"end {o.end} ({o.reason}) but kernel {kernel['outcome']}")
    return problems


@pytest.mark.parametrize("scenario,flow,backend,kernel", list(_cases()))
def test_engine_matches_recorded_kernel(scenario: str, flow, backend: str, kernel: dict) -> None:
    s, net = _networks()[scenario]
    key = f"{scenario}:{flow.id}"
    problems = compare(s.host(backend), net, flow, kernel)
    if key in KNOWN:
        pytest.xfail(KNOWN[key])
    assert not problems, "; ".join(problems)


# ---------------------------------------------------------------------------- live kernel


LIVE = {  # scenario -> flows re-probed live on both backends (a few per behaviour, to keep the suite short)
    "v28.5-noproxy": ("c1->198.18.0.1:8080/tcp", "c2->198.18.0.1:8080/tcp", "host->127.0.0.1:8080/tcp",
                      "outside->198.18.0.1:8080/tcp"),
    "v28.5-proxy": ("host->127.0.0.1:8080/tcp", "c2->198.18.0.1:8080/tcp", "outside->192.0.2.2:80/tcp",
                    "c1->198.18.0.2:80/tcp"),
}


def _live_cases():
    for name, ids in LIVE.items():
        for backend in ("nft", "legacy"):
            yield pytest.param(name, backend, ids, id=f"{name}:{backend}")


@pytest.mark.kernel
@pytest.mark.parametrize("scenario,backend,ids", list(_live_cases()))
def test_engine_matches_live_kernel(scenario: str, backend: str, ids: tuple[str, ...]) -> None:
    from tests.lab import build

    s, net = _networks()[scenario]
    spec = s.host(backend)
    flows = [f for f in s.flows if f.id in ids]
    assert len(flows) == len(ids)
    with build(spec, prefix="engine") as h:
        for f in flows:
            kernel = _live(h, spec, net, f)
            assert not compare(spec, net, f, kernel), (f.id, kernel, compare(spec, net, f, kernel))


def _live(h, spec, net, f) -> dict:
    """The kernel's answer to one flow; a timeout natsim disagrees with is probed once more with a long
    timeout first (a busy machine is not a drop; a real drop times out again)."""
    probe = h.probe(f.frm, f.dst, f.port, proto=f.proto, timeout=0.3)
    kernel = {"outcome": probe.outcome, "by": probe.by, "seen": probe.seen}
    if probe.outcome == "timeout" and compare(spec, net, f, kernel):
        probe = h.probe(f.frm, f.dst, f.port, proto=f.proto, timeout=1.5)
        kernel = {"outcome": probe.outcome, "by": probe.by, "seen": probe.seen}
    return kernel


def _kernel_events(lines: list[str]) -> list[tuple[str, str, str]]:
    """(table, chain, rule text or 'policy ACCEPT') of the first traced packet, without the lab's TRACE rules."""
    first = None
    ipid = None
    out = []
    for line in lines:
        parts = line.split()
        if line.startswith("PACKET:"):
            this = next((p for p in parts if p.startswith("ID=")), None)
            if first is None:
                first, ipid = parts[2], this
            elif parts[2] == first and this != ipid:
                break  # trace ids are hashes: a later packet may reuse the first one's
            continue
        if not line.lstrip().startswith("TRACE:") or parts[2] != first:
            continue
        where = parts[3].split(":")
        table, chain, kind = where[0], where[1], where[2]
        if kind == "policy":
            out.append((table, chain, f"policy {where[3]}"))
            continue
        text = line.split("  ", 1)[1].strip() if "  " in line else ""
        if "-j TRACE" in text:
            continue
        text = text.split(f"-t {table} ", 1)[-1]  # "-4 -t nat -A DOCKER ..." -> "-A DOCKER ..."
        out.append((table, chain, text))
    return out


def _natsim_events(result) -> list[tuple[str, str, str]]:
    leg = result.outcomes[0].legs[0]
    out = []
    for step in leg.steps:
        if step.namespace != "host":
            continue
        if step.kind == "policy":
            out.append((step.table, step.chain, step.note))
        elif step.kind == "rule" and step.matched is True:
            out.append((step.table, step.chain, step.rule.text or ""))
    return out


TRACED = ("outside->198.18.0.1:8080/tcp", "outside->192.0.2.2:80/tcp", "c2->192.0.2.2:80/tcp",
          "host->198.18.0.1:8080/tcp")


@pytest.mark.kernel
def test_engine_trace_matches_xtables_monitor_trace() -> None:
    """natsim's matched rules and policies, hook by hook, equal the kernel's nft trace of the first packet."""
    from tests.lab import build

    s, net = _networks()["v28.5-proxy-brnf"]
    spec = s.host("nft")
    flows = [f for f in s.flows if f.id in TRACED]
    with build(spec, prefix="enginetrace") as h:
        for f in flows:
            probe, lines = h.trace(f.frm, f.dst, f.port, f.proto, first_only=True)
            kernel = _kernel_events(lines)
            ours = _natsim_events(simulate(net, flow_of(spec, f)))
            assert kernel, (f.id, lines)
            assert ours == kernel, (f.id, ours, kernel)


@pytest.mark.kernel
@pytest.mark.parametrize("br_netfilter", [True, False])
def test_engine_physdev_matches_kernel(br_netfilter: bool) -> None:
    """-m physdev: the port is known in INPUT for frames that came through a bridge (with br_netfilter),
    --physdev-is-bridged only for bridged frames, and nothing at all without br_netfilter."""
    from dataclasses import replace

    from tests.kernel.scenarios.catalog import Flow as CFlow
    from tests.lab import build
    from tests.lab.rulesets import with_rules

    s, _ = _networks()["v28.5-proxy-brnf"]
    spec = replace(s.host("nft"), br_netfilter=br_netfilter)
    port = "veth1"  # the lab names host-side ports veth<i> in container order: c2 is the second
    assert spec.containers[1].name == "c2"
    spec = replace(spec, rules_v4=with_rules(spec.rules_v4, "filter",
                                             f"-I INPUT -m physdev --physdev-in {port} -j DROP",
                                             f"-I FORWARD -m physdev --physdev-in {port} --physdev-is-bridged -j DROP"))
    net = network_of(spec)
    flows = [CFlow("c2", "198.18.0.1", 9000), CFlow("c2", "192.0.2.2", 80), CFlow("c2", "198.18.0.2", 80)]
    with build(spec, prefix="enginepd") as h:
        assert h.bridge_port("c2") == port
        for f in flows:
            kernel = _live(h, spec, net, f)
            assert not compare(spec, net, f, kernel), (f.id, kernel, compare(spec, net, f, kernel))
