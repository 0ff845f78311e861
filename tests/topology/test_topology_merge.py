"""Merging sources: later ones win, unknowns are filled, every disagreement is kept with both provenances."""

from __future__ import annotations

import ipaddress

from natsim.topology.merge import merge
from natsim.topology.model import (
    Container,
    DaemonOptions,
    DockerNetwork,
    Endpoint,
    Link,
    Namespace,
    Sysctl,
    Topology,
    assumed,
    read_from,
)

ip = ipaddress.ip_address
SNAP, TOML = read_from("snap/ip-addr.json"), read_from("what-if.toml")


def test_unknown_fields_are_filled_and_say_where_from() -> None:
    a = Topology(namespaces=(Namespace("host", links=(Link("veth1", "veth", master="docker0", provenance=SNAP),)),))
    b = Topology(namespaces=(Namespace("host", links=(Link("veth1", hairpin=True, provenance=TOML),)),))
    link = merge(a, b).host_namespace.link("veth1")
    assert (link.kind, link.master, link.hairpin) == ("veth", "docker0", True)
    assert dict(link.field_sources)["hairpin"] is TOML and link.provenance is SNAP
    assert merge(a, b).conflicts == ()


def test_disagreements_are_conflicts_and_the_later_source_wins() -> None:
    a = Topology(namespaces=(Namespace("host", links=(Link("veth1", hairpin=False, provenance=SNAP),),
                                       sysctls=(Sysctl("net.ipv4.ip_forward", "1", SNAP),)),))
    b = Topology(namespaces=(Namespace("host", links=(Link("veth1", hairpin=True, provenance=TOML),),
                                       sysctls=(Sysctl("net.ipv4.ip_forward", "0", TOML),)),))
    m = merge(a, b)
    assert m.host_namespace.link("veth1").hairpin is True
    assert m.host_namespace.sysctl("net.ipv4.ip_forward").value == "0"
    facts = {c.fact: c for c in m.conflicts}
    hp = facts["namespace host interface veth1: hairpin"]
    assert (hp.value_a, hp.source_a, hp.value_b, hp.source_b, hp.kept) == ("False", SNAP, "True", TOML, "b")
    assert "sysctl net.ipv4.ip_forward" in " ".join(facts)
    assert "what-if.toml" in str(hp)


def test_an_assumed_value_gives_way_without_a_conflict() -> None:
    guess = DockerNetwork("br0", bridge="br0", gateways=(ip("192.0.2.1"),),
                          field_sources=(("gateways", assumed("first address")),))
    real = DockerNetwork("br0", bridge="br0", gateways=(ip("192.0.2.254"),), provenance=SNAP)
    m = merge(Topology(networks=(guess,)), Topology(networks=(real,)))
    assert m.network("br0").gateways == (ip("192.0.2.254"),) and m.conflicts == ()


def test_containers_match_by_name_id_or_address_and_endpoints_by_network() -> None:
    a = Topology(containers=(Container("db", id="abcdef0123456789", network_mode="bridge",
                                       endpoints=(Endpoint("bridge", ip("172.17.0.2")),)),))
    b = Topology(containers=(Container("db", endpoints=(Endpoint("bridge", mac="02:42:ac:11:00:02"),
                                                        Endpoint("backend", ip("198.51.100.2"))),),))
    (db,) = merge(a, b).containers
    assert db.id == "abcdef0123456789" and db.network_mode == "bridge"
    assert db.endpoint("bridge").ipv4 == ip("172.17.0.2") and db.endpoint("bridge").mac == "02:42:ac:11:00:02"
    assert db.endpoint("backend").ipv4 == ip("198.51.100.2")


def test_networks_match_by_bridge_name_and_sets_stay_unknown_when_nobody_knows() -> None:
    a = Topology(networks=(DockerNetwork("bridge", bridge="docker0"),))
    b = Topology(networks=(DockerNetwork("docker0", bridge="docker0", icc=False),))
    m = merge(a, b)
    assert len(m.networks) == 1 and m.networks[0].icc is False
    assert merge(Topology(), Topology()).containers is None


def test_missing_files_are_forgotten_once_another_source_supplies_them() -> None:
    a = Topology(namespaces=(Namespace("host"),), missing=("docker-inspect.json (container names)", "ss.txt (x)"))
    b = Topology(containers=(Container("db"),))
    assert merge(a, b).missing == ("ss.txt (x)",)
    assert merge(Topology(daemon=DaemonOptions()), Topology(daemon=DaemonOptions(userland_proxy=False,
                                                                                  provenance=TOML))).daemon.provenance is TOML
