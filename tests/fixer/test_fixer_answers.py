"""Answers the real cases showed wrong or confusing, on small hand-made inputs (decisions 0130-0135)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from natsim.topology.merge import merge
from natsim.topology.model import DockerNetwork, Provenance, Topology, read_from
from tests.cases.caseskit import UPLINK, UPLINK_ROUTES, explain_argv, host_namespace, interface, route, run_cli

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "fixtures" / "corpus" / "moby-iptabler-golden-default-proxy-icc-masq-nat.rules"

TWO_UPLINKS = host_namespace(
    UPLINK, interface("eth1", "physical", "192.168.3.1/24"), UPLINK_ROUTES, route("192.168.3.0/24", "eth1", scope="link"),
    sysctl={"net.ipv4.ip_forward": 1},
)

FILTER = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
{rules}
COMMIT
"""


def cli(*argv: str) -> tuple[int, str, str]:
    return run_cli(list(argv))


def explain_json(*argv: str) -> dict:
    return explain_argv(*argv).data


@pytest.fixture
def two_uplinks(tmp_path: Path) -> Path:
    p = tmp_path / "host.toml"
    p.write_text(TWO_UPLINKS)
    return p


# ---------------------------------------------------------------- 0130: how the client's connect() ends


@pytest.mark.parametrize("target, end, words", [
    ("REJECT", "refused", "connection refused"),
    ("DROP", "timeout", "a timeout"),
    ("REJECT --reject-with icmp-host-prohibited", "unreachable", "host/network unreachable"),
])
def test_answers_say_how_the_client_sees_a_block(tmp_path: Path, two_uplinks: Path, target, end, words) -> None:
    rules = tmp_path / "r.rules"
    rules.write_text(FILTER.format(rules=f"-A INPUT -p tcp -m tcp --dport 22 -j {target}"))
    args = (str(rules), "--from", "203.0.113.9", "--to", "198.18.0.1:22/tcp", "--topology", str(two_uplinks))
    data = explain_json(*args)
    assert data["verdict"] == "blocked"
    assert data["end"] == end and data["flows"][0]["end"] == end and data["outcomes"][0]["end"] == end
    status, text, _ = cli("explain", *args, "--no-fix")
    assert f"the client sees: {words}" in text


# ---------------------------------------------------------------- 0131: where an outside client arrives


@pytest.mark.parametrize("client, verdict", [("192.168.3.20", "reachable"), ("203.0.113.9", "blocked")])
def test_outside_client_arrives_on_the_interface_the_host_routes_it_to(tmp_path, two_uplinks, client, verdict):
    rules = tmp_path / "r.rules"
    rules.write_text(FILTER.format(rules="-A INPUT -i eth1 -p tcp -m tcp --dport 22 -j ACCEPT"))
    data = explain_json(str(rules), "--from", client, "--to", "198.18.0.1:22/tcp", "--topology", str(two_uplinks))
    assert data["verdict"] == verdict, data["reason"]
    arrival = data["steps"][0]["note"]
    assert arrival.endswith("eth1" if verdict == "reachable" else "eth0"), arrival


# ---------------------------------------------------------------- 0132: missing facts are not facts


def test_pasted_ipv6_dump_gets_an_assumed_uplink(tmp_path: Path) -> None:
    rules = tmp_path / "r.ip6.rules"  # IPv6 by its content: an IPv6 address
    rules.write_text(FILTER.format(rules="-A INPUT -s fd00:9::/64 -j DROP\n-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT"))
    data = explain_json(str(rules), "--from", "outside", "--to", "host:22/tcp")
    assert data["verdict"] == "reachable", data["reason"]
    assert data["destination"] == "2001:db8:ffff::1"
    assert any("2001:db8:ffff::1/64" in a for a in data["assumptions"])


V4_ONLY_HOST = host_namespace(UPLINK)


@pytest.mark.parametrize("routes_given", [False, True])
def test_no_route_is_a_fact_only_when_the_routes_were_read(tmp_path: Path, routes_given: bool) -> None:
    rules = tmp_path / "r.ip6.rules"
    rules.write_text(FILTER.format(rules="").replace(":INPUT DROP", ":INPUT ACCEPT"))
    topo = tmp_path / "host.toml"
    routes = route("198.18.0.0/24", "eth0", scope="link")
    topo.write_text(V4_ONLY_HOST + (routes if routes_given else ""))
    data = explain_json(str(rules), "--from", "host", "--to", "[2001:db8::9]:80/tcp", "--topology", str(topo))
    if routes_given:
        assert data["verdict"] == "blocked" and "no route to 2001:db8::9" in data["reason"]
    else:
        assert data["verdict"] == "unknown" and "routes are not known" in data["reason"], data["reason"]


def test_arp_on_a_network_inferred_from_the_rules_is_unknown() -> None:
    """The rules name only containers with published ports; others on the bridge may answer."""
    data = explain_json(str(GOLDEN), "--from", "host", "--to", "192.168.0.77:80/tcp")
    assert data["verdict"] == "unknown", data["reason"]
    assert "inferred from the rules" in data["reason"]


# ---------------------------------------------------------------- 0133: partial dumps


@pytest.mark.parametrize("jump, noted", [("", True), ("-A INPUT -j APP-IN", False)])
def test_chains_no_builtin_chain_reaches_are_named(tmp_path: Path, jump: str, noted: bool) -> None:
    rules = tmp_path / "r.rules"
    rules.write_text(FILTER.format(rules="\n".join(filter(None, [
        ":APP-IN - [0:0]", ":APP-SSH - [0:0]", jump,
        "-A APP-IN -j APP-SSH", "-A APP-SSH -p tcp -m tcp --dport 22 -j ACCEPT"]))))
    data = explain_json(str(rules), "--from", "outside", "--to", "host:22/tcp")
    notes = [n for n in data["notes"] if "not reached from any built-in chain" in n]
    if noted:
        assert notes and "APP-IN (and 1 chains they lead to)" in notes[0] and "partial" in notes[0], notes
        assert data["verdict"] == "blocked"
    else:
        assert not notes and data["verdict"] == "reachable"


# ---------------------------------------------------------------- 0135: a read value refining an inference


def test_read_subnets_that_hold_the_inferred_ones_are_no_conflict() -> None:
    inferred = Provenance("r.rules", "inferred", None, "rule `-A POSTROUTING -s 192.168.0.0/24 ...`")
    read = read_from("topology.toml")
    v4, v6, other = (ipaddress.ip_network(n) for n in ("192.168.0.0/24", "fd00::/64", "10.9.0.0/24"))
    guess = Topology(networks=(DockerNetwork("br", bridge="br", subnets=(v4,), provenance=inferred),))
    refined = Topology(networks=(DockerNetwork("br", bridge="br", subnets=(v4, v6), provenance=read),))
    moved = Topology(networks=(DockerNetwork("br", bridge="br", subnets=(other,), provenance=read),))
    assert not merge(guess, refined).conflicts
    assert merge(guess, refined).networks[0].subnets == (v4, v6)
    assert [c.fact for c in merge(guess, moved).conflicts] == ["network br: subnets"]


# ---------------------------------------------------------------- an inferred gateway is never a container's address


def test_inferred_gateway_skips_a_container_address() -> None:
    """moby's IPv6 golden puts the endpoint at fd49:efd7:54aa::1, the subnet's first address."""
    from natsim.parse import parse_file
    from natsim.topology.infer import infer_from_rules

    rs = parse_file(str(GOLDEN.with_suffix(".ip6.rules"))).ruleset
    topo = infer_from_rules({6: rs})
    [net] = topo.networks
    [c] = topo.containers
    assert c.endpoints[0].ipv6 == ipaddress.ip_address("fd49:efd7:54aa::1")
    assert net.gateways == (ipaddress.ip_address("fd49:efd7:54aa::2"),)


@pytest.mark.parametrize("name, verdict", [
    ("moby-iptabler-golden-default-proxy-icc-masq-nat.ip6.rules", "reachable"),  # IPv6 network br-dummy
])
def test_docker_ipv6_network_means_ipv6_forwarding(name: str, verdict: str) -> None:
    data = explain_json(str(GOLDEN.parent / name), "--from", "outside", "--to", "host:8080/tcp")
    assert data["verdict"] == verdict, data["reason"]
    assert not data["depends_on"], data["depends_on"]
    assert any("IPv6 forwarding for a network with IPv6" in a for a in data["assumptions"])
