"""Endpoints resolved against the example snapshot's topology (read by the topology package)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from natsim.errors import UsageError
from natsim.explain.endpoints import parse_destination, parse_source
from natsim.explain.resolve import resolve
from natsim.topology.snapshot import read_snapshot

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mysqlserver"
ip = ipaddress.ip_address


@pytest.fixture(scope="module")
def topo():
    return read_snapshot(EXAMPLE).topology


def _targets(topo, src: str, dst: str, via=None):
    return [(r.flow.source, r.flow.destination, r.flow.dport, r.flow.proto)
            for r in resolve(parse_source(src), parse_destination(dst), topo, via)]


def test_host_means_the_public_address_from_outside(topo) -> None:
    assert _targets(topo, "outside", "host:8066/tcp") == [("outside", ip("192.0.2.10"), 8066, "tcp")]


def test_host_adds_loopback_when_the_source_is_the_host(topo) -> None:
    assert [t[1] for t in _targets(topo, "host", "host:8066/tcp")] == [ip("192.0.2.10"), ip("127.0.0.1")]


def test_host_adds_the_gateway_when_the_source_is_a_container(topo) -> None:
    got = _targets(topo, "container:webapp", "host:8066/tcp")
    assert [(s, d) for s, d, _, _ in got] == [("container:webapp", ip("192.0.2.10")), ("container:webapp", ip("172.17.0.1"))]


def test_via_picks_one_address_and_must_be_the_hosts(topo) -> None:
    assert [t[1] for t in _targets(topo, "host", "host:8066/tcp", ip("127.0.0.1"))] == [ip("127.0.0.1")]
    with pytest.raises(UsageError, match=r"--via 10.9.9.9 is not an address of the host; its addresses: 127.0.0.1"):
        _targets(topo, "host", "host:8066/tcp", ip("10.9.9.9"))


def test_container_destination_is_its_address(topo) -> None:
    assert _targets(topo, "container:webapp", "container:mysqlserver:3306/tcp") == [
        ("container:webapp", ip("172.17.0.2"), 3306, "tcp")
    ]


def test_an_address_source_is_whoever_owns_it(topo) -> None:
    flows = resolve(parse_source("172.17.0.3"), parse_destination("host/icmp"), topo)
    assert flows[0].flow.source == "container:webapp" and flows[0].flow.source_address == ip("172.17.0.3")
    flows = resolve(parse_source("198.51.100.7"), parse_destination("host/icmp"), topo)
    assert (flows[0].flow.source, flows[0].flow.proto, flows[0].flow.dport) == ("outside", "icmp", None)


def test_unknown_names_list_what_is_known(topo) -> None:
    with pytest.raises(UsageError, match="container:mysql is not known; known containers: mysqlserver, webapp"):
        _targets(topo, "container:mysql", "host:8066/tcp")
    with pytest.raises(UsageError, match="the host has no interface 'eth9'; its interfaces: lo, eth0, docker0"):
        _targets(topo, "outside:eth9", "host:8066/tcp")


def test_a_container_sharing_anothers_namespace_is_reached_at_its_address() -> None:
    from natsim.topology.toml_file import parse_toml

    topo = parse_toml(
        '[[container]]\nname = "db"\nnetwork-mode = "bridge"\naddress = "172.17.0.2/16"\n'
        '[[container]]\nname = "sidecar"\nnetwork-mode = "container:db"\n'
    )
    assert _targets(topo, "host", "container:sidecar:9000/tcp") == [("host", ip("172.17.0.2"), 9000, "tcp")]
