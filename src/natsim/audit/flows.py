"""Every flow worth asking about: source zones × destination services, one per source class.

Zones are who can open a connection (an outside client per host interface, the host
itself, each container); services are what they can open it to (published ports,
host ports the rules open, container ports).  For outside zones the source address
space is cut by every source boundary the rules mention (:mod:`natsim.audit.space`),
and one representative per class is asked, so the matrix covers all sources without
asking about each.  :func:`enumerate_flows` is the public entry point (the semantic
diff reuses it); :func:`cell_flows` keeps the zone/service labels with each flow.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass

from natsim.audit.checks_docker import outside_interfaces
from natsim.audit.probe import holds as _holds
from natsim.audit.regions import protocol_number, region_of
from natsim.audit.services import forwards, reachable_chains, routed_forwards
from natsim.audit.shadow import RuleAt
from natsim.audit.sources import SourceClass, source_classes
from natsim.audit.space import Dim
from natsim.engine.flow import Flow
from natsim.engine.packet import endpoint
from natsim.errors import UsageError
from natsim.explain.endpoints import Destination, Source
from natsim.explain.resolve import host_public_addresses, resolve
from natsim.model import matches as m
from natsim.model import targets as t
from natsim.model.ruleset import Ruleset
from natsim.model.values import IPAddress
from natsim.topology.model import Topology

#: At most this many source classes are asked about per outside zone and service.
MAX_SOURCE_CLASSES = 8
#: Up to this many containers, each is a zone of its own; beyond, containers the rules treat alike share one.
MAX_CONTAINER_ZONES = 16
#: At most this many host ports (from INPUT accepts) become services.
MAX_HOST_PORTS = 64
PORT_PROTOS = ("tcp", "udp", "sctp")


@dataclass(frozen=True, slots=True)
class Zone:
    key: str  # "outside:eth0", "outside", "host", "container:web", "containers on br-x (12)"
    source: Source
    kind: str  # outside, host, container
    members: tuple[str, ...] = ()  # for a class of containers: all of them, the representative first

    @property
    def label(self) -> str:
        return "outside (any interface)" if self.key == "outside" else self.key


@dataclass(frozen=True, slots=True)
class Service:
    key: str  # "published *:8080/tcp", "host:22/tcp", "container 172.17.0.2:80/tcp"
    kind: str  # published, host, container
    destination: Destination
    family: int
    rule: RuleAt | None = None  # the DNAT or ACCEPT rule that made it a service
    rule_port: int | None = None  # the port after DNAT, for a published port


@dataclass(frozen=True, slots=True)
class CellFlow:
    zone: Zone
    service: Service
    flow: Flow
    source_class: str | None = None  # "10.0.0.0-10.255.255.255" for outside zones
    source_ranges: "SourceClass | None" = None  # the whole class the flow's source stands for


def _topology_links(topo: Topology | None) -> list[str] | None:
    ns = topo.host_namespace if topo is not None else None
    if ns is None or ns.links is None:
        return None
    bridges = {n.bridge for n in topo.networks or () if n.bridge}
    return [
        l.name for l in ns.links
        if l.kind not in ("loopback", "bridge") and l.name != "lo" and l.name not in bridges and l.master is None
        and not (l.kind == "veth" and l.peer_namespace)
    ]


def zones(rulesets: dict[int, Ruleset], topo: Topology | None) -> list[Zone]:
    out: list[Zone] = []
    links = _topology_links(topo)
    if links:
        names = links
    else:
        names = []
        for rs in rulesets.values():
            for iface in outside_interfaces(rs, topo):
                if iface.label == iface.name and iface.name not in names:
                    names.append(iface.name)
    out.extend(Zone(f"outside:{n}", Source("outside", n), "outside") for n in names)
    if not links:
        out.append(Zone("outside", Source("outside"), "outside"))
    out.append(Zone("host", Source("host"), "host"))
    out.extend(container_zones(rulesets, topo))
    return out


def container_zones(rulesets: dict[int, Ruleset], topo: Topology | None) -> list[Zone]:
    """One zone per class of containers the rules treat alike as sources.

    Containers of one network mode and network whose addresses lie inside exactly the same
    source constraints of every rule are indistinguishable to netfilter as clients; one
    representative speaks for them (Docker names container addresses as sources only in
    hairpin MASQUERADEs and ICC/link rules, so a class is usually one network's containers).
    Containers with a namespace of their own in the topology keep their own zone: their
    rules may differ.
    """
    containers = [c for c in (topo.containers or ()) if c.running is not False] if topo is not None else []
    src_rules = [
        (rs.family, [c for c in region_of(r).constraints if c.dim is Dim.SRC])
        for rs in rulesets.values() for t in rs.tables for ch in t.chains for r in ch.rules
    ]
    src_rules = [(fam, cs) for fam, cs in src_rules if cs]
    own = {ns.name for ns in topo.namespaces} if topo is not None else set()
    groups: dict[tuple, list] = {}
    for c in containers:
        addrs = c.addresses()
        sig = tuple(
            i for i, (fam, cs) in enumerate(src_rules)
            if any(a.version == fam and all(_holds(k, int(a)) for k in cs) for a in addrs)
        )
        alone = (len(containers) <= MAX_CONTAINER_ZONES or f"container:{c.name}" in own
                 or c.mode in ("host", "container") or not addrs)
        key = (c.network_mode, tuple(sorted(e.network for e in c.endpoints or ())), sig, c.name if alone else "")
        groups.setdefault(key, []).append(c)
    out = []
    for (mode, nets, _, _), members in groups.items():
        rep = members[0]
        names = tuple(m.name for m in members)
        if len(members) == 1:
            out.append(Zone(f"container:{rep.name}", Source("container", rep.name), "container", names))
        else:
            where = ",".join(nets) or str(mode)
            out.append(Zone(f"containers on {where} ({len(members)}, e.g. {rep.name})",
                            Source("container", rep.name), "container", names))
    return out


def _zone_source(zone: Zone, service: Service, topo: Topology) -> Source:
    """The class representative, unless the service is its own port (a hairpin): then another member."""
    if len(zone.members) < 2 or service.rule is None:
        return zone.source
    rep = topo.container(zone.members[0])
    target = service.rule.rule.target
    dnat_to = getattr(target, "to_destination", None)
    own = set(rep.addresses()) if rep is not None else set()
    if service.destination.address in own or (dnat_to and dnat_to[0].addresses and dnat_to[0].addresses.lo in own):
        return Source("container", zone.members[1])
    return zone.source


def _input_ports(rs: Ruleset) -> list[tuple[str, int, RuleAt]]:
    """Ports INPUT (or a chain it jumps to) accepts by a plain ``--dport``: the host's services."""
    out: list[tuple[str, int, RuleAt]] = []
    tbl = rs.table("filter")
    if tbl is None:
        return out
    for name in reachable_chains(rs, "filter", ("INPUT",)):
        for idx, rule in enumerate(tbl.chain(name).rules, start=1):
            if not isinstance(rule.target, (t.Accept, t.Jump)) or rule.protocol is None or rule.protocol.negated:
                continue
            proto = rule.protocol.value
            if proto not in PORT_PROTOS:
                continue
            for mm in rule.matches:
                ports = None
                if isinstance(mm, (m.Tcp, m.Udp, m.Sctp)) and mm.dport is not None and not mm.dport.negated:
                    ports = (mm.dport.value,)
                elif isinstance(mm, m.Multiport) and mm.dports is not None and not mm.dports.negated:
                    ports = mm.dports.value
                for pr in ports or ():
                    out.append((proto, pr.lo, RuleAt("filter", name, idx, rule)))
    return out


def services(rulesets: dict[int, Ruleset], topo: Topology | None) -> list[Service]:
    out: list[Service] = []
    seen: set[str] = set()

    def add(s: Service) -> None:
        if s.key not in seen:
            seen.add(s.key)
            out.append(s)

    for fam, rs in sorted(rulesets.items()):
        fwd = forwards(rs, topo) + routed_forwards(rs, topo)
        for f in fwd:
            if f.host_port is None or f.proto not in PORT_PROTOS:
                continue
            if f.host_ip is None:
                dest = Destination("host", f.proto, f.host_port)
                where = f"*:{f.host_port}" if fam == 4 else f"[*]:{f.host_port}"
            else:
                dest = Destination("address", f.proto, f.host_port, address=f.host_ip)
                where = endpoint(f.host_ip, f.host_port)
            add(Service(f"published {where}/{f.proto}", "published", dest, fam, f.at, f.to_port))
        for f in fwd:
            if f.to_port is None or f.proto not in PORT_PROTOS or f.to_addr.is_loopback:
                continue
            add(Service(
                f"container {endpoint(f.to_addr, f.to_port)}/{f.proto}", "container",
                Destination("address", f.proto, f.to_port, address=f.to_addr), fam, f.at,
            ))
        v6 = "" if fam == 4 else " (v6)"
        listening = listening_ports(topo, fam)
        process = {(proto, port): who for proto, port, addr, who in listening if addr is None}

        def host_key(proto: str, port: int) -> str:
            who = process.get((proto, port))
            return f"host:{port}/{proto}{v6}" + (f" ({who})" if who else "")

        for proto, port, at in _input_ports(rs)[:MAX_HOST_PORTS]:
            add(Service(host_key(proto, port), "host", Destination("host", proto, port), fam, at))
        # what listens on the host (a snapshot's ss), whether or not a rule names its port
        for proto, port, addr, who in listening[:MAX_HOST_PORTS]:
            if addr is None:
                add(Service(host_key(proto, port), "host", Destination("host", proto, port), fam))
            else:
                add(Service(f"host {endpoint(addr, port)}/{proto}" + (f" ({who})" if who else ""), "host",
                            Destination("address", proto, port, address=addr), fam))
        # what the rules say about everything else: a port none of them names, and ping
        free = unnamed_port(rs)
        add(Service(f"host:{free}/tcp{v6} (no rule names it)", "host", Destination("host", "tcp", free), fam))
        add(Service(f"host ping{v6}", "host", Destination("host", "icmp"), fam))
    return out


def listening_ports(topo: Topology | None, family: int) -> list[tuple[str, int, IPAddress | None, str | None]]:
    """The host's listening sockets another machine could reach: (protocol, port, bound address or None
    for a wildcard, process), from ``ss`` when the topology has it.

    Loopback-only sockets are left out (nothing outside reaches them without DNAT to 127.0.0.1, which
    the rules then name), and so is docker-proxy (its ports are published services already).  A ``[::]``
    socket counts for IPv4 too unless it is known to be v6only (Linux's bindv6only=0 default).
    """
    ns = topo.host_namespace if topo is not None else None
    if ns is None or not ns.listeners:
        return []
    out: list[tuple[str, int, IPAddress | None, str | None]] = []
    seen: set[tuple[str, int, IPAddress | None]] = set()
    for sock in sorted(ns.listeners, key=lambda l: (l.port, l.proto)):
        if sock.proto not in PORT_PROTOS or (sock.process or "").startswith("docker-proxy"):
            continue
        a = sock.address
        if a.is_loopback:
            continue
        if a.is_unspecified:
            if not (a.version == family or (a.version == 6 and family == 4 and sock.v6only is not True)):
                continue
            addr = None
        elif a.version == family:
            addr = a
        else:
            continue
        if (sock.proto, sock.port, addr) not in seen:
            seen.add((sock.proto, sock.port, addr))
            out.append((sock.proto, sock.port, addr, sock.process))
    return out


def unnamed_port(rs: Ruleset) -> int:
    """A TCP port in the class of ports no rule singles out (so it stands for "any other port")."""
    named: list[tuple[int, int]] = []
    for table in rs.tables:
        for chain in table.chains:
            for rule in chain.rules:
                for c in region_of(rule).constraints:
                    if c.dim in (Dim.DPORT, Dim.SPORT):
                        named.extend(c.values)
    for port in (61000, 50123, 40123, 30123, 20123, 10123, 1):
        if not any(lo <= port <= hi and hi - lo < 30000 for lo, hi in named):
            return port
    return 61000


def _resolve(zone: Zone, service: Service, topo: Topology, family: int):
    """The explain layer's resolution of a zone and a service into flows, in the service's family."""
    dest = service.destination
    if dest.kind == "host" and family == 6:
        # "host" resolves to IPv4 addresses; name the host's IPv6 addresses one by one
        iface = zone.source.name if zone.kind == "outside" else None
        addrs = list(host_public_addresses(topo, 6, iface))
        if zone.kind == "host":
            addrs.append(ipaddress.ip_address("::1"))
        out = []
        for a in addrs:
            out.extend(_resolve(zone, Service(service.key, service.kind, Destination(
                "address", dest.proto, dest.port, address=a), family, service.rule, service.rule_port), topo, family))
        return tuple(out)
    try:
        return resolve(_zone_source(zone, service, topo), dest, topo)
    except UsageError:
        return ()


#: Above this many cells, host and container cells ask about the host's first address only.
LARGE = 4000


def is_large(n_zones: int, n_services: int) -> bool:
    return n_zones * n_services > LARGE


def cell_flows(network, zone_wanted: Callable[[Zone], bool] | None = None,
               service_wanted: Callable[[Service], bool] | None = None) -> list[CellFlow]:
    """Labelled flows for every zone × service of an engine ``Network`` (or those the filters keep).

    A cell asks one flow per source class (outside zones) and per host address that
    matters (the explain layer's meaning of ``host``); in a matrix of more than
    :data:`LARGE` cells, only the first host address, to keep thousands of ports fast.
    The size is the whole matrix's, so a filtered cell asks exactly what the whole matrix asks.
    """
    rulesets = {f: rs for f, rs in network.rulesets.items() if rs is not None}
    topo = network.topology or Topology()
    out: list[CellFlow] = []
    classes: dict[tuple, list] = {}
    all_zones = zones(rulesets, topo)
    all_services = services(rulesets, topo)
    large = is_large(len(all_zones), len(all_services))
    host = network.world.namespaces.get(topo.host)  # its routes, completed as the engine completes them
    chosen_zones = [z for z in all_zones if zone_wanted is None or zone_wanted(z)]
    for service in all_services:
        if service_wanted is not None and not service_wanted(service):
            continue
        for zone in chosen_zones:
            resolved = _resolve(zone, service, topo, service.family)
            if large and zone.kind != "outside":
                resolved = resolved[:1]
            for rf in resolved:
                flow = rf.flow
                if flow.family != service.family:
                    continue
                if zone.kind == "outside" and flow.source_address is None and flow.family in rulesets:
                    ports = tuple(p for p in (flow.dport, service.rule_port) if p is not None)
                    dests = (int(flow.destination),)  # what PREROUTING's rules see: the client's choice
                    key = (flow.family, flow.in_interface, flow.proto, ports, dests)
                    if key not in classes:
                        classes[key] = source_classes(
                            rulesets[flow.family], MAX_SOURCE_CLASSES, topo, flow.in_interface,
                            protocol_number(flow.proto), ports, dests, host)
                    for sc in classes[key]:
                        out.append(CellFlow(zone, service, _with_source(flow, sc.representative), sc.label, sc))
                else:
                    out.append(CellFlow(zone, service, flow, None))
    return out


def _with_source(flow: Flow, address) -> Flow:
    return Flow(flow.source, flow.destination, flow.proto, flow.dport, address, flow.sport, flow.in_interface)


def enumerate_flows(network) -> list[Flow]:
    """One flow per (source zone, destination service, source-address class) of ``network``."""
    return [cf.flow for cf in cell_flows(network)]
