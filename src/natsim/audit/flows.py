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
from dataclasses import dataclass

from natsim.audit.checks_docker import CLIENT, outside_interfaces
from natsim.audit.probe import holds as _holds
from natsim.audit.regions import protocol_number, region_of
from natsim.audit.services import forwards, reachable_chains
from natsim.audit.shadow import RuleAt
from natsim.audit.space import Dim, IntervalAtoms, interval_universe
from natsim.engine.flow import Flow
from natsim.errors import UsageError
from natsim.explain.endpoints import Destination, Source
from natsim.explain.resolve import host_public_addresses, resolve
from natsim.model import matches as m
from natsim.model import targets as t
from natsim.model.ruleset import Ruleset
from natsim.topology.model import Topology

#: At most this many source classes are asked about per outside zone and service.
MAX_SOURCE_CLASSES = 8
#: At most this many host ports (from INPUT accepts) become services.
MAX_HOST_PORTS = 64
PORT_PROTOS = ("tcp", "udp", "sctp")


@dataclass(frozen=True, slots=True)
class Zone:
    key: str  # "outside:eth0", "outside", "host", "container:web"
    source: Source
    kind: str  # outside, host, container

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
    for c in (topo.containers or ()) if topo is not None else ():
        if c.running is False:
            continue
        out.append(Zone(f"container:{c.name}", Source("container", c.name), "container"))
    return out


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
        fwd = forwards(rs, topo)
        for f in fwd:
            if f.host_port is None or f.proto not in PORT_PROTOS:
                continue
            if f.host_ip is None:
                dest = Destination("host", f.proto, f.host_port)
                host = "*" if fam == 4 else "[*]"
            else:
                dest = Destination("address", f.proto, f.host_port, address=f.host_ip)
                host = f"[{f.host_ip}]" if fam == 6 else str(f.host_ip)
            add(Service(f"published {host}:{f.host_port}/{f.proto}", "published", dest, fam, f.at, f.to_port))
        for f in fwd:
            if f.to_port is None or f.proto not in PORT_PROTOS or f.to_addr.is_loopback:
                continue
            where = f"[{f.to_addr}]" if fam == 6 else str(f.to_addr)
            add(Service(
                f"container {where}:{f.to_port}/{f.proto}", "container",
                Destination("address", f.proto, f.to_port, address=f.to_addr), fam, f.at,
            ))
        v6 = "" if fam == 4 else " (v6)"
        for proto, port, at in _input_ports(rs)[:MAX_HOST_PORTS]:
            add(Service(f"host:{port}/{proto}{v6}", "host", Destination("host", proto, port), fam, at))
        # what the rules say about everything else: a port none of them names, and ping
        free = unnamed_port(rs)
        add(Service(f"host:{free}/tcp{v6} (no rule names it)", "host", Destination("host", "tcp", free), fam))
        add(Service(f"host ping{v6}", "host", Destination("host", "icmp"), fam))
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


def _topology_cuts(topo: Topology | None, family: int) -> tuple[list, list]:
    """(prefixes the engine tells apart, prefixes no outside client can have as its address).

    Loopback, the host's own addresses and Docker's subnets are spoofed sources when they
    arrive from outside (the kernel drops them as martians or Docker's raw rules do); the
    host's on-link subnets are real neighbours.
    """
    loop = ipaddress.ip_network("127.0.0.0/8" if family == 4 else "::1/128")
    cuts, spoofed = [loop], [loop]
    if topo is None:
        return cuts, spoofed
    for net in topo.networks or ():
        subs = [s for s in net.subnets or () if s.version == family]
        cuts.extend(subs)
        spoofed.extend(subs)
    ns = topo.host_namespace
    for a in (ns.addresses(family) or ()) if ns is not None else ():
        own = ipaddress.ip_network(a.address)
        cuts.extend((a.network, own))
        spoofed.append(own)
    return cuts, spoofed


def _relevant(constraints, iface: str | None, num: int | None, ports: tuple[int, ...]) -> bool:
    """Could a rule with these constraints see a packet from ``iface`` of protocol ``num`` to one of ``ports``?"""
    for c in constraints:
        d = c.dim
        if d is Dim.IIF:
            if iface is not None and not _holds(c, iface):
                return False
        elif d is Dim.PROTO:
            if num is not None and not _holds(c, num):
                return False
        elif ports and not any(_holds(c, p) for p in ports):
            return False
    return True


@dataclass(frozen=True, slots=True)
class SourceClass:
    """Source addresses every relevant rule treats alike: ``ranges`` (inclusive ints) and a representative."""

    ranges: tuple[tuple[int, int], ...]
    representative: ipaddress.IPv4Address | ipaddress.IPv6Address
    label: str


_SRC_RULES: dict[int, tuple[Ruleset, list]] = {}
_FILTER_DIMS = (Dim.IIF, Dim.PROTO, Dim.DPORT)


def _source_constraints(rs: Ruleset) -> list:
    """(all constraints, SRC constraints) of every rule a packet arriving from outside may meet; cached."""
    hit = _SRC_RULES.get(id(rs))
    if hit is not None and hit[0] is rs:
        return hit[1]
    out = []
    for table, roots in (("raw", ("PREROUTING",)), ("mangle", ("PREROUTING", "FORWARD", "INPUT")),
                         ("nat", ("PREROUTING", "POSTROUTING")), ("filter", ("INPUT", "FORWARD"))):
        tbl = rs.table(table)
        for name in reachable_chains(rs, table, roots):
            for rule in tbl.chain(name).rules:
                constraints = region_of(rule).constraints
                src = [c for c in constraints if c.dim is Dim.SRC]
                if src:
                    out.append((tuple(c for c in constraints if c.dim in _FILTER_DIMS), src))
    if len(_SRC_RULES) > 64:
        _SRC_RULES.clear()
    _SRC_RULES[id(rs)] = (rs, out)
    return out


def source_classes(
    rs: Ruleset, limit: int = MAX_SOURCE_CLASSES, topo: Topology | None = None, iface: str | None = None,
    proto: str | None = None, ports: tuple[int, ...] = (),
) -> list[SourceClass]:
    """One class per set of source addresses that every rule able to see the packet treats alike.

    Only rules that could see the packet (its interface, protocol and ports) count.  The
    address line is cut at each of their boundaries (and at the prefixes the topology
    tells apart); then pieces that lie inside the same rules' source constraints are
    merged into one class (a 64-bit hash of the set of constraints containing each piece,
    built with a difference array).  Classes of spoofed sources (loopback, the host's own
    addresses, Docker subnets) are left out.  The class of an ordinary Internet client comes
    first, then the others in address order, up to ``limit``.
    """
    entries = _source_constraints(rs)
    num = protocol_number(proto) if proto else None
    chosen = tuple(i for i, (constraints, _) in enumerate(entries) if _relevant(constraints, iface, num, ports))
    key = (id(rs), chosen, limit, id(topo))
    hit = _CLASSES.get(key)
    if hit is not None and hit[0] is rs:
        return hit[1]
    out = _classes(rs, [entries[i][1] for i in chosen], limit, topo)
    if len(_CLASSES) > 4096:
        _CLASSES.clear()
    _CLASSES[key] = (rs, out)
    return out


_CLASSES: dict[tuple, tuple[Ruleset, list[SourceClass]]] = {}


def _classes(rs: Ruleset, relevant: list, limit: int, topo: Topology | None) -> list[SourceClass]:
    import random

    bounds: set[int] = set()
    for src in relevant:
        for c in src:
            for lo, hi in c.values:
                bounds.update((lo, hi + 1))
    cuts, spoofed = _topology_cuts(topo, rs.family)
    for net in cuts:
        bounds.update((int(net.network_address), int(net.broadcast_address) + 1))
    atoms = IntervalAtoms(bounds, interval_universe(Dim.SRC, rs.family))
    n = len(atoms)
    diff = [0] * (n + 1)
    rnd = random.Random(0)
    spoof = [0] * (n + 1)  # a difference array of "inside a spoofed prefix" counts
    for net in spoofed:
        spoof[atoms.index_of(int(net.network_address))] += 1
        spoof[atoms.index_of(int(net.broadcast_address)) + 1] -= 1
    for src in relevant:
        for c in src:
            h = rnd.getrandbits(64)
            if c.negated:
                diff[0] ^= h
                diff[n] ^= h
            for lo, hi in c.values:
                i = atoms.index_of(lo)
                j = atoms.index_of(hi) + 1
                diff[i] ^= h
                diff[j] ^= h
    groups: dict[int, list[int]] = {}
    sig = 0
    inside = 0
    for a in range(n):
        sig ^= diff[a]
        inside += spoof[a]
        if not inside:
            groups.setdefault(sig, []).append(a)
    client = int(CLIENT[rs.family])
    client_atom = atoms.index_of(client)
    make = ipaddress.ip_address if rs.family == 4 else (lambda v: ipaddress.IPv6Address(v))
    ordered = sorted(groups.values(), key=lambda ms: (client_atom not in ms, ms[0]))
    out: list[SourceClass] = []
    for members in ordered:
        if len(out) >= limit:
            break
        ranges = tuple(atoms.interval(a) for a in members)
        rep = client if client_atom in members else None
        if rep is None:
            for lo, hi in ranges:
                cand = lo + (hi - lo) // 2 if hi - lo > 2 else lo
                addr = make(cand)
                if not (addr.is_unspecified or addr.is_multicast or (rs.family == 4 and addr.is_reserved)):
                    rep = cand
                    break
        if rep is None:
            continue
        first = f"{make(ranges[0][0])}-{make(ranges[0][1])}"
        label = "any" if len(groups) == 1 else first + (f" (+{len(ranges) - 1} more ranges)" if len(ranges) > 1 else "")
        out.append(SourceClass(ranges, make(rep), label))
    return out


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
        return out
    try:
        return resolve(zone.source, dest, topo)
    except UsageError:
        return ()


def cell_flows(network) -> list[CellFlow]:
    """Labelled flows for every zone × service of an engine ``Network``."""
    rulesets = {f: rs for f, rs in network.rulesets.items() if rs is not None}
    topo = network.topology or Topology()
    out: list[CellFlow] = []
    classes: dict[tuple, list] = {}
    for service in services(rulesets, topo):
        for zone in zones(rulesets, topo):
            for rf in _resolve(zone, service, topo, service.family):
                flow = rf.flow
                if flow.family != service.family:
                    continue
                if zone.kind == "outside" and flow.source_address is None and flow.family in rulesets:
                    ports = tuple(p for p in (flow.dport, service.rule_port) if p is not None)
                    key = (flow.family, flow.in_interface, flow.proto, ports)
                    if key not in classes:
                        classes[key] = source_classes(
                            rulesets[flow.family], topo=topo, iface=flow.in_interface, proto=flow.proto, ports=ports)
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
