"""When only rules are given: an assumed host uplink per interface the rules name.

An exposure matrix needs somewhere for an outside client to stand.  A plain rules
file says nothing about the host's interfaces, so each interface the rules name that
is not a Docker bridge becomes an assumed uplink with a documentation address
(203.0.113.0/24, 2001:db8:1::/48 — addresses no real ruleset names).  Every such
fact carries an ``assumed`` provenance and is listed with the matrix, and a topology
that names the host's interfaces is used unchanged.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from natsim.audit.regions import region_of
from natsim.audit.space import Dim
from natsim.model.ruleset import Ruleset
from natsim.topology.model import Link, LinkAddress, Namespace, Sysctl, Topology, assumed

MAX_UPLINKS = 16
DEFAULT_UPLINK = "eth0"


def _named_interfaces(rulesets: dict[int, Ruleset]) -> list[str]:
    names: list[str] = []
    for rs in rulesets.values():
        for table in rs.tables:
            for chain in table.chains:
                for rule in chain.rules:
                    for c in region_of(rule).constraints:
                        if c.dim in (Dim.IIF, Dim.OIF):
                            for name, prefix in c.values:
                                if not prefix and name not in names:
                                    names.append(name)
    return names


def with_assumed_uplinks(topology: Topology, rulesets: dict[int, Ruleset]) -> tuple[Topology, tuple[str, ...]]:
    """``topology`` plus an assumed host namespace when the host's interfaces are unknown."""
    host = topology.host_namespace
    if host is not None and host.links is not None:
        return topology, ()
    bridges = {n.bridge: n for n in topology.networks or () if n.bridge}
    uplinks = [n for n in _named_interfaces(rulesets) if n not in bridges and n != "lo"][:MAX_UPLINKS - 1]
    # and one interface the rules do not name: where "any other" client arrives
    uplinks.insert(0, DEFAULT_UPLINK if DEFAULT_UPLINK not in uplinks else "uplink0")
    why = "the host's interfaces are not known; natsim matrix assumed one uplink per interface the rules name"
    links: list[Link] = [Link("lo", "loopback", (
        LinkAddress(ipaddress.ip_address("127.0.0.1"), 8, "host"), LinkAddress(ipaddress.ip_address("::1"), 128, "host"),
    ), up=True, provenance=assumed(why))]
    notes = []
    for k, name in enumerate(uplinks):
        v4 = ipaddress.ip_address(f"203.0.113.{16 * k + 1}")
        v6 = ipaddress.ip_address(f"2001:db8:1:{k:x}::1")
        links.append(Link(name, "physical", (LinkAddress(v4, 28, "global"), LinkAddress(v6, 64, "global")), up=True,
                          provenance=assumed(why)))
        notes.append(f"assumed uplink {name} with addresses {v4}/28 and {v6}/64 (the host's interfaces are not known)")
    for name, net in bridges.items():
        addrs = tuple(
            LinkAddress(gw, sub.prefixlen, "global") for sub, gw in zip(net.subnets or (), net.gateways or ())
        )
        links.append(Link(name, "bridge", addrs, up=True, provenance=assumed(why)))
    ns = Namespace(topology.host, "host", links=tuple(links), provenance=assumed(why))
    if host is not None:
        ns = replace(host, links=ns.links)
    if ns.sysctls is None and _docker_runs(topology):
        # dockerd enables IPv4 forwarding at start-up (daemon option ip-forward, default true)
        ns = replace(ns, sysctls=(Sysctl("net.ipv4.ip_forward", "1", assumed(
            "Docker's rules are present and dockerd sets net.ipv4.ip_forward=1 when it starts (--ip-forward=true)"
        )),))
        notes.append("assumed net.ipv4.ip_forward=1: Docker's rules are present and dockerd enables forwarding")
    others = tuple(n for n in topology.namespaces if n.name != topology.host)
    return replace(topology, namespaces=(ns,) + others), tuple(notes)


def _docker_runs(topology: Topology) -> bool:
    return bool(topology.networks) or topology.daemon.iptables is True
