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
from natsim.topology.model import (
    Container,
    Endpoint,
    Link,
    LinkAddress,
    Namespace,
    Sysctl,
    Topology,
    assumed,
)

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


def _subnets_by_interface(rulesets: dict[int, Ruleset]) -> dict[tuple[str, int], ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """``-i X -s NET`` / ``-o X -d NET``: the rules place NET behind interface X (first such rule wins)."""
    out: dict = {}
    for rs in rulesets.values():
        for table in rs.tables:
            for chain in table.chains:
                for r in chain.rules:
                    for iface, net in ((r.in_interface, r.source), (r.out_interface, r.destination)):
                        if iface is None or net is None or iface.negated or net.negated:
                            continue
                        name, prefix = iface.value.name, net.value
                        if name.endswith("+") or prefix.num_addresses < 4 or prefix.prefixlen == 0:
                            continue
                        out.setdefault((name, prefix.version), prefix)
    return out


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
    behind = _subnets_by_interface(rulesets)
    for k, name in enumerate(uplinks):
        addrs = []
        for fam, default in ((4, (ipaddress.ip_address(f"203.0.113.{16 * k + 1}"), 28)),
                             (6, (ipaddress.ip_address(f"2001:db8:1:{k:x}::1"), 64))):
            net = behind.get((name, fam))
            addr, plen = (net.network_address + 1, net.prefixlen) if net is not None else default
            addrs.append(LinkAddress(addr, plen, "global"))
        links.append(Link(name, "physical", tuple(addrs), up=True, provenance=assumed(why)))
        shown = " and ".join(str(a) for a in addrs)
        notes.append(f"assumed uplink {name} with addresses {shown} (the host's interfaces are not known)")
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
    topology = replace(topology, namespaces=(ns,) + others)
    topology, more = with_bridge_members(topology)
    return topology, tuple(notes) + more


def with_bridge_members(topology: Topology) -> tuple[Topology, tuple[str, ...]]:
    """A stand-in container on each Docker network no known container uses, so the bridge is a zone.

    It sits at the subnet's last usable address (Docker's IPAM hands out addresses from the
    bottom, so a real container rarely has it) and stands for "a container on this network".
    """
    used = {e.network for c in topology.containers or () for e in c.endpoints or ()}
    extra: list[Container] = []
    notes: list[str] = []
    for net in topology.networks or ():
        if net.name in used or net.bridge is None or net.internal:
            continue
        sub = next((s for s in net.subnets or () if s.version == 4 and s.num_addresses >= 4), None)
        if sub is None:
            continue
        addr = sub.broadcast_address - 1
        why = f"no container on network {net.name} is known; a stand-in at {addr} shows what one could reach"
        extra.append(Container(
            f"any-on-{net.bridge}", network_mode=net.name, running=True, provenance=assumed(why),
            endpoints=(Endpoint(net.name, addr, sub.prefixlen, provenance=assumed(why)),),
        ))
        notes.append(f"assumed a container any-on-{net.bridge} at {addr} on network {net.name} (none is known)")
    if not extra:
        return topology, ()
    return replace(topology, containers=tuple(topology.containers or ()) + tuple(extra)), tuple(notes)


def _docker_runs(topology: Topology) -> bool:
    return bool(topology.networks) or topology.daemon.iptables is True
