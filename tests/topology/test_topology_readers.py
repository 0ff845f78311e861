"""Readers of tool output (ip -j, bridge -j, sysctl, ss, docker inspect): recorded files in, model out; bad input located."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from natsim.errors import InputError
from natsim.topology.docker_inspect import load_docker_json, parse_docker_json
from natsim.topology.iproute import (
    apply_bridge_link,
    parse_bridge_fdb,
    parse_ip_addr,
    parse_ip_neigh,
    parse_ip_route,
    parse_ip_rule,
    parse_ss,
    parse_sysctl,
)
from natsim.topology.model import TABLE_LOCAL, TABLE_MAIN

DATA = Path(__file__).parent / "data"
HOST1 = DATA / "host1"
ip = ipaddress.ip_address
net = ipaddress.ip_network


def text(name: str) -> str:
    return (HOST1 / name).read_text()


def test_ip_addr_with_details_gives_kinds_ports_and_addresses() -> None:
    links = {l.name: l for l in parse_ip_addr(text("ip-addr.json"), "ip-addr.json")}
    assert links["lo"].kind == "loopback"
    assert links["docker0"].kind == "bridge"
    assert links["docker0"].bridge_nf_call_iptables is False  # the per-bridge option, not the sysctl
    assert [str(a) for a in links["docker0"].addresses_of(4)] == ["172.17.0.1/16"]
    assert links["eth0"].kind == "veth" and links["eth0"].primary_address(4).address == ip("192.0.2.10")
    assert links["veth1"].master == "docker0" and links["veth1"].hairpin is True
    assert links["veth2"].master == "docker0" and links["veth2"].hairpin is False
    assert links["veth1"].link_index is not None  # the peer lives in another namespace
    assert links["veth1"].up is True and links["veth1"].mac and links["veth1"].port_state == "forwarding"


def test_plain_ip_addr_leaves_kind_unknown_and_bridge_link_adds_ports() -> None:
    plain = '[{"ifindex":3,"ifname":"veth9","flags":["UP"],"master":"br0","link_type":"ether","addr_info":[]},' \
            '{"ifindex":2,"ifname":"br0","flags":["UP"],"link_type":"ether","addr_info":[]}]'
    links = {l.name: l for l in parse_ip_addr(plain, "ip-addr.json")}
    assert links["veth9"].kind is None and links["veth9"].hairpin is None
    assert links["br0"].kind == "bridge"  # some interface names it as master
    merged = {l.name: l for l in apply_bridge_link(tuple(links.values()), text("bridge-link.json").replace(
        '"veth1"', '"veth9"'), "bridge-link.json")}
    assert merged["veth9"].hairpin is True
    assert dict(merged["veth9"].field_sources)["hairpin"].source == "bridge-link.json"


def test_routes_of_both_families_and_all_tables() -> None:
    routes = parse_ip_route(text("ip-route.json"), "ip-route.json")
    default4 = [r for r in routes if r.dst == net("0.0.0.0/0")]
    assert len(default4) == 1 and default4[0].gateway == ip("192.0.2.1") and default4[0].table == TABLE_MAIN
    local = [r for r in routes if r.table == TABLE_LOCAL and r.type == "local" and r.dst == net("172.17.0.1/32")]
    assert local and local[0].dev == "docker0"
    assert any(r.family == 6 for r in routes)
    assert any(r.dst == net("127.0.0.0/8") and r.type == "local" for r in routes)


def test_policy_rules_including_inverted_and_marks() -> None:
    rules = parse_ip_rule(
        '[{"priority":0,"src":"all","table":"local"},{"priority":100,"src":"all","fwmark":"0x10","fwmask":"0xff",'
        '"table":"100"},{"priority":200,"not":null,"src":"10.0.0.0","srclen":8,"iif":"lo","table":"main",'
        '"suppress_prefixlen":0},{"priority":300,"src":"all","dst":"1.2.3.0","dstlen":24,"action":"blackhole"}]',
        "ip-rule.json")
    assert [r.table for r in rules] == [TABLE_LOCAL, 100, TABLE_MAIN, None]
    assert rules[1].fwmark == 0x10 and rules[1].fwmask == 0xFF
    assert rules[2].invert and rules[2].src == net("10.0.0.0/8") and rules[2].suppress_prefixlength == 0
    assert rules[3].action == "blackhole" and rules[3].dst == net("1.2.3.0/24")


def test_neighbours_and_fdb() -> None:
    neigh = parse_ip_neigh(text("ip-neigh.json"))
    assert {str(n.address) for n in neigh} == {"172.17.0.2", "172.17.0.3"}
    fdb = parse_bridge_fdb(text("bridge-fdb.json"))
    learned = [e for e in fdb if e.master == "docker0" and not e.is_local]
    assert {e.dev for e in learned} == {"veth1", "veth2"}
    assert {n.mac for n in neigh} <= {e.mac for e in learned}


def test_sysctl_and_ss() -> None:
    s = {x.key: x for x in parse_sysctl(text("sysctl.txt"))}
    assert s["net.ipv4.ip_forward"].value == "1"
    assert s["net.ipv4.ip_forward"].provenance.location is not None
    listeners = parse_ss(
        'tcp LISTEN 0 4096 0.0.0.0:8066 0.0.0.0:* users:(("docker-proxy",pid=1234,fd=4))\n'
        'tcp LISTEN 0 4096 *:22 *:* users:(("sshd",pid=88,fd=3))\n'
        'tcp LISTEN 0 4096 [::]:8066 [::]:* users:(("docker-proxy",pid=1240,fd=4))\n'
        'udp UNCONN 0 0 127.0.0.53%lo:53 0.0.0.0:* users:(("systemd-resolve",pid=5,fd=13))\n')
    proxy, ssh, proxy6, dns = listeners
    assert proxy.process == "docker-proxy" and proxy.pid == 1234 and proxy.port == 8066
    assert ssh.address == ip("::") and ssh.v6only is False and ssh.accepts("tcp", ip("192.0.2.10"), 22)
    assert proxy6.v6only is True and not proxy6.accepts("tcp", ip("192.0.2.10"), 8066)
    assert dns.proto == "udp" and dns.device == "lo" and dns.address == ip("127.0.0.53")


def test_docker_inspect_containers_and_networks() -> None:
    t = load_docker_json(DATA / "docker-inspect.json")
    db = t.container("mysqlserver")
    assert db is not None and db.mode == "bridge" and db.running is True
    ep = db.endpoint("bridge")
    assert ep.ipv4 == ip("172.17.0.2") and ep.ipv4_prefixlen == 16 and ep.mac == "02:42:ac:11:00:02"
    assert {str(p) for p in db.ports} == {"0.0.0.0:8066:3306/tcp", "[::]:8066:3306/tcp"}  # 33060 only exposed
    assert t.container("metrics").mode == "host"
    assert t.namespace_name_of("mysql-exporter") == "container:mysqlserver"  # container:<full id>
    nets = load_docker_json(DATA / "docker-network-inspect.json")
    bridge, backend = nets.network("bridge"), nets.network("backend")
    assert bridge.bridge == "docker0" and bridge.subnets == (net("172.17.0.0/16"),) and bridge.icc is True
    assert backend.bridge == "br-d1d2d3d4d5d6" and backend.internal is True and backend.icc is False
    assert backend.gateway_mode_v4 == "routed"
    assert nets.network("br-d1d2d3d4d5d6") is backend
    # Docker's defaults for options absent from Options are listed as assumptions
    assert any("backend masquerade" in a for a in nets.assumptions())


@pytest.mark.parametrize(
    "content, found",
    [
        ('[{"ifindex":1,"ifname":"lo","addr_info":[', "truncated"),
        ('{"ifname": "lo"}', "found a JSON dict"),
        ('[{"ifindex":1,"ifname":7}]', '"ifname": 7'),
        ('[{"ifindex":1,"ifname":"eth0","addr_info":[{"family":"inet","local":"300.1.1.1","prefixlen":24}]}]',
         "'300.1.1.1'"),
    ],
)
def test_bad_ip_json_is_a_located_error(content: str, found: str) -> None:
    with pytest.raises(InputError) as err:
        parse_ip_addr(content, "snap/ip-addr.json")
    assert err.value.file == "snap/ip-addr.json"
    assert found in err.value.found


def test_truncated_docker_inspect_names_file_and_line() -> None:
    good = (DATA / "docker-inspect.json").read_text()
    cut = good[: len(good) // 2]
    with pytest.raises(InputError) as err:
        parse_docker_json(cut, "docker-inspect.json")
    assert err.value.line > 1 and "truncated" in err.value.found


def test_docker_json_of_another_kind_is_rejected() -> None:
    with pytest.raises(InputError, match="neither containers nor networks"):
        parse_docker_json('[{"Foo": 1}]', "x.json")


def test_bad_ss_and_sysctl_lines_are_located() -> None:
    with pytest.raises(InputError) as err:
        parse_ss("tcp LISTEN 0 128 0.0.0.0:80 0.0.0.0:*\nthis is not ss\n", "ss.txt")
    assert err.value.line == 2
    with pytest.raises(InputError) as err:
        parse_sysctl("net.ipv4.ip_forward = 1\nsysctl: permission denied on key\n", "sysctl.txt")
    assert err.value.line == 2


def test_a_multipath_route_keeps_its_first_next_hop_and_says_so() -> None:
    (r,) = parse_ip_route('[{"dst":"203.0.113.0/24","flags":[],"nexthops":[{"gateway":"10.1.0.254","dev":"d1",'
                          '"weight":1,"flags":[]},{"gateway":"10.2.0.254","dev":"d2","weight":1,"flags":[]}]}]')
    assert (r.gateway, r.dev) == (ip("10.1.0.254"), "d1")
    assert "multipath: first of 2" in str(r.provenance)
