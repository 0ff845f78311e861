"""The lab itself: builds what the spec says, probes report what the kernel did, nothing leaks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.lab import Bridge, Container, Host, LabError, Listen, Publish, build, netns
from tests.lab.trace import parse_trace

pytestmark = pytest.mark.kernel
CONFIRM = 2.0  # a timeout where an answer is expected is probed once more with this (a busy machine)

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"
SHARED = Path("/work/shared/corpus")


def corpus(name: str) -> str:
    path = CORPUS / name if (CORPUS / name).exists() else SHARED / name
    return path.read_text()


def golden_host(backend: str) -> Host:
    """moby's TestIptabler golden (proxy on, one container 192.168.0.2:80 published on 8080)."""
    return Host(
        backend=backend,
        rules_v4=corpus("moby-iptabler-golden-default-proxy-icc-masq-nat.rules"),
        rules_v6=corpus("moby-iptabler-golden-default-proxy-icc-masq-nat.ip6.rules"),
        bridges=(Bridge("br-dummy", "192.168.0.1/24", "fd49:efd7:54aa::ffff/64"),),
        containers=(
            Container("c1", "br-dummy", "192.168.0.2", "fd49:efd7:54aa::1",
                      listen=(Listen("tcp", 80), Listen("udp", 53))),
            Container("c2", "br-dummy", "192.168.0.3", listen=(Listen("tcp", 80),)),
            Container("side", net_container="c1", listen=(Listen("tcp", 81),)),
        ),
        publish=(Publish("c1", 80, 8080), Publish("c1", 80, 8080, host_ip="::")),
        host_listen=(Listen("tcp", 22),),
        outside_listen=(Listen("tcp", 80),),
    )


@pytest.fixture(scope="module", params=["nft", "legacy"])
def golden(request):
    with build(golden_host(request.param), prefix="klabt") as h:
        yield h


def test_outside_reaches_published_port_through_dnat(golden):
    r = golden.probe("outside", "198.18.0.1", 8080, confirm=CONFIRM)
    assert (r.outcome, r.by, r.seen, r.server_local) == ("connected", "c1", "198.18.0.2", "192.168.0.2")


def test_published_port_over_ipv6(golden):
    r = golden.probe("outside", "2001:db8:ff::1", 8080, confirm=CONFIRM)
    assert (r.outcome, r.by, r.seen) == ("connected", "c1", "2001:db8:ff::2")


def test_loopback_is_served_by_the_emulated_proxy(golden):
    r = golden.probe("host", "127.0.0.1", 8080, confirm=CONFIRM)
    # the proxy's own connection to the container leaves through the bridge: source = gateway
    assert (r.outcome, r.by, r.seen) == ("connected", "c1", "192.168.0.1")


def test_refused_and_timeout_are_told_apart(golden):
    assert golden.probe("outside", "198.18.0.1", 9, confirm=CONFIRM).outcome == "refused"
    # raw PREROUTING drops direct access to the container from the uplink
    assert golden.probe("outside", "192.168.0.2", 80, timeout=0.2).outcome == "timeout"


def test_udp_and_icmp(golden):
    r = golden.probe("c2", "192.168.0.2", 53, proto="udp", confirm=CONFIRM)
    assert (r.outcome, r.seen) == ("connected", "192.168.0.3")
    assert golden.probe("c2", "192.168.0.2", 54, proto="udp", confirm=CONFIRM).outcome == "refused"
    r = golden.probe("c1", "198.18.0.2", proto="icmp", confirm=CONFIRM)
    assert (r.outcome, r.seen) == ("connected", "198.18.0.2")


def test_net_container_shares_the_namespace(golden):
    r = golden.probe("c2", "192.168.0.2", 81, confirm=CONFIRM)
    assert (r.outcome, r.by) == ("connected", "side")
    r = golden.probe("side", "127.0.0.1", 80, confirm=CONFIRM)
    assert (r.outcome, r.by, r.seen) == ("connected", "c1", "127.0.0.1")


def test_net_host_listener_and_masquerade_to_outside(golden):
    r = golden.probe("c2", "198.18.0.1", 22, confirm=CONFIRM)
    assert (r.outcome, r.by, r.seen) == ("connected", "host", "192.168.0.3")
    r = golden.probe("c2", "198.18.0.2", 80, confirm=CONFIRM)
    assert (r.outcome, r.by, r.seen) == ("connected", "outside", "198.18.0.1")


def test_namespace_sysctls_are_set_inside_only(golden):
    assert golden.sysctl("net.ipv4.ip_forward") == "1"
    assert golden.sysctl("net.bridge.bridge-nf-call-iptables") == "1"
    assert golden.sysctl("net.ipv4.ip_forward", where="c1") == "0"


def test_rules_are_loaded_with_the_chosen_backend(golden):
    assert "-A DOCKER ! -i br-dummy -p tcp -m tcp --dport 8080 -j DNAT" in golden.save()
    other = {"nft": "iptables-legacy-save", "legacy": "iptables-nft-save"}[golden.spec.backend]
    assert "DNAT" not in golden.run([other])["out"]


def test_conntrack_shows_the_dnat(golden):
    golden.probe("outside", "198.18.0.1", 8080, confirm=CONFIRM)
    assert "dport=8080" in golden.conntrack() and "src=192.168.0.2" in golden.conntrack()


def test_trace_returns_the_kernels_rule_walk(golden):
    if golden.spec.backend != "nft":
        with pytest.raises(LabError):
            golden.trace("outside", "198.18.0.1", 8080)
        return
    r, lines = golden.trace("outside", "198.18.0.1", 8080)
    assert r.outcome == "connected"
    syn = parse_trace(lines)[0]
    assert syn.packets[0]["DST"] == "198.18.0.1" and syn.packets[-1]["DST"] == "192.168.0.2"  # DNATed on the way
    assert syn.chains()[:3] == ["raw:PREROUTING", "nat:PREROUTING", "nat:DOCKER"]
    assert "filter:FORWARD" in syn.chains() and "filter:INPUT" not in syn.chains()
    dnat, accept = [s for s in syn.decisions() if s.kind == "rule"][:2]
    assert (dnat.table, dnat.chain, dnat.verdict) == ("nat", "DOCKER", "ACCEPT")
    assert dnat.rule.startswith("-A DOCKER ") and dnat.rule.endswith("--to-destination 192.168.0.2:80")
    assert (accept.table, accept.chain, accept.rule) == (
        "filter", "DOCKER", "-A DOCKER -d 192.168.0.2/32 ! -i br-dummy -o br-dummy -p tcp -m tcp --dport 80 -j ACCEPT")
    later = parse_trace(lines)[1]  # the handshake's ACK: no nat table, ESTABLISHED accepted in DOCKER-CT
    assert not any(s.table == "nat" for s in later.steps)
    assert later.decisions()[-1].chain == "DOCKER-CT"


def test_hairpin_flag_and_br_netfilter_off():
    spec = Host(backend="legacy", br_netfilter=False,
                bridges=(Bridge("docker0", "172.17.0.1/16", hairpin=True),),
                containers=(Container("a", "docker0", "172.17.0.2", listen=(Listen("tcp", 80),)),))
    with build(spec, prefix="klabt") as h:
        assert h.sysctl("net.bridge.bridge-nf-call-iptables") == "0"
        out = h.run(["ip", "-d", "link", "show", h.bridge_port("a")])["out"]
        assert "hairpin on" in out


def test_ipset_is_restored_in_the_host_namespace():
    sets = "create allowed hash:net family inet\nadd allowed 198.18.0.2\n"
    rules = "*filter\n:INPUT DROP [0:0]\n-A INPUT -m set --match-set allowed src -j ACCEPT\nCOMMIT\n"
    spec = Host(backend="nft", ipsets=sets, rules_v4=rules, host_listen=(Listen("tcp", 22),))
    with build(spec, prefix="klabt") as h:
        assert h.probe("outside", "198.18.0.1", 22, confirm=CONFIRM).outcome == "connected"
        h.run(["ipset", "del", "allowed", "198.18.0.2"])
        assert h.probe("outside", "198.18.0.1", 22, timeout=0.2).outcome == "timeout"


def test_close_deletes_every_namespace_and_a_bad_spec_leaks_nothing():
    h = build(Host(containers=(Container("a", "docker0", "172.17.0.2"),)), prefix="klabt")
    names = list(h.namespaces)
    assert all((netns.NETNS_DIR / n).exists() for n in names)
    h.close()
    assert not any((netns.NETNS_DIR / n).exists() for n in names)
    ours = f"lab.klabt.{os.getpid()}."  # other processes (another engineer's tests) may add namespaces meanwhile
    before = set(p.name for p in netns.NETNS_DIR.iterdir() if p.name.startswith(ours))
    with pytest.raises(LabError):
        build(Host(rules_v4="*filter\n-A NOPE -j ACCEPT\nCOMMIT\n"), prefix="klabt")
    assert set(p.name for p in netns.NETNS_DIR.iterdir() if p.name.startswith(ours)) <= before
