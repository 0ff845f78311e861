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

from natsim.audit.checks_docker import CLIENT, is_internal_iface, outside_interfaces
from natsim.audit.regions import region_of
from natsim.audit.services import forwards, reachable_chains
from natsim.audit.shadow import RuleAt
from natsim.audit.space import Dim, IntervalAtoms, interval_universe
from natsim.engine.flow import Flow
from natsim.errors import UsageError
from natsim.explain.endpoints import Destination, Source
from natsim.explain.resolve import resolve
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


@dataclass(frozen=True, slots=True)
class CellFlow:
    zone: Zone
    service: Service
    flow: Flow
    source_class: str | None = None  # "10.0.0.0-10.255.255.255" for outside zones


def _topology_links(topo: Topology | None) -> list[str] | None:
    ns = topo.host_namespace if topo is not None else None
    if ns is None or ns.links is None:
        return None
    bridges = {n.bridge for n in topo.networks or () if n.bridge}
    return [
        l.name for l in ns.links
        if l.kind not in ("loopback", "bridge", "veth") and not is_internal_iface(l.name) and l.name not in bridges
        and l.master is None
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
            add(Service(f"published {host}:{f.host_port}/{f.proto}", "published", dest, fam, f.at))
        for f in fwd:
            if f.to_port is None or f.proto not in PORT_PROTOS or f.to_addr.is_loopback:
                continue
            where = f"[{f.to_addr}]" if fam == 6 else str(f.to_addr)
            add(Service(
                f"container {where}:{f.to_port}/{f.proto}", "container",
                Destination("address", f.proto, f.to_port, address=f.to_addr), fam, f.at,
            ))
        for proto, port, at in _input_ports(rs)[:MAX_HOST_PORTS]:
            add(Service(f"host:{port}/{proto}" + ("" if fam == 4 else " (v6)"), "host",
                        Destination("host", proto, port), fam, at))
    return out


def source_classes(rs: Ruleset, limit: int = MAX_SOURCE_CLASSES) -> list[tuple[str, ipaddress.IPv4Address | ipaddress.IPv6Address]]:
    """(label, representative) per class of outside source address the rules distinguish.

    The class holding a documentation address (an ordinary Internet client) comes first;
    then classes the rules name, in address order, up to ``limit``.
    """
    bounds: set[int] = set()
    for table, roots in (("raw", ("PREROUTING",)), ("mangle", ("PREROUTING", "FORWARD", "INPUT")),
                         ("nat", ("PREROUTING", "POSTROUTING")), ("filter", ("INPUT", "FORWARD"))):
        tbl = rs.table(table)
        for name in reachable_chains(rs, table, roots):
            for rule in tbl.chain(name).rules:
                for c in region_of(rule).constraints:
                    if c.dim is Dim.SRC:
                        for lo, hi in c.values:
                            bounds.update((lo, hi + 1))
    atoms = IntervalAtoms(bounds, interval_universe(Dim.SRC, rs.family))
    client = int(CLIENT[rs.family])
    make = ipaddress.ip_address if rs.family == 4 else (lambda v: ipaddress.IPv6Address(v))
    picked: list[tuple[str, object]] = []
    order = sorted(range(len(atoms)), key=lambda a: (not (atoms.interval(a)[0] <= client <= atoms.interval(a)[1]), a))
    for a in order:
        lo, hi = atoms.interval(a)
        if lo <= client <= hi:
            rep = client
        else:
            rep = lo + (hi - lo) // 2 if hi - lo > 2 else lo
            addr = make(rep)
            if addr.is_unspecified or addr.is_multicast or (rs.family == 4 and addr.is_reserved):
                continue
        label = "any" if len(atoms) == 1 else f"{make(lo)}-{make(hi)}"
        picked.append((label, make(rep)))
        if len(picked) >= limit:
            break
    return picked  # type: ignore[return-value]


def _resolve(zone: Zone, service: Service, topo: Topology, family: int):
    try:
        return resolve(zone.source, service.destination, topo)
    except UsageError:
        # the host's addresses are not known: a documentation address stands for "the host"
        from natsim.audit.checks_docker import HOST_ADDR

        if service.destination.kind != "host":
            return ()
        try:
            return resolve(zone.source, service.destination, topo, via=HOST_ADDR[family])
        except UsageError:
            return ()


def cell_flows(network) -> list[CellFlow]:
    """Labelled flows for every zone × service of an engine ``Network``."""
    rulesets = {f: rs for f, rs in network.rulesets.items() if rs is not None}
    topo = network.topology or Topology()
    out: list[CellFlow] = []
    classes = {fam: source_classes(rs) for fam, rs in rulesets.items()}
    for service in services(rulesets, topo):
        for zone in zones(rulesets, topo):
            for rf in _resolve(zone, service, topo, service.family):
                flow = rf.flow
                if flow.family != service.family:
                    continue
                if zone.kind == "outside" and flow.source_address is None:
                    for label, rep in classes.get(flow.family, [("any", None)]):
                        out.append(CellFlow(zone, service, _with_source(flow, rep), label))
                else:
                    out.append(CellFlow(zone, service, flow, None))
    return out


def _with_source(flow: Flow, address) -> Flow:
    return Flow(flow.source, flow.destination, flow.proto, flow.dport, address, flow.sport, flow.in_interface)


def enumerate_flows(network) -> list[Flow]:
    """One flow per (source zone, destination service, source-address class) of ``network``."""
    return [cf.flow for cf in cell_flows(network)]
