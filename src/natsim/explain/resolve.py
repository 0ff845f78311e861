"""From endpoints as users write them to the engine's concrete flows, using the topology.

``host`` as a destination is every host address that matters for this source: the
host's own (non-Docker, non-loopback) addresses, plus 127.0.0.1 when the source is
the host itself, plus the container's gateway when the source is a container
(what ``host.docker.internal`` resolves to).  ``--via`` picks one.  A name the
topology does not know is a usage error that lists the names it does know.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from natsim.engine.flow import Flow
from natsim.errors import UsageError
from natsim.explain.endpoints import Destination, Source
from natsim.model.values import IPAddress
from natsim.topology.model import Container, Namespace, Topology

LOOPBACK = {4: ipaddress.ip_address("127.0.0.1"), 6: ipaddress.ip_address("::1")}


@dataclass(frozen=True, slots=True)
class ResolvedFlow:
    """One engine flow with the words that describe it and what resolving it assumed."""

    flow: Flow
    label: str
    assumptions: tuple[str, ...] = ()


def _known_containers(topo: Topology) -> str:
    names = sorted(c.name for c in topo.containers or ())
    return ", ".join(names) if names else "none (give docker inspect JSON or a snapshot with docker-inspect.json)"


def _container(topo: Topology, name: str, role: str) -> Container:
    c = topo.container(name)
    if c is None:
        raise UsageError(f"natsim: {role} container:{name} is not known; known containers: {_known_containers(topo)}")
    return c


def _is_docker_bridge(topo: Topology, ns: Namespace, iface: str) -> bool:
    link = ns.link(iface)
    if topo.network(iface) is not None:
        return True
    return link is not None and (link.kind == "bridge" or link.master is not None or iface.startswith(("docker", "br-")))


def host_public_addresses(
    topo: Topology, family: int, iface: str | None = None, uplinks: tuple[IPAddress, ...] = ()
) -> tuple[IPAddress, ...]:
    """The host's own addresses an outside client can use: global ones on non-Docker, non-loopback links.

    ``uplinks`` are the engine's (assumed) uplink addresses, used when the topology has no interfaces.
    """
    ns = topo.host_namespace
    if ns is None or ns.links is None:
        return tuple(a for a in uplinks if a.version == family)
    out: list[IPAddress] = []
    for link in ns.links:
        if iface is not None and link.name != iface:
            continue
        if link.kind == "loopback" or link.name == "lo" or (iface is None and _is_docker_bridge(topo, ns, link.name)):
            continue
        for a in link.addresses_of(family) or ():
            if a.scope in (None, "global") and not a.address.is_link_local and not a.address.is_loopback:
                out.append(a.address)
    return tuple(out)


def host_addresses(topo: Topology) -> tuple[IPAddress, ...]:
    ns = topo.host_namespace
    addrs = ns.addresses() if ns is not None else None
    return tuple(a.address for a in addrs or ())


def _namespace_owner(topo: Topology, c: Container) -> Container:
    """For --net=container:X, the container whose namespace (and addresses) it shares."""
    seen = {c.name}
    while c.mode == "container" and c.shares_with is not None:
        owner = topo.container(c.shares_with)
        if owner is None or owner.name in seen:
            break
        seen.add(owner.name)
        c = owner
    return c


def _container_address(c: Container, family: int) -> IPAddress | None:
    return next((a for a in c.addresses() if a.version == family), None)


def _gateways(topo: Topology, c: Container, family: int) -> tuple[IPAddress, ...]:
    out: list[IPAddress] = []
    for e in c.endpoints or ():
        gw = e.gateway if family == 4 else e.gateway6
        if gw is None:
            net = topo.network(e.network)
            gw = next((g for g in (net.gateways or ()) if g.version == family), None) if net is not None else None
        if gw is not None and gw not in out:
            out.append(gw)
    return tuple(out)


def _source_flow_fields(src: Source, topo: Topology) -> tuple[str, IPAddress | None, str | None]:
    """(engine source namespace, source address, arrival interface) for a source endpoint."""
    if src.kind == "outside":
        if src.name is not None:
            ns = topo.host_namespace
            if ns is not None and ns.links is not None and ns.link(src.name) is None:
                names = ", ".join(l.name for l in ns.links)
                raise UsageError(f"natsim: the host has no interface {src.name!r}; its interfaces: {names}")
        return "outside", None, src.name
    if src.kind == "host":
        return "host", None, None
    if src.kind == "container":
        assert src.name is not None
        c = _container(topo, src.name, "source")
        return f"container:{c.name}", None, None
    assert src.address is not None
    addr = src.address
    if addr in host_addresses(topo) or addr.is_loopback:
        return "host", addr, None
    owner = topo.container_at(addr)
    if owner is not None:
        return f"container:{owner.name}", addr, None
    return "outside", addr, None


def _host_targets(
    src: Source, topo: Topology, families: tuple[int, ...], via: IPAddress | None, uplinks: tuple[IPAddress, ...]
) -> tuple[IPAddress, ...]:
    if via is not None:
        known = host_addresses(topo)
        if known and via not in known and not via.is_loopback:
            listed = ", ".join(str(a) for a in known)
            raise UsageError(f"natsim: --via {via} is not an address of the host; its addresses: {listed}")
        return (via,)
    iface = src.name if src.kind == "outside" else None
    targets: list[IPAddress] = []
    for family in families:
        targets.extend(host_public_addresses(topo, family, iface, uplinks))
        if src.kind == "host" or (src.kind == "address" and src.address in host_addresses(topo)):
            targets.append(LOOPBACK[family])
        if src.kind == "container" and src.name is not None:
            c = _container(topo, src.name, "source")
            if c.mode in ("host",):
                targets.append(LOOPBACK[family])
            else:
                targets.extend(g for g in _gateways(topo, c, family) if g not in targets)
    if not targets:
        raise UsageError(
            "natsim: the host's own addresses are not known (no ip-addr.json in the snapshot, no topology);"
            " name one with --via ADDRESS or write --to ADDRESS:PORT/PROTO"
        )
    return tuple(targets)


def resolve(
    src: Source,
    dst: Destination,
    topo: Topology,
    via: IPAddress | None = None,
    uplinks: tuple[IPAddress, ...] = (),
    families: tuple[int, ...] = (4,),
) -> tuple[ResolvedFlow, ...]:
    """Every concrete flow the question stands for, in the order they are explained.

    ``uplinks``: the host's uplink addresses as the engine sees them (it may assume one
    when the topology names no interface); used only when the topology has none.
    ``families``: the IP versions whose rules were given; ``host`` and ``container:NAME``
    stand for addresses of these (IPv4 first).
    """
    namespace, src_addr, in_iface = _source_flow_fields(src, topo)
    if src_addr is not None:
        families = (src_addr.version,)
    elif via is not None:
        families = (via.version,)
    if dst.kind == "address":
        assert dst.address is not None
        targets: tuple[IPAddress, ...] = (dst.address,)
    elif dst.kind == "container":
        assert dst.name is not None
        c = _container(topo, dst.name, "destination")
        owner = _namespace_owner(topo, c)
        addr = next((a for f in (*families, 4, 6) if (a := _container_address(owner, f)) is not None), None)
        if addr is None:
            if c.mode == "host":
                raise UsageError(
                    f"natsim: container:{c.name} uses --net=host; ask about host:{dst.port}/{dst.proto} instead"
                )
            raise UsageError(f"natsim: the address of container:{c.name} is not known")
        targets = (addr,)
    else:
        targets = _host_targets(src, topo, families, via, uplinks)
    flows: list[ResolvedFlow] = []
    for target in targets:
        proto = dst.proto
        if proto == "icmp" and target.version == 6:
            proto = "icmpv6"
        if src_addr is not None and src_addr.version != target.version:
            raise UsageError(f"natsim: source {src_addr} and destination {target} are of different IP versions")
        flow = Flow(
            source=namespace,
            destination=target,
            proto=proto,
            dport=dst.port,
            source_address=src_addr,
            in_interface=in_iface,
        )
        where = f"[{target}]" if target.version == 6 and dst.port is not None else str(target)
        what = f"{where}:{dst.port}/{dst.proto}" if dst.port is not None else f"{where}/{dst.proto}"
        assumed = ()
        if dst.kind == "host" and via is None and len(targets) > 1:
            assumed = (f"{dst} means each of the host's addresses that matter here: {', '.join(map(str, targets))}",)
        flows.append(ResolvedFlow(flow, f"{src} -> {what}", assumed))
    return tuple(flows)
