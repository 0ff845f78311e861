"""Docker flows on the real rulesets of the corpus, every era: verdicts that follow from netfilter.

Topologies follow the setups SOURCES.md states for each fixture (goldens: br-dummy
192.168.0.0/24, endpoint .2, -p 8080:80; iptablesdoc: bridge1 192.0.2.0/24, c1 .2).
"""

from __future__ import annotations

import ipaddress

import pytest
from enginehosts import B, C, Host, corpus, golden_host, ip, network, rules, run

from natsim.engine import Flow, Network, simulate
from natsim.parse import parse_ipset_text, parse_text

HOST = "192.0.2.10"
GOLDEN_PROXY = "moby-iptabler-golden-default-proxy-icc-masq-nat.rules"
GOLDEN_NOPROXY = "moby-iptabler-golden-noproxy-hairpin-icc-masq-nat.rules"


def corpus_text(name: str) -> str:
    return corpus(name).read_text()


def one(result):
    assert len(result.outcomes) == 1, [(o.verdict, o.conditions) for o in result.outcomes]
    return result.outcomes[0]


# ---------------------------------------------------------------- userland proxy on (default)


@pytest.fixture(scope="module")
def proxy_net() -> Network:
    return network(GOLDEN_PROXY, golden_host())


def test_outside_reaches_published_port_by_dnat(proxy_net: Network) -> None:
    o = one(run(proxy_net, "outside", HOST, 8080, source_address=ip("198.51.100.7")))
    assert o.verdict == "reachable"
    assert (str(o.destination), o.destination_port, o.server) == ("192.168.0.2", 80, "container:c1")
    assert str(o.seen_source) == "198.51.100.7" and not o.via_proxy
    assert o.deciding.rule.text.startswith("-A DOCKER -d 192.168.0.2/32")  # the filter ACCEPT of the port
    # the reply is un-DNATed on the way back: the client sees the address it connected to
    reply = o.legs[1]
    assert reply.direction == "reply" and reply.delivered
    nat = [s for s in reply.steps if s.kind == "nat"]
    assert nat and str(nat[0].packet_after.src) == HOST and nat[0].packet_after.sport == 8080


def test_outside_to_unpublished_container_port_is_dropped_in_raw(proxy_net: Network) -> None:
    o = one(run(proxy_net, "outside", "192.168.0.2", 80))
    assert o.verdict == "blocked"
    assert (o.deciding.table, o.deciding.chain, o.deciding.rule.location.line) == ("raw", "PREROUTING", 4)


def test_localhost_is_served_by_docker_proxy_from_the_gateway(proxy_net: Network) -> None:
    # OUTPUT's DOCKER jump has ! -d 127.0.0.0/8: no DNAT, docker-proxy answers and connects itself
    o = one(run(proxy_net, "host", "127.0.0.1", 8080))
    assert o.verdict == "reachable" and o.via_proxy
    assert str(o.seen_source) == "192.168.0.1"


def test_container_to_published_port_is_returned_to_docker_proxy(proxy_net: Network) -> None:
    # -A DOCKER ! -i br-dummy ... DNAT does not match traffic from the bridge
    for src in ("container:c2", "container:c1"):
        o = one(run(proxy_net, src, HOST, 8080))
        assert o.verdict == "reachable" and o.via_proxy, src
        assert str(o.seen_source) == "192.168.0.1"


def test_host_to_own_address_is_dnatted_in_output(proxy_net: Network) -> None:
    o = one(run(proxy_net, "host", HOST, 8080))
    assert o.verdict == "reachable" and not o.via_proxy
    assert str(o.seen_source) == HOST  # the source was chosen before DNAT and not masqueraded


def test_container_to_outside_is_masqueraded(proxy_net: Network) -> None:
    o = one(run(proxy_net, "container:c1", "198.51.100.7", 443))
    assert o.verdict == "reachable" and str(o.seen_source) == HOST and o.server == "outside"


def test_same_bridge_direct_with_and_without_br_netfilter() -> None:
    for brnf in (True, False):
        o = one(run(network(GOLDEN_PROXY, golden_host(brnf=brnf)), "container:c2", "192.168.0.2", 80))
        assert o.verdict == "reachable" and str(o.seen_source) == "192.168.0.3"
        forwarded = any(s.hook == "FORWARD" for leg in o.legs for s in leg.steps)
        assert forwarded == brnf  # bridged frames see iptables only with bridge-nf-call-iptables=1


def test_unknown_br_netfilter_only_matters_where_frames_are_bridged() -> None:
    net = network(GOLDEN_PROXY, golden_host(brnf=None))
    assert run(net, "outside", HOST, 8080).verdict == "reachable"  # routed: no bridge question
    r = run(net, "container:c2", "192.168.0.2", 80)  # bridged: both answers reach c1
    assert r.verdict == "reachable"


def test_refused_when_nothing_listens() -> None:
    host = golden_host()
    host.containers[0].listeners = ()
    o = one(run(network(GOLDEN_PROXY, host), "outside", HOST, 8080))
    assert o.verdict == "blocked" and o.end == "refused"


# ---------------------------------------------------------------- userland proxy off: hairpin


def noproxy(**kw) -> Network:
    kw.setdefault("userland_proxy", False)
    kw.setdefault("route_localnet", {"br-dummy": 1})
    return network(GOLDEN_NOPROXY, golden_host(**kw))


def test_hairpin_needs_hairpin_mode_with_br_netfilter() -> None:
    on = one(run(noproxy(hairpin=True), "container:c1", HOST, 8080))
    assert on.verdict == "reachable" and str(on.seen_source) == "192.168.0.1"  # the hairpin MASQUERADE
    off = one(run(noproxy(hairpin=False), "container:c1", HOST, 8080))
    assert off.verdict == "blocked" and "hairpin" in off.reason


def test_hairpin_without_the_masquerade_rule_is_a_martian_in_the_container() -> None:
    # moby PR #48854: with the hairpin MASQUERADE deleted the container gets a packet from its own address
    text = corpus_text(GOLDEN_NOPROXY).replace(
        "-A POSTROUTING -s 192.168.0.2/32 -d 192.168.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE\n", "")
    net = Network(rulesets={4: parse_text(text, "edited.rules", family=4).ruleset},
                  topology=golden_host(hairpin=True, userland_proxy=False).topology())
    o = one(simulate(net, Flow("container:c1", ip(HOST), "tcp", 8080)))
    assert o.verdict == "blocked" and "martian source" in o.reason and o.deciding.namespace == "container:c1"


def test_localhost_dnat_needs_route_localnet() -> None:
    ok = one(run(noproxy(), "host", "127.0.0.1", 8080))
    assert ok.verdict == "reachable" and str(ok.seen_source) == "192.168.0.1"
    no = one(run(noproxy(route_localnet={}), "host", "127.0.0.1", 8080))
    assert no.verdict == "blocked" and "route_localnet" in no.reason


def test_neighbour_via_host_address_needs_br_netfilter_for_the_reply() -> None:
    assert one(run(noproxy(brnf=True), "container:c2", HOST, 8080)).verdict == "reachable"
    o = one(run(noproxy(brnf=False), "container:c2", HOST, 8080))
    # without br_netfilter the reply is bridged straight back and never un-DNATed
    assert o.verdict == "blocked" and o.legs[-1].direction == "reply" and "not un-NATed" in o.reason


# ---------------------------------------------------------------- other Docker eras and options


def doc_host(**kw) -> Host:
    """The iptablesdoc setup: docker0 172.17.0.1/16 (d1 .2), bridge1 192.0.2.1/24 (c1 .2 -p 8080:80, c2 .3)."""
    return Host([B("docker0", "172.17.0.1/16"), B("bridge1", "192.0.2.1/24")],
                [C("c1", "bridge1", "192.0.2.2", None, ((8080, 80, "tcp", None),)), C("c2", "bridge1", "192.0.2.3"),
                 C("d1", "docker0", "172.17.0.2")], uplink=("198.18.0.1/24",), **kw)


V280 = "moby-iptablesdoc-v28.0.0-usernet-portmap.S.txt"
EXT = "create docker-ext-bridges-v4 hash:net family inet\nadd docker-ext-bridges-v4 172.17.0.0/16\n"


def v280(ipsets=None) -> Network:
    """Docker 28.0.0 as the daemon runs it: FORWARD policy DROP (the doc shows ACCEPT, see SOURCES.md)."""
    text = corpus_text(V280).replace("-P FORWARD ACCEPT", "-P FORWARD DROP")
    return Network(rulesets={4: parse_text(text, V280, family=4).ruleset}, ipsets=ipsets,
                   topology=doc_host(brnf=False).topology())


def test_docker_28_0_0_ipset_unknown_without_contents() -> None:
    net = v280()
    r = run(net, "outside", "198.18.0.1", 8080)
    assert r.verdict == "unknown"
    assert all(any("docker-ext-bridges-v4" in c for c in o.conditions) for o in r.outcomes)
    assert {o.verdict for o in r.outcomes} == {"reachable", "blocked"}


@pytest.mark.parametrize("subnets,verdict", [(("172.17.0.0/16", "192.0.2.0/24"), "reachable"),
                                             (("172.17.0.0/16",), "blocked")])
def test_docker_28_0_0_ipset_decides_when_given(subnets, verdict) -> None:
    text = "create docker-ext-bridges-v4 hash:net family inet\n" + "".join(
        f"add docker-ext-bridges-v4 {s}\n" for s in subnets)
    net = v280(parse_ipset_text(text, "ipset.save"))
    o = one(run(net, "outside", "198.18.0.1", 8080))
    assert o.verdict == verdict
    if verdict == "blocked":  # nothing accepts it: the FORWARD policy is DROP in 28.0.0
        assert o.deciding.kind == "policy" and o.deciding.chain == "FORWARD"


@pytest.mark.parametrize("era", ["moby-iptablesdoc-v28.5.2-usernet-portmap.S.txt",
                                 "moby-iptablesdoc-v29-usernet-portmap.S.txt"])
def test_docker_28_29_published_port_and_isolation(era: str) -> None:
    net = network(era, doc_host(brnf=True))
    o = one(run(net, "outside", "198.18.0.1", 8080, source_address=ip("198.18.0.2")))
    assert o.verdict == "reachable" and str(o.seen_source) == "198.18.0.2"
    # a container on docker0 reaching bridge1's container directly is isolated
    assert one(run(net, "container:d1", "192.0.2.2", 80)).verdict == "blocked"
    # the outside cannot reach a container address directly (raw PREROUTING)
    blocked = one(run(net, "outside", "192.0.2.2", 80))
    assert blocked.verdict == "blocked" and blocked.deciding.table == "raw"


def test_icc_false_drops_same_bridge_traffic_with_br_netfilter() -> None:
    net = network("moby-iptablesdoc-v28.5.2-usernet-portmap-noicc.S.txt", doc_host(brnf=True))
    o = one(run(net, "container:c2", "192.0.2.2", 80))
    assert o.verdict == "blocked"
    assert o.deciding.rule.text == "-A DOCKER-FORWARD -i bridge1 -o bridge1 -j DROP"
    assert one(run(net, "container:c2", "198.18.0.7", 80)).verdict == "reachable"  # out is still allowed


def test_internal_network_cannot_reach_out() -> None:
    host = Host([B("br-dummy", "192.168.0.1/24")], [C("c1", "br-dummy", "192.168.0.2"), C("c2", "br-dummy", "192.168.0.3")])
    net = network("moby-iptabler-golden-internal-noicc.rules", host)
    o = one(run(net, "container:c1", "198.51.100.7", 80))
    assert o.verdict == "blocked" and o.deciding.chain == "DOCKER-INTERNAL"
    assert one(run(net, "container:c1", "192.168.0.3", 80)).verdict == "blocked"  # icc=false


def test_port_bound_to_localhost_is_not_reachable_from_outside() -> None:
    host = golden_host(userland_proxy=False, route_localnet={"br-dummy": 1})
    host.containers[0].ports = ((8080, 80, "tcp", "127.0.0.1"),)
    net = network("moby-iptabler-golden-noproxy-bindlocalhost.rules", host)
    assert one(run(net, "host", "127.0.0.1", 8080)).verdict == "reachable"
    o = one(run(net, "outside", HOST, 8080))
    assert o.verdict == "blocked" and o.end == "refused"


def test_routed_gateway_mode_reaches_container_address_without_nat() -> None:
    host = golden_host(userland_proxy=True)
    net = network("moby-iptabler-golden-proxy-routed.rules", host)
    o = one(run(net, "outside", "192.168.0.2", 80, source_address=ip("198.51.100.7")))
    assert o.verdict == "reachable" and str(o.seen_source) == "198.51.100.7"
    assert one(run(net, "outside", "192.168.0.2", 81)).verdict == "blocked"


def test_nat_unprotected_opens_every_port() -> None:
    net = network("moby-iptabler-golden-proxy-nat-unprotected.rules", golden_host())
    assert one(run(net, "outside", "192.168.0.2", 81, source_address=ip("192.0.2.99"))).verdict == "reachable"


def test_snat_to_configured_host_ip() -> None:
    net = network("moby-iptabler-golden-proxy-snat-hostip.rules", golden_host(uplink=("192.0.2.10/24", "192.168.123.0/24")))
    o = one(run(net, "container:c1", "198.51.100.7", 443))
    assert o.verdict == "reachable" and str(o.seen_source) == "192.168.123.0"


def test_ipv6_published_port() -> None:
    host = golden_host(v6=True, uplink=("192.0.2.10/24", "2001:db8:1::10/64"))
    net = network(GOLDEN_PROXY, host, ip6_file="moby-iptabler-golden-default-proxy-icc-masq-nat.ip6.rules")
    o = one(run(net, "outside", "2001:db8:1::10", 8080, source_address=ip("2001:db8:1::99")))
    assert o.verdict == "reachable" and str(o.destination) == "fd49:efd7:54aa::1"
    assert str(o.seen_source) == "2001:db8:1::99"
    out = one(run(net, "container:c1", "2001:db8:2::1", 443))
    assert out.verdict == "reachable" and str(out.seen_source) == "2001:db8:1::10"  # masqueraded


def test_ipv6_rules_not_given_is_unknown() -> None:
    host = golden_host(v6=True, uplink=("192.0.2.10/24", "2001:db8:1::10/64"))
    net = Network(rulesets={4: rules(GOLDEN_PROXY), 6: None}, topology=host.topology())
    r = run(net, "outside", "2001:db8:1::10", 8080)
    assert r.verdict == "unknown" and "IPv6 rules" in r.outcomes[0].reason


def test_net_host_and_net_container() -> None:
    host = golden_host(containers=[C("hostnet", "br-dummy", "192.168.0.9", mode="host"),
                                   C("side", "br-dummy", "192.168.0.8", mode="container:c1")])
    net = network(GOLDEN_PROXY, host)
    # --net=host: the process lives in the host namespace; its traffic to c1 is host -> container
    o = one(run(net, "container:hostnet", "192.168.0.2", 80))
    assert o.verdict == "reachable" and str(o.seen_source) == "192.168.0.1"
    # --net=container:c1 shares c1's namespace and address
    side = one(run(net, "container:side", "192.168.0.3", 80))
    assert side.verdict == "reachable" and str(side.seen_source) == "192.168.0.2"
    assert one(run(net, "container:c2", "192.168.0.2", 81)).server == "container:c1"


def test_icc_false_with_link_pair_allows_only_the_linked_port() -> None:
    # Docker <=27 with --icc=false: `--link db` adds per-pair ACCEPTs in DOCKER (both directions)
    text = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j DROP
-A DOCKER -s 172.17.0.3/32 -d 172.17.0.2/32 -i docker0 -o docker0 -p tcp -m tcp --dport 5432 -j ACCEPT
-A DOCKER -s 172.17.0.2/32 -d 172.17.0.3/32 -i docker0 -o docker0 -p tcp -m tcp --sport 5432 -j ACCEPT
COMMIT
"""
    host = Host([B("docker0", "172.17.0.1/16")], [C("db", "docker0", "172.17.0.2"), C("web", "docker0", "172.17.0.3"),
                                                  C("other", "docker0", "172.17.0.4")])
    net = Network(rulesets={4: parse_text(text, "icc.rules", family=4).ruleset}, topology=host.topology())
    assert one(simulate(net, Flow("container:web", ip("172.17.0.2"), "tcp", 5432))).verdict == "reachable"
    assert one(simulate(net, Flow("container:web", ip("172.17.0.2"), "tcp", 22))).verdict == "blocked"
    assert one(simulate(net, Flow("container:other", ip("172.17.0.2"), "tcp", 5432))).verdict == "blocked"
    reply_blocked = one(simulate(net, Flow("container:db", ip("172.17.0.3"), "tcp", 80)))
    assert reply_blocked.verdict == "blocked"


def test_kube_proxy_statistic_branches_with_probabilities() -> None:
    text = corpus_text("kube-proxy-test-overall-iptables-rules.restore.rules")
    # the fixture holds only KUBE-* chains: add the built-in jumps kube-proxy installs
    filt, nat = text.split("*nat\n")
    filt = filt.replace("COMMIT", "-A OUTPUT -j KUBE-SERVICES\nCOMMIT")
    nat = nat.replace("COMMIT", "-A OUTPUT -j KUBE-SERVICES\n-A POSTROUTING -j KUBE-POSTROUTING\nCOMMIT")
    text = filt + "*nat\n" + nat
    net = Network(rulesets={4: parse_text(text, "kube.rules", family=4).ruleset}, topology=Host([], []).topology())
    r = simulate(net, Flow("host", ip("172.30.0.44"), "tcp", 80))
    dests = sorted((str(o.destination), round(o.probability, 3)) for o in r.outcomes)
    assert dests == [("10.180.0.4", 0.5), ("10.180.0.5", 0.5)]
    assert all(o.verdict == "reachable" for o in r.outcomes)
    assert all(str(o.seen_source) == HOST for o in r.outcomes)  # KUBE-MARK-MASQ then MASQUERADE on eth0
    # a service without endpoints is rejected
    rej = one(simulate(net, Flow("host", ip("172.30.0.46"), "tcp", 80)))
    assert rej.verdict == "blocked" and rej.end == "refused"


def test_rules_alone_get_an_assumed_uplink_and_docker_facts() -> None:
    from natsim.topology.model import DaemonOptions, DockerNetwork, Endpoint, PublishedPort, Topology
    from natsim.topology.model import Container as TC

    topo = Topology((), (DockerNetwork("bridge", bridge="br-dummy", subnets=(ipaddress.ip_network("192.168.0.0/24"),),
                                       gateways=(ip("192.168.0.1"),)),),
                    (TC("c1", None, "bridge", (Endpoint("bridge", ip("192.168.0.2"), 24),),
                        (PublishedPort(80, "tcp", 8080),)),), DaemonOptions(userland_proxy=True))
    net = Network(rulesets={4: rules(GOLDEN_PROXY)}, topology=topo)
    assert "eth0" in net.world.uplinks()
    r = run(net, "outside", "203.0.113.1", 8080)
    assert any("uplink eth0 203.0.113.1/24" in a for a in r.assumptions)
    # ip_forward and bridge netfilter are unknown here: forwarding is a question, the answer says so
    assert {o.verdict for o in r.outcomes} == {"reachable", "blocked"}
    assert any("ip_forward" in c or "forward" in c for o in r.outcomes for c in o.conditions)


def test_refusal_travels_back_through_the_rules() -> None:
    # REJECT in INPUT, but OUTPUT drops everything to the client: the RST never arrives, so the client times out
    net = Network(rulesets={4: parse_text("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                                          "-A INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset\n"
                                          "-A OUTPUT -d 192.0.2.99/32 -j DROP\nCOMMIT\n", "r", family=4).ruleset},
                  topology=Host([], []).topology())
    o = one(simulate(net, Flow("outside", ip(HOST), "tcp", 22, source_address=ip("192.0.2.99"))))
    assert o.verdict == "blocked" and o.end == "timeout" and "never reaches the client" in o.reason
    o2 = one(simulate(net, Flow("outside", ip(HOST), "tcp", 22, source_address=ip("192.0.2.98"))))
    assert o2.end == "refused"


def _host_rules(rule: str) -> Network:
    return Network(rulesets={4: parse_text("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                                          f"{rule}\nCOMMIT\n", "r", family=4).ruleset},
                   topology=Host([], []).topology())


@pytest.mark.parametrize("reject_with, end", [("icmp-port-unreachable", "timeout"), ("tcp-reset", "closed")])
def test_a_rejected_handshake_ack_comes_after_connect_returned(reject_with: str, end: str) -> None:
    """Decision 0139: only the last ACK of the handshake meets the REJECT.  connect() has returned by then;
    the server never accepts.  A RST that comes back resets the client (closed), an ICMP error only marks its
    socket, so the client's first request times out."""
    net = _host_rules(f"-A INPUT -p tcp --dport 22 -m conntrack --ctstate ESTABLISHED -j REJECT --reject-with {reject_with}")
    o = one(simulate(net, Flow("outside", ip(HOST), "tcp", 22)))
    assert o.verdict == "blocked" and o.end == end
    assert o.reason.startswith("ACK: rejected") and "connect() had already returned" in o.reason
    assert [leg.direction for leg in o.legs] == ["request", "reply", "request", "reply"]  # SYN, SYN-ACK, ACK, answer
    assert o.legs[-1].delivered  # the answer to the ACK does reach the client


def test_a_refused_request_is_told_as_the_request() -> None:
    """The refusal walked back is the last leg, but the REJECT stopped the request: the reason says so."""
    o = one(simulate(_host_rules("-A INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset"),
                     Flow("outside", ip(HOST), "tcp", 22)))
    assert o.end == "refused" and o.reason.startswith("request: rejected (tcp-reset)")


@pytest.mark.parametrize("rp", ["1", "0"])
def test_reverse_path_filter_on_a_spoofed_container_subnet_source(rp) -> None:
    extra = (("net.ipv4.conf.all.rp_filter", rp), ("net.ipv4.conf.eth0.rp_filter", rp))
    net = network(GOLDEN_PROXY, golden_host(extra_sysctls=extra))
    # a client claiming an address of br-dummy's subnet arrives on eth0: the route back leaves by br-dummy
    o = one(run(net, "outside", HOST, 8080, source_address=ip("192.168.0.77")))
    assert o.verdict == "blocked"
    if rp == "1":
        assert "reverse-path filter" in o.reason and not o.legs[0].delivered
    else:  # the SYN gets in, but the container's answer goes to br-dummy, where nobody has that address
        assert o.legs[0].delivered and o.legs[1].direction == "reply" and "ARP" in o.reason


def free5gc_net() -> Network:
    """The free5gc-compose host as its runbook describes it (SOURCES.md B3)."""
    from natsim.topology.model import (Container as TC, DaemonOptions, DockerNetwork, Endpoint, Link, LinkAddress,
                                       Namespace, PublishedPort, Route, Sysctl, Topology, read_from)

    src = read_from("free5gc NETWORK_DESIGN.md")

    def la(a: str, plen: int) -> LinkAddress:
        return LinkAddress(ip(a), plen, "global", src)

    links = (Link("lo", "loopback", (la("127.0.0.1", 8),), True),
             Link("eth0", "physical", (la("172.30.255.96", 20),), True),
             Link("eth1", "physical", (la("10.88.120.100", 24), la("10.88.120.99", 24), la("192.168.3.89", 24)), True),
             Link("br-free5gc", "bridge", (la("10.100.200.1", 24),), True, bridge_nf_call_iptables=False),
             Link("docker0", "bridge", (la("172.17.0.1", 16),), True, bridge_nf_call_iptables=False))
    routes = (Route(ipaddress.ip_network("0.0.0.0/0"), dev="eth0", gateway=ip("172.30.240.1")),
              Route(ipaddress.ip_network("10.60.0.0/24"), dev="br-free5gc", gateway=ip("10.100.200.7")),
              Route(ipaddress.ip_network("10.88.120.0/24"), dev="eth1", prefsrc=ip("10.88.120.100")),
              Route(ipaddress.ip_network("192.168.3.0/24"), dev="eth1", prefsrc=ip("192.168.3.89")),
              Route(ipaddress.ip_network("172.30.240.0/20"), dev="eth0", prefsrc=ip("172.30.255.96")),
              Route(ipaddress.ip_network("10.100.200.0/24"), dev="br-free5gc", prefsrc=ip("10.100.200.1")),
              Route(ipaddress.ip_network("172.17.0.0/16"), dev="docker0", prefsrc=ip("172.17.0.1")))
    sysctls = tuple(Sysctl(k, v, src) for k, v in (("net.ipv4.ip_forward", "1"), ("net.ipv4.conf.all.rp_filter", "2"),
                                                   ("net.bridge.bridge-nf-call-iptables", "1")))
    host = Namespace("host", "host", links, routes, None, sysctls, provenance=src)
    net5 = DockerNetwork("free5gc", bridge="br-free5gc", subnets=(ipaddress.ip_network("10.100.200.0/24"),),
                         gateways=(ip("10.100.200.1"),))
    amf = TC("amf", None, "free5gc", (Endpoint("free5gc", ip("10.100.200.10"), 24),),
             (PublishedPort(38412, "sctp", 38412, ip("10.88.120.100")),))
    upf = TC("upf", None, "free5gc", (Endpoint("free5gc", ip("10.100.200.7"), 24),), ())
    topo = Topology((host,), (net5,), (amf, upf), DaemonOptions(userland_proxy=True))
    return Network(rulesets={4: rules("free5gc-compose-docker-tailscale-sctp.rules")}, topology=topo)


def test_free5gc_runbook_lan_missing_from_the_forward_rules() -> None:
    # derived (SOURCES.md B3): the runbook's 192.168.1.0/24 -> UE pool has no FORWARD ACCEPT: policy DROP
    net = free5gc_net()
    o = one(run(net, "outside", "10.60.0.3", 80, source_address=ip("192.168.1.50"), in_interface="eth1"))
    assert o.verdict == "blocked" and o.deciding.kind == "policy" and o.deciding.chain == "FORWARD"
    ok = run(net, "outside", "10.60.0.3", 80, source_address=ip("192.168.3.50"), in_interface="eth1")
    first = ok.outcomes[0].legs[0]
    assert any(s.kind == "rule" and s.matched is True and s.chain == "FORWARD" and s.rule.location.line == 25
               for s in first.steps)  # the hand-added ACCEPT for 192.168.3.0/24


def test_free5gc_sctp_published_on_one_host_address() -> None:
    net = free5gc_net()
    o = one(run(net, "outside", "10.88.120.100", 38412, proto="sctp", source_address=ip("10.88.120.50"),
                in_interface="eth1"))
    assert o.verdict == "reachable" and str(o.destination) == "10.100.200.10"
    other = one(run(net, "outside", "10.88.120.99", 38412, proto="sctp", source_address=ip("10.88.120.50"),
                    in_interface="eth1"))
    assert other.verdict == "blocked"  # the DNAT names -d 10.88.120.100/32 only


def test_rules_inside_a_container_namespace_apply_there() -> None:
    own = parse_text("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
                     "-A INPUT -m conntrack --ctstate ESTABLISHED -j ACCEPT\n-A INPUT -p tcp --dport 80 -s 192.168.0.3 "
                     "-j ACCEPT\nCOMMIT\n", "c1-own.rules", family=4).ruleset
    net = Network(rulesets={4: rules(GOLDEN_PROXY)}, topology=golden_host().topology(),
                  namespace_rulesets={"container:c1": {4: own}})
    o = one(run(net, "outside", HOST, 8080, source_address=ip("192.0.2.99")))
    assert o.verdict == "blocked" and o.deciding.namespace == "container:c1" and o.deciding.kind == "policy"
    assert one(run(net, "container:c2", "192.168.0.2", 80)).verdict == "reachable"
    # c1's own outgoing connection: its conntrack lets the reply in through its INPUT DROP policy
    assert one(run(net, "container:c1", "198.51.100.7", 443)).verdict == "reachable"


def test_host_with_unknown_interfaces_gets_the_assumed_ones() -> None:
    from dataclasses import replace

    topo = golden_host().topology()
    host = topo.namespaces[0]
    topo = replace(topo, namespaces=(replace(host, links=None), *topo.namespaces[1:]))
    net = Network(rulesets={4: rules(GOLDEN_PROXY)}, topology=topo)
    o = one(run(net, "outside", "203.0.113.1", 8080))
    assert o.verdict == "reachable" and str(o.destination) == "192.168.0.2"


def test_docker_proxy_backend_refusal_is_closed_for_tcp_and_silence_for_udp() -> None:
    host = golden_host()
    host.containers[0].ports = ((8080, 80, "tcp", None), (5353, 53, "udp", None))
    host.containers[0].listeners = ()  # nothing listens in c1
    net = network(GOLDEN_PROXY, host)
    tcp = one(run(net, "host", "127.0.0.1", 8080))
    assert tcp.verdict == "blocked" and tcp.end == "closed" and tcp.via_proxy
    udp = one(run(net, "host", "127.0.0.1", 5353, proto="udp"))
    assert udp.verdict == "blocked" and udp.end == "timeout"
