"""Differential property suite: natsim's verdict and seen address must equal the kernel's.

For generated Docker hosts (every era, userland-proxy on/off, icc on/off, br_netfilter and
hairpin on/off, FORWARD/INPUT policies, DOCKER-USER restrictions) and flows between outside,
the host and containers, the same host is built in network namespaces and probed with real
connections, on both iptables backends.  One lab per backend, of a fixed shape (3 bridges,
4 containers each serving TCP/UDP on SERVER_PORTS), is reused: each example reloads the
rules, ipsets, sysctls, hairpin flags and docker-proxies and flushes conntrack.

Budget: 100 examples per backend (derandomized on CI by hypothesis's ``ci`` profile);
``--hypothesis-profile=deep`` runs many more.  Each disagreement found was turned into a
regression in fixtures/regressions/ (replayed by tests/property/test_prop_regressions.py).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings

from natsim.engine import Network, simulate
from natsim.parse import parse_ipset_text, parse_text
from natsim.testing.docker import BRIDGES, DockerHost, docker_ipsets, docker_rules
from natsim.testing.topology import OUTSIDE_SERVER_PORTS, SERVER_PORTS, FlowSpec, destination_of, flow_of, port_name
from natsim.testing.topology import scenarios, topology_of
from natsim.testing.verdicts import Disagreement, compare
from tests.property.known import known_disagreement

pytestmark = pytest.mark.kernel

#: Which bridge each lab container sits on: two on docker0 (same bridge), one on each user network.
LAYOUT = ("docker0", "docker0", "br-net1", "br-net2")
TIMEOUT = 0.3  # seconds per probe; blocked flows cost this, local refusals much less
RETRY_TIMEOUT = 1.5  # a timeout natsim disagrees with is probed once more with this

_deep = settings().max_examples > 1000
BUDGET = settings(
    max_examples=settings().max_examples if _deep else 100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
)


def _lab_spec(backend: str):
    from tests.lab import Bridge, Container, Host, Listen

    listen = tuple(Listen(proto, port) for port in SERVER_PORTS for proto in ("tcp", "udp"))
    bridges = tuple(Bridge(name, f"{_gateway(subnet)}/{subnet.split('/')[1]}") for name, subnet in BRIDGES)
    per: dict[str, int] = {}
    containers = []
    for i, bridge in enumerate(LAYOUT):
        per[bridge] = per.get(bridge, 0) + 1
        addr = _gateway(dict(BRIDGES)[bridge], per[bridge] + 1)
        containers.append(Container(f"c{i}", bridge, addr, listen=listen))
    outside = tuple(Listen(proto, port) for port in OUTSIDE_SERVER_PORTS for proto in ("tcp", "udp"))
    return Host(backend=backend, bridges=bridges, containers=tuple(containers), userland_proxy=False,
                br_netfilter=True, uplink_v6=(), outside_v6=None, outside_listen=outside)


def _gateway(subnet: str, offset: int = 1) -> str:
    import ipaddress

    return str(ipaddress.ip_network(subnet).network_address + offset)


class Lab:
    """One running lab, reconfigured for each generated host."""

    def __init__(self, running, backend: str) -> None:
        self.h = running
        self.backend = backend
        self.proxies: list[int] = []
        self.services: list[int] = []

    def configure(self, host: DockerHost) -> None:
        from tests.lab.host import HOST, RESTORE

        h = self.h
        for sid in self.proxies + self.services:
            h.stop_listener(HOST, sid)
        self.proxies, self.services = [], []
        values: list[tuple[str, object]] = [("net.bridge.bridge-nf-call-iptables", int(host.br_netfilter))]
        values += [(f"net.ipv4.conf.{b.name}.route_localnet", int(not host.userland_proxy)) for b in host.bridges]
        h.agents[HOST].call("sysctl", values=values)
        links = "".join(f"link set dev {port_name(host, c.name)} type bridge_slave hairpin {'on' if c.hairpin else 'off'}\n"
                        for c in host.containers)
        h.run(["ip", "-batch", "-"], input=links)
        if ipsets := docker_ipsets(host):
            h.run(["ipset", "restore", "-exist"], input=ipsets)
        tool = RESTORE[(self.backend, 4)]
        h.run([tool, "-w"] if self.backend == "legacy" else [tool], input=docker_rules(host))
        h.flush_conntrack()
        for port in host.host_services:  # a --net=host container's server
            self.services += [h.listen(HOST, proto, port, by="hostnet") for proto in ("tcp", "udp")]
        if host.userland_proxy:
            for c, p in host.published():
                res = h.agents[HOST].call("proxy", proto=p.proto, addr=p.host_ip or "0.0.0.0", port=p.host_port,
                                          to_addr=str(c.address), to_port=p.container_port, by="docker-proxy")
                self.proxies.append(res["sid"])

    def probe(self, host: DockerHost, specs: tuple[FlowSpec, ...], timeout: float = TIMEOUT):
        reqs = [{"frm": s.source, "dst": str(destination_of(host, s)), "port": s.port, "proto": s.proto,
                 "timeout": timeout} for s in specs]
        return self.h.probe_many(reqs)


@pytest.fixture(scope="module", params=["legacy", "nft"])
def lab(request):
    from tests.lab import build

    with build(_lab_spec(request.param), prefix="prop") as running:
        yield Lab(running, request.param)


def natsim_results(host: DockerHost, specs: tuple[FlowSpec, ...]):
    rulesets = {4: parse_text(docker_rules(host), filename="docker.rules").ruleset}
    text = docker_ipsets(host)
    ipsets = parse_ipset_text(text, "ipset.txt") if text else None
    net = Network(rulesets=rulesets, ipsets=ipsets, topology=topology_of(host))
    return [simulate(net, flow_of(host, s)) for s in specs]


@BUDGET
@given(scenario=scenarios(max_flows=4, layout=LAYOUT))
def test_natsim_agrees_with_the_kernel(lab: Lab, scenario) -> None:
    host, specs = scenario
    lab.configure(host)
    probes = lab.probe(host, specs)
    results = natsim_results(host, specs)
    found: list[Disagreement] = []
    for spec, probe, result in zip(specs, probes, results):
        event(f"kernel {probe.outcome}, natsim {result.verdict}")
        d = compare(spec, probe, result)
        if d is not None and probe.outcome == "timeout":
            # A loaded machine (or a slow emulated proxy) is no verdict: set the host up afresh and ask
            # again, patiently. A real disagreement is deterministic and survives this.
            lab.configure(host)
            (probe,) = lab.probe(host, (spec,), timeout=RETRY_TIMEOUT)
            d = compare(spec, probe, result)
            if d is None:
                event("a timeout went away when probed again")
        if d is not None and known_disagreement(host, spec, d) is None:
            found.append(d)
    assert not found, (
        f"natsim disagrees with the kernel ({lab.backend} backend) on\n{host.describe()}\n\n"
        + "\n".join(str(d) for d in found)
    )


def _differential_records():
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "fixtures" / "regressions"
    return {p.stem: json.loads(p.read_text()) for p in sorted(root.glob("diff-*.json"))}


@pytest.mark.parametrize("name", sorted(_differential_records()))
def test_differential_record_still_holds_in_the_kernel(lab: Lab, name: str) -> None:
    """The kernel still does what each recorded counterexample says (so the record cannot rot)."""
    from natsim.testing.docker import host_from_dict

    rec = _differential_records()[name]
    host = host_from_dict(rec["host"])
    spec = FlowSpec(**rec["flow"])
    lab.configure(host)
    (probe,) = lab.probe(host, (spec,))
    expected = rec["kernel"][lab.backend]
    assert probe.outcome == expected["outcome"]
    if expected.get("seen") is not None:
        assert probe.seen == expected["seen"]
