"""Inference from the rules alone, checked against moby fixtures whose real topology SOURCES.md states.

moby-iptablesdoc-*: docker0 172.17.0.0/16; bridge1 192.0.2.0/24 (gw .1); c1 192.0.2.2; -p 8080:80.
moby-iptabler-golden-*: br-dummy 192.168.0.0/24 and fd49:efd7:54aa::/64; endpoint 192.168.0.2 and
fd49:efd7:54aa::1; 8080 -> 80/tcp; hairpin=true <=> userland-proxy disabled.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from natsim.parse import parse_file
from natsim.topology.infer import infer_from_rules, infer_topology
from natsim.topology.model import Topology
from natsim.topology.toml_file import parse_toml

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"
ip = ipaddress.ip_address
net = ipaddress.ip_network


def infer(*names: str) -> Topology:
    rulesets = {}
    for n in names:
        rs = parse_file(CORPUS / n).ruleset
        rulesets[rs.family] = rs
    return infer_from_rules(rulesets)


def ports(t: Topology, container: str) -> set[str]:
    return {str(p) for p in t.container(container).ports}


@pytest.mark.parametrize(
    "name, proxy, era",
    [
        ("moby-iptablesdoc-v29-usernet-portmap.S.txt", True, ">=29"),
        ("moby-iptablesdoc-v29-usernet-portmap-noproxy.S.txt", False, None),  # nat table only
        ("moby-iptablesdoc-v28.5.2-usernet-portmap.S.txt", True, ">=28.0.1,<29"),
        ("moby-iptablesdoc-v28.5.2-usernet-portmap-noproxy.S.txt", False, None),
        ("moby-iptablesdoc-v28.0.0-usernet-portmap.S.txt", True, "28.0.0"),
        ("moby-iptablesdoc-v28.0.0-usernet-portmap-noproxy.S.txt", False, None),
    ],
)
def test_iptablesdoc_usernet_portmap(name: str, proxy: bool, era: str | None) -> None:
    t = infer(name)
    bridge1 = t.network("bridge1")
    assert bridge1.subnets == (net("192.0.2.0/24"),) and bridge1.gateways == (ip("192.0.2.1"),)
    assert t.network("docker0").name == "bridge" and t.network("docker0").subnets == (net("172.17.0.0/16"),)
    c1 = t.container_at(ip("192.0.2.2"))
    assert c1 is not None and c1.endpoint().network == "bridge1" and c1.endpoint().ipv4_prefixlen == 24
    assert ports(t, c1.name) == {"8080:80/tcp"}
    assert t.daemon.userland_proxy is proxy
    assert t.daemon.era == era


def test_every_inferred_fact_cites_its_rule() -> None:
    t = infer("moby-iptablesdoc-v29-usernet-portmap.S.txt")
    c1 = t.container_at(ip("192.0.2.2"))
    (port,) = c1.ports
    assert port.provenance.how == "inferred"
    assert port.provenance.location.line == 35 and "DNAT --to-destination 192.0.2.2:80" in str(port.provenance)
    subnet_src = dict(t.network("bridge1").field_sources)["subnets"]
    assert "MASQUERADE" in str(subnet_src) and subnet_src.location.file.endswith("portmap.S.txt")
    proxy_src = dict(t.daemon.field_sources)["userland_proxy"]
    assert "127.0.0.0/8" in str(proxy_src)
    lines = t.assumptions()
    assert any(l.startswith("container 192.0.2.2 name: assumed") for l in lines)
    assert any("gateways: assumed" in l for l in lines)


def test_golden_dual_stack_joins_the_container_and_sees_the_proxy_mode() -> None:
    t = infer("moby-iptabler-golden-default-proxy-icc-masq-nat.rules",
              "moby-iptabler-golden-default-proxy-icc-masq-nat.ip6.rules")
    br = t.network("br-dummy")
    assert set(br.subnets) == {net("192.168.0.0/24"), net("fd49:efd7:54aa::/64")}
    assert br.icc is True and br.internal is False and br.masquerade is True
    assert br.gateway_mode_v4 == "nat" and br.gateway_mode_v6 == "nat"
    (c,) = t.containers
    assert c.endpoint().ipv4 == ip("192.168.0.2") and c.endpoint().ipv6 == ip("fd49:efd7:54aa::1")
    assert "8080:80/tcp" in ports(t, c.name)
    assert t.daemon.userland_proxy is True and t.daemon.ip6tables is True and t.daemon.era == ">=29"


def test_golden_noproxy_hairpin() -> None:
    t = infer("moby-iptabler-golden-noproxy-hairpin-icc-masq-nat.rules")
    assert t.daemon.userland_proxy is False
    assert ports(t, "192.168.0.2") == {"8080:80/tcp"}


def test_golden_bind_localhost_keeps_the_host_ip() -> None:
    t = infer("moby-iptabler-golden-noproxy-bindlocalhost.rules")
    assert ports(t, "192.168.0.2") == {"127.0.0.1:8080:80/tcp"}


def test_golden_internal_noicc() -> None:
    br = infer("moby-iptabler-golden-internal-noicc.rules").network("br-dummy")
    assert br.internal is True and br.icc is False and br.subnets == (net("192.168.0.0/24"),)
    assert br.masquerade is None


@pytest.mark.parametrize("name, mode", [("moby-iptabler-golden-proxy-routed.rules", "routed"),
                                        ("moby-iptabler-golden-proxy-nat-unprotected.rules", "nat-unprotected"),
                                        ("moby-iptabler-golden-proxy-noicc-masq-nat.rules", "nat")])
def test_golden_gateway_modes(name: str, mode: str) -> None:
    assert infer(name).network("br-dummy").gateway_mode_v4 == mode


def test_iptablesdoc_internal_networks_and_icc() -> None:
    t = infer("moby-iptablesdoc-v29-usernet-internal.S.txt")
    icc, noicc = t.network("bridgeICC"), t.network("bridgeNoICC")
    assert icc.internal is True and icc.icc is True and icc.subnets == (net("192.0.2.0/24"),)
    assert noicc.internal is True and noicc.icc is False and noicc.subnets == (net("198.51.100.0/24"),)
    assert t.containers == ()


def test_pre_28_layout_with_many_ports() -> None:
    t = infer("free5gc-compose-docker-tailscale-sctp.rules")
    assert t.daemon.era == "<28" and t.daemon.userland_proxy is True
    br = t.network("br-free5gc")
    assert br.subnets == (net("10.100.200.0/24"),)
    assert ports(t, "10.100.200.10") == {"10.88.120.100:38412:38412/sctp", "8000:8000/tcp"}
    assert ports(t, "10.100.200.7") == {"9082:9082/tcp", "8805:8805/udp", "2152:2152/udp"}


def test_rules_without_docker_infer_nothing() -> None:
    t = infer("fffuu-typical-home-user.rules")
    assert t.networks is None and t.containers is None and t.daemon.iptables is None


KNOWN = '''
[[network]]
name = "mynet"
bridge = "bridge1"
subnet = "192.0.2.0/25"
[[container]]
name = "c1"
network-mode = "mynet"
address = "192.0.2.2/25"
ports = ["8080:80/tcp"]
[[namespace]]
name = "host"
  [[namespace.interface]]
  name = "bridge1"
  kind = "bridge"
  addresses = ["192.0.2.1/25"]
'''


def test_inferred_facts_merge_under_read_ones_and_disagreements_are_reported() -> None:
    rs = parse_file(CORPUS / "moby-iptablesdoc-v29-usernet-portmap.S.txt").ruleset
    known = parse_toml(KNOWN, "known.toml")
    t = infer_topology({4: rs}, known)
    c1 = t.container("c1")
    assert c1 is not None and t.container_at(ip("192.0.2.2")) is c1 and len(t.containers) == 1  # matched by address
    assert c1.endpoint().network == "mynet"  # the inferred network took the read name
    assert [str(p) for p in c1.ports] == ["8080:80/tcp"]  # the inferred port is the known one: no conflict
    assert t.network("mynet").subnets == (net("192.0.2.0/25"),)  # read wins
    (conflict,) = [c for c in t.conflicts if "subnets" in c.fact]
    assert conflict.value_a == "(192.0.2.0/24)" and conflict.source_a.how == "inferred"
    assert conflict.value_b == "(192.0.2.0/25)" and conflict.source_b.source == "known.toml"
    # docker0 is named in the rules, but the host read from the TOML has no such interface
    missing = [f for f in t.findings if "docker0" in f.message]
    assert missing and missing[0].level == "warning" and missing[0].location.line > 0


def test_a_port_only_the_rules_know_is_a_conflict() -> None:
    rs = parse_file(CORPUS / "moby-iptablesdoc-v29-usernet-portmap.S.txt").ruleset
    known = parse_toml(KNOWN.replace('ports = ["8080:80/tcp"]', 'ports = []'), "known.toml")
    t = infer_topology({4: rs}, known)
    assert any("ports" in c.fact and "8080:80/tcp" in c.value_a for c in t.conflicts)


def test_daemon_wide_signals_outrank_per_network_ones() -> None:
    # swarm's docker_gwbridge has the no-proxy style `--src-type LOCAL` MASQUERADE whatever the daemon's mode
    t = infer("moby-iptablesdoc-v29-swarm-portmap.S.txt")
    assert t.daemon.userland_proxy is True and t.findings == ()
    assert t.network("docker_gwbridge").icc is False


@pytest.mark.parametrize("name, proxy", [("moby-iptabler-golden-default-proxy-icc-masq-nat.ip6.rules", True),
                                         ("moby-iptabler-golden-noproxy-hairpin-icc-masq-nat.ip6.rules", False)])
def test_ipv6_rules_alone_show_the_proxy_mode(name: str, proxy: bool) -> None:
    t = infer(name)
    assert t.daemon.userland_proxy is proxy and t.daemon.ip6tables is True
    (c,) = t.containers
    assert c.endpoint().ipv6 == ip("fd49:efd7:54aa::1") and c.endpoint().ipv6_prefixlen == 64


def test_a_vpn_masquerade_is_not_a_docker_network() -> None:
    from natsim.parse import parse_text

    text = (CORPUS / "moby-iptabler-golden-default-proxy-icc-masq-nat.rules").read_text().replace(
        "-A POSTROUTING -s 192.168.0.0/24 ! -o br-dummy -j MASQUERADE",
        "-A POSTROUTING -s 192.168.0.0/24 ! -o br-dummy -j MASQUERADE\n-A POSTROUTING -s 10.8.0.0/24 ! -o tun0 -j MASQUERADE")
    t = infer_from_rules({4: parse_text(text, "vpn.rules").ruleset})
    assert t.network("tun0") is None and t.network("br-dummy") is not None
    assert any("tun0" in f.message and f.location.line > 0 for f in t.findings)
