"""Each lab spec (every catalog scenario) is also a natsim topology: one description drives both."""

from __future__ import annotations

import ipaddress

import pytest

from natsim.topology.toml_file import parse_toml
from tests.kernel.scenarios.catalog import catalog
from tests.lab.topology import from_topology, network_name, to_toml

SCENARIOS = catalog()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_scenario_topology_reads_back_with_the_facts_the_kernel_had(scenario):
    spec = scenario.spec
    topo = parse_toml(to_toml(spec), f"{scenario.name}.toml")
    host = next(n for n in topo.namespaces if n.name == "host")
    assert host.bridge_nf_call(4) is spec.br_netfilter
    assert all(host.bridge_nf_call(4, b.name) is spec.br_netfilter for b in spec.bridges)
    assert host.sysctl_int("net.ipv4.ip_forward") == int(spec.ip_forward)
    for b in spec.bridges:
        assert host.ipv4_conf(b.name, "route_localnet") is (b.name in spec.route_localnet)
        assert host.is_local(ipaddress.ip_address(b.gateway4)) is True
        for port in host.ports_of(b.name):
            owner = next(c for c in spec.containers if f"container:{c.name}" == port.peer_namespace)
            assert port.hairpin is (b.hairpin if owner.hairpin is None else owner.hairpin)
    assert host.is_local(ipaddress.ip_address(spec.outside_v4)) is False
    by_name = {c.name: c for c in topo.containers}
    assert set(by_name) == {c.name for c in spec.containers}
    for c in spec.containers:
        mode = by_name[c.name].network_mode
        assert mode == (f"container:{c.net_container}" if c.net_container else network_name(c.bridge))
    published = {(p.host_port, p.container_port, p.proto) for c in topo.containers for p in c.ports or ()}
    assert published == {(p.host_port, p.container_port, p.proto) for p in spec.publish}
    proxies = {(l.port, l.proto) for l in host.listeners or () if l.process == "docker-proxy"}
    assert proxies == ({(p.host_port, p.proto) for p in spec.publish} if spec.userland_proxy else set())


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_a_natsim_topology_builds_the_same_lab_host(scenario):
    spec = scenario.spec
    topo = parse_toml(to_toml(spec), f"{scenario.name}.toml")
    assert from_topology(topo, spec.rules_v4, spec.rules_v6, spec.ipsets, spec.backend) == spec
