"""NAT targets and conntrack state as the kernel applies them (nf_nat_core, xt_REDIRECT, xt_NETMAP, xt_conntrack)."""

from __future__ import annotations

import pytest
from enginehosts import B, C, Host, ip

from natsim.engine import Flow, Network, simulate
from natsim.parse import parse_text

HOST = "192.0.2.10"


def net_of(text: str, host: Host | None = None) -> Network:
    rs = parse_text(text, "nat-test.rules", family=4).ruleset
    host = host or Host([B("docker0", "172.17.0.1/16")], [C("web", "docker0", "172.17.0.2")])
    return Network(rulesets={4: rs}, topology=host.topology())


def only(r):
    assert len(r.outcomes) == 1, [(o.verdict, o.conditions, o.reason) for o in r.outcomes]
    return r.outcomes[0]


NAT = "*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n{}\nCOMMIT\n"


def test_redirect_goes_to_the_incoming_interface_address() -> None:
    net = net_of(NAT.format("-A PREROUTING -i eth0 -p tcp --dport 80 -j REDIRECT --to-ports 8080"))
    o = only(simulate(net, Flow("outside", ip(HOST), "tcp", 80, source_address=ip("192.0.2.99"))))
    assert (str(o.destination), o.destination_port, o.server) == (HOST, 8080, "host")


def test_redirect_of_locally_generated_traffic_goes_to_loopback() -> None:
    net = net_of(NAT.format("-A OUTPUT -p tcp -d 198.51.100.1 --dport 80 -j REDIRECT --to-ports 3128"))
    o = only(simulate(net, Flow("host", ip("198.51.100.1"), "tcp", 80)))
    assert (str(o.destination), o.destination_port) == ("127.0.0.1", 3128)


def test_dnat_port_range_keeps_a_port_inside_it_and_maps_others_to_its_start() -> None:
    net = net_of(NAT.format("-A PREROUTING -p tcp --dport 8000:8100 -j DNAT --to-destination 172.17.0.2:8050-8060"))
    inside = only(simulate(net, Flow("outside", ip(HOST), "tcp", 8055, source_address=ip("192.0.2.99"))))
    outside = only(simulate(net, Flow("outside", ip(HOST), "tcp", 8001, source_address=ip("192.0.2.99"))))
    assert inside.destination_port == 8055 and outside.destination_port == 8050
    assert str(outside.destination) == "172.17.0.2"


def test_snat_to_source_and_masquerade_pick_addresses() -> None:
    host = Host([B("docker0", "172.17.0.1/16")], [C("web", "docker0", "172.17.0.2")],
                uplink=("192.0.2.10/24", "192.0.2.20/24"))
    masq = net_of(NAT.format("-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE"), host)
    o = only(simulate(masq, Flow("container:web", ip("198.51.100.7"), "tcp", 443)))
    assert str(o.seen_source) == "192.0.2.10"  # the first (primary) address of the outgoing interface
    snat = net_of(NAT.format("-A POSTROUTING -s 172.17.0.0/16 -j SNAT --to-source 192.0.2.20"), host)
    assert str(only(simulate(snat, Flow("container:web", ip("198.51.100.7"), "tcp", 443))).seen_source) == "192.0.2.20"


def test_netmap_maps_the_host_part() -> None:
    net = net_of(NAT.format("-A PREROUTING -d 10.9.0.0/16 -j NETMAP --to 172.17.0.0/16"))
    o = only(simulate(net, Flow("outside", ip("10.9.0.2"), "tcp", 80, source_address=ip("192.0.2.99"))))
    assert str(o.destination) == "172.17.0.2" and o.server == "container:web"


def test_ctstate_dnat_and_new_vs_established() -> None:
    # FORWARD accepts only DNATed NEW connections and established traffic: a published port works,
    # a container address reached directly does not.
    text = NAT.format("-A PREROUTING -p tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80") + (
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
        "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n"
        "-A FORWARD -m conntrack --ctstate NEW,DNAT -j LOG\n"
        "-A FORWARD -m conntrack --ctstate DNAT -j ACCEPT\nCOMMIT\n")
    net = net_of(text)
    ok = only(simulate(net, Flow("outside", ip(HOST), "tcp", 8080, source_address=ip("192.0.2.99"))))
    assert ok.verdict == "reachable" and ok.deciding.rule_index == 3
    direct = only(simulate(net, Flow("outside", ip("172.17.0.2"), "tcp", 80, source_address=ip("192.0.2.99"))))
    assert direct.verdict == "blocked" and direct.deciding.kind == "policy"


def test_rules_that_accept_only_new_drop_the_clients_ack() -> None:
    # the ACK is ESTABLISHED in the original direction: without an ESTABLISHED rule the server never accepts
    text = ("*filter\n:INPUT DROP [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            "-A INPUT -p tcp --dport 22 -m state --state NEW -j ACCEPT\nCOMMIT\n")
    o = only(simulate(net_of(text), Flow("outside", ip(HOST), "tcp", 22, source_address=ip("192.0.2.99"))))
    assert o.verdict == "blocked" and o.end == "timeout"
    assert [l.delivered for l in o.legs] == [True, True, False]


@pytest.mark.parametrize("proto", ["udp", "icmp"])
def test_udp_and_ping_through_dnat_and_masquerade(proto: str) -> None:
    text = NAT.format("-A PREROUTING -p udp --dport 5353 -j DNAT --to-destination 172.17.0.2:53\n"
                      "-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE")
    net = net_of(text)
    if proto == "udp":
        o = only(simulate(net, Flow("outside", ip(HOST), "udp", 5353, source_address=ip("192.0.2.99"))))
        assert (str(o.destination), o.destination_port) == ("172.17.0.2", 53)
        assert len(o.legs) == 2  # no ACK leg for UDP
    else:
        o = only(simulate(net, Flow("container:web", ip("198.51.100.7"), "icmp")))
        assert str(o.seen_source) == HOST and o.legs[1].delivered


def test_mark_in_mangle_output_reroutes_by_policy_rule() -> None:
    # a fwmark set in mangle OUTPUT sends the packet through another table (ip rule fwmark 0x1 lookup 100)
    import ipaddress

    from natsim.topology.model import PolicyRule, Route

    host = Host([], [], uplink=("192.0.2.10/24", "198.51.100.10/24"))
    topo = host.topology()
    h = topo.namespaces[0]
    routes = (Route(ipaddress.ip_network("0.0.0.0/0"), dev="eth0", gateway=ip("192.0.2.1")),
              Route(ipaddress.ip_network("192.0.2.0/24"), dev="eth0", prefsrc=ip("192.0.2.10")),
              Route(ipaddress.ip_network("0.0.0.0/0"), dev="eth0", gateway=ip("192.0.2.254"), table=100))
    rules_ = (PolicyRule(0, 4, 255), PolicyRule(100, 4, 100, fwmark=1), PolicyRule(32766, 4, 254))
    from dataclasses import replace

    topo = replace(topo, namespaces=(replace(h, routes=routes, policy_rules=rules_),))
    text = ("*mangle\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            ":POSTROUTING ACCEPT [0:0]\n-A OUTPUT -p tcp --dport 443 -j MARK --set-xmark 0x1/0xffffffff\nCOMMIT\n")
    net = Network(rulesets={4: parse_text(text, "mark.rules", family=4).ruleset}, topology=topo)
    o = only(simulate(net, Flow("host", ip("203.0.113.9"), "tcp", 443)))
    reroute = [s for s in o.legs[0].steps if s.kind == "route" and "re-routed" in s.note]
    assert o.verdict == "reachable" and reroute and "via 192.0.2.254" in reroute[0].note


def test_conntrack_states_of_first_packets() -> None:
    from natsim.engine.conntrack import CtTable
    from natsim.engine.packet import Packet

    t = CtTable()
    synack = Packet(4, ip("10.0.0.2"), ip("10.0.0.1"), "tcp", 80, 40000, tcp_flags=frozenset({"SYN", "ACK"}))
    assert t.lookup(synack).state == "INVALID"  # a reply without a connection starts nothing
    syn = Packet(4, ip("10.0.0.1"), ip("10.0.0.2"), "tcp", 40000, 80)
    assert t.lookup(syn).state == "NEW"
    reply = t.lookup(synack)
    assert reply.state == "ESTABLISHED" and reply.is_reply
    assert t.lookup(syn).state == "ESTABLISHED"  # once the reply was seen
    echo_reply = Packet(4, ip("10.0.0.2"), ip("10.0.0.1"), "icmp", icmp_type=0)
    assert t.lookup(echo_reply).state == "INVALID"


def test_notrack_in_raw_skips_nat() -> None:
    # regression diff-0002: an untracked packet never meets the nat table, so no DNAT happens
    text = ("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A PREROUTING -j CT --notrack\nCOMMIT\n"
            + NAT.format("-A PREROUTING -p tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"))
    host = Host([B("docker0", "172.17.0.1/16")], [C("web", "docker0", "172.17.0.2")], listeners_known=True)
    o = only(simulate(net_of(text, host), Flow("outside", ip(HOST), "tcp", 8080, source_address=ip("192.0.2.99"))))
    assert o.verdict == "blocked" and o.end == "refused" and not any(s.kind == "nat" for s in o.legs[0].steps)
