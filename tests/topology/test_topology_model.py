"""The topology model's queries: local addresses, sysctl combination, br_netfilter, listeners, namespaces."""

from __future__ import annotations

import ipaddress

import pytest

from natsim.engine.tri import Unknown
from natsim.topology.model import (
    TABLE_LOCAL,
    Container,
    DaemonOptions,
    Endpoint,
    Link,
    LinkAddress,
    Listener,
    Namespace,
    Route,
    Sysctl,
    Topology,
    assumed,
    default_policy_rules,
    inferred,
    read_from,
)
from natsim.model.location import Location

ip = ipaddress.ip_address
net = ipaddress.ip_network


def host_ns(**kw) -> Namespace:
    links = (
        Link("lo", "loopback", (LinkAddress(ip("127.0.0.1"), 8),)),
        Link("eth0", "physical", (LinkAddress(ip("192.0.2.10"), 24),)),
        Link("docker0", "bridge", (LinkAddress(ip("172.17.0.1"), 16),)),
    )
    return Namespace("host", "host", links=links, **kw)


def test_is_local_from_addresses_and_loopback_prefix() -> None:
    ns = host_ns()
    assert ns.is_local(ip("192.0.2.10")) is True
    assert ns.is_local(ip("172.17.0.1")) is True
    assert ns.is_local(ip("127.0.0.53")) is True  # all of 127/8
    assert ns.is_local(ip("172.17.0.2")) is False


def test_is_local_prefers_the_local_table() -> None:
    routes = (Route(net("127.0.0.0/8"), "local", "lo", table=TABLE_LOCAL),
              Route(net("203.0.113.0/24"), "local", "lo", table=TABLE_LOCAL),  # an AnyIP route
              Route(net("192.0.2.10/32"), "local", "eth0", table=TABLE_LOCAL))
    ns = host_ns(routes=routes)
    assert ns.is_local(ip("203.0.113.77")) is True
    assert ns.is_local(ip("172.17.0.1")) is False  # the local table is what the kernel consults


def test_is_local_unknown_without_addresses() -> None:
    ns = Namespace("host", "host", links=(Link("eth0"),))
    assert isinstance(ns.is_local(ip("192.0.2.10")), Unknown)


def sysctls(**values: int) -> tuple[Sysctl, ...]:
    return tuple(Sysctl(k.replace("__", "."), str(v)) for k, v in values.items())


@pytest.mark.parametrize(
    "all_, dev, name, expected",
    [
        (0, 1, "route_localnet", True),  # OR
        (1, 0, "route_localnet", True),
        (0, 0, "route_localnet", False),
        (2, 1, "rp_filter", 2),  # MAX
        (0, 1, "rp_filter", 1),
    ],
)
def test_ipv4_conf_combines_all_and_device_as_the_kernel(all_: int, dev: int, name: str, expected: object) -> None:
    ns = Namespace("host", sysctls=(Sysctl(f"net.ipv4.conf.all.{name}", str(all_)),
                                    Sysctl(f"net.ipv4.conf.docker0.{name}", str(dev))))
    if isinstance(expected, bool):
        assert ns.ipv4_conf("docker0", name) is expected
    else:
        assert ns.ipv4_conf_value("docker0", name) == expected


def test_ipv4_conf_unknown_when_it_depends_on_a_missing_key() -> None:
    ns = Namespace("host", sysctls=(Sysctl("net.ipv4.conf.docker0.route_localnet", "0"),))
    assert isinstance(ns.ipv4_conf("docker0", "route_localnet"), Unknown)
    ns = Namespace("host", sysctls=(Sysctl("net.ipv4.conf.all.route_localnet", "1"),))
    assert ns.ipv4_conf("docker0", "route_localnet") is True  # OR: one 1 settles it


def test_bridge_nf_call_sysctl_or_bridge_option() -> None:
    on = Namespace("host", sysctls=(Sysctl("net.bridge.bridge-nf-call-iptables", "1"),))
    assert on.bridge_nf_call(4) is True
    off = Namespace("host", links=(Link("br0", "bridge", bridge_nf_call_iptables=True),),
                    sysctls=(Sysctl("net.bridge.bridge-nf-call-iptables", "0"),))
    assert off.bridge_nf_call(4, "br0") is True
    assert isinstance(Namespace("host").bridge_nf_call(4), Unknown)
    # a complete sysctl -a without net.bridge keys: br_netfilter is not loaded
    unloaded = Namespace("host", sysctls=(Sysctl("net.ipv4.ip_forward", "1"),), sysctls_complete=True)
    assert unloaded.bridge_nf_call(4) is False


def test_listener_accepts_wildcards_and_dual_stack() -> None:
    any4 = Listener("tcp", ip("0.0.0.0"), 8066, "docker-proxy")
    assert any4.accepts("tcp", ip("192.0.2.10"), 8066)
    assert not any4.accepts("udp", ip("192.0.2.10"), 8066)
    assert not any4.accepts("tcp", ip("2001:db8::1"), 8066)
    dual = Listener("tcp", ip("::"), 80, v6only=False)
    assert dual.accepts("tcp", ip("192.0.2.10"), 80)
    v6only = Listener("tcp", ip("::"), 80, v6only=True)
    assert not v6only.accepts("tcp", ip("192.0.2.10"), 80)
    lo = Listener("tcp", ip("127.0.0.1"), 3306)
    assert lo.accepts("tcp", ip("127.0.0.1"), 3306) and not lo.accepts("tcp", ip("192.0.2.10"), 3306)


def test_namespace_of_follows_network_modes() -> None:
    web = Container("web", network_mode="bridge", endpoints=(Endpoint("bridge", ip("172.17.0.2")),))
    side = Container("side", network_mode="container:web")
    agent = Container("agent", network_mode="host")
    loop = Container("loop", network_mode="container:loop")
    t = Topology(containers=(web, side, agent, loop))
    assert t.namespace_name_of("web") == "container:web"
    assert t.namespace_name_of("side") == "container:web"
    assert t.namespace_name_of("agent") == "host"
    assert t.namespace_name_of("/web") == "container:web"  # Docker's leading slash
    assert t.namespace_name_of("loop") is None  # a cycle is not followed forever
    assert t.container_at(ip("172.17.0.2")) is web


def test_default_policy_rules_per_family() -> None:
    assert [r.priority for r in default_policy_rules(4)] == [0, 32766, 32767]
    assert [r.priority for r in default_policy_rules(6)] == [0, 32766]
    assert Namespace("x").policy_rules_for(4)[0].provenance.is_assumption


def test_provenance_is_not_part_of_equality_and_lists_assumptions() -> None:
    a = Link("eth0", "physical", provenance=read_from("ip-addr.json"))
    b = Link("eth0", "physical", provenance=assumed("test"))
    assert a == b
    rule = inferred(Location("dump.rules", 12), "-A DOCKER -j RETURN")
    t = Topology(daemon=DaemonOptions(userland_proxy=True, field_sources=(("userland_proxy", rule),)))
    (line,) = t.assumptions()
    assert "userland_proxy" in line and "dump.rules:12" in line and "-A DOCKER -j RETURN" in line
