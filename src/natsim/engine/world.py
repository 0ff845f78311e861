"""The engine's view of the topology: namespaces, interfaces, L2 segments, routing tables.

Built once per :class:`~natsim.engine.network.Network` from a
:class:`natsim.topology.model.Topology`.  Where the topology is silent the world fills
in what the kernel or Docker would have (local routes from addresses, a container's
default route via its gateway, an outside client beyond the host's uplink) and lists
each such fill-in as an assumption, so an answer never rests on a hidden guess.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from natsim.engine.tri import Tri, Unknown
from natsim.model.values import IPAddress, IPNetwork
from natsim.topology import model as tm

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
LOOPBACK4 = ipaddress.ip_network("127.0.0.0/8")
DEFAULT = {4: ipaddress.ip_network("0.0.0.0/0"), 6: ipaddress.ip_network("::/0")}
#: The uplink natsim assumes when nothing says what the host's interfaces are (TEST-NET-3).
ASSUMED_UPLINK = ("eth0", "203.0.113.1/24")
#: Its IPv6 address (the documentation prefix 2001:db8::/32), so pasted ip6tables dumps get a way in too.
ASSUMED_UPLINK6 = "2001:db8:ffff::1/64"
DEFAULT_RULES = {4: tm.default_policy_rules(4), 6: tm.default_policy_rules(6)}
_UNSET = object()
LO_ADDRS = (ipaddress.ip_interface("127.0.0.1/8"), ipaddress.ip_interface("::1/128"))


@dataclass
class Iface:
    name: str
    kind: str | None
    addrs: list[IPInterface]
    master: str | None = None
    hairpin: Tri = False
    mac: str | None = None
    up: bool = True

    def addrs_of(self, family: int) -> list[IPInterface]:
        return [a for a in self.addrs if a.version == family]


@dataclass(frozen=True)
class RouteV:
    dst: IPNetwork
    type: str = "unicast"
    dev: str | None = None
    gateway: IPAddress | None = None
    prefsrc: IPAddress | None = None
    metric: int = 0
    table: int = tm.TABLE_MAIN


@dataclass
class Member:
    """One end attached to an L2 segment: an interface in a namespace.

    For a bridge segment ``port`` is the host-side bridge port the member sits behind
    (None for the bridge device itself); ``world`` members stand for everything beyond
    the host's uplink and answer for any address nobody else on the segment owns.
    """

    ns: str
    iface: str
    port: str | None = None
    hairpin: Tri = False
    world: bool = False


@dataclass
class Segment:
    kind: str  # "bridge" or "link"
    members: list[Member]
    bridge_ns: str | None = None
    bridge: str | None = None

    def member(self, ns: str, iface: str) -> Member | None:
        index = self.__dict__.get("_by_end")
        if index is None or len(index) != len(self.members):
            index = self.__dict__["_by_end"] = {(m.ns, m.iface): m for m in self.members}
        return index.get((ns, iface))


@dataclass
class Ns:
    name: str
    role: str
    ifaces: dict[str, Iface]
    routes: dict[int, list[RouteV]] = field(default_factory=dict)  # by family
    rules: dict[int, tuple[tm.PolicyRule, ...]] = field(default_factory=dict)
    topo: tm.Namespace | None = None
    listeners: tuple[tm.Listener, ...] | None = None
    world: bool = False
    world_exclude: frozenset[IPAddress] = frozenset()

    def __post_init__(self) -> None:
        self.local: dict[IPAddress, str] = {}
        for iface in self.ifaces.values():
            for a in iface.addrs:
                self.local.setdefault(a.ip, iface.name)

    # ------------------------------------------------------------------ addresses

    def is_local(self, addr: IPAddress) -> bool:
        if self.world:
            return addr not in self.world_exclude
        t = self.local_route_type(addr)
        return t == "local"

    def local_route_type(self, addr: IPAddress, dev: str | None = None) -> str | None:
        """The type of the local table's route for ``addr`` (addrtype), or None."""
        memo = self.__dict__.get("_local_best")
        if memo is None:
            memo = self.__dict__["_local_best"] = {}
        key = (addr._ip, addr.__class__)
        best = memo.get(key, _UNSET)
        if best is _UNSET:
            best = memo[key] = self.table_lookup(addr, tm.TABLE_LOCAL)
        if best is None:
            return None
        if dev is not None and best.dev is not None and best.dev != dev:
            return None
        return best.type

    def table_lookup(self, addr: IPAddress, table: int, oif: str | None = None) -> RouteV | None:
        """Longest-prefix match in one table (lowest metric among equals), by a per-prefix-length index."""
        index = self._index(addr.version, table)
        bits = addr.max_prefixlen
        value = int(addr)
        for plen, by_net in index:
            cands = by_net.get(value >> (bits - plen) if plen else 0)
            if not cands:
                continue
            for r in cands:
                if oif is not None and r.dev is not None and r.dev != oif and r.type == "unicast":
                    continue
                return r
        return None

    def _index(self, family: int, table: int) -> list[tuple[int, dict[int, list[RouteV]]]]:
        complete = self.__dict__.pop("_complete", None)
        if complete is not None:  # the world fills in kernel-made routes on first use (cheap world builds)
            complete(self)
        cache = self.__dict__.setdefault("_lpm", {})
        got = cache.get((family, table))
        if got is None:
            by_len: dict[int, dict[int, list[RouteV]]] = {}
            for r in self.routes.get(family, ()):
                if r.table != table:
                    continue
                plen = r.dst.prefixlen
                key = int(r.dst.network_address) >> (r.dst.max_prefixlen - plen) if plen else 0
                by_len.setdefault(plen, {}).setdefault(key, []).append(r)
            for d in by_len.values():
                for lst in d.values():
                    lst.sort(key=lambda r: r.metric)
            got = cache[(family, table)] = sorted(by_len.items(), key=lambda kv: -kv[0])
        return got

    def addr_type(self, addr: IPAddress, dev: str | None = None) -> str:
        """``-m addrtype``: net/netfilter/xt_addrtype.c via inet_dev_addr_type on the local table."""
        if addr.version == 4:
            if addr._ip == 0 or addr._ip == 0xFFFFFFFF:
                return "BROADCAST"
            if addr.is_multicast:
                return "MULTICAST"
        else:
            if addr.is_unspecified:
                return "UNSPEC"
            if addr.is_multicast:
                return "MULTICAST"
        if self.world:
            return "LOCAL" if self.is_local(addr) else "UNICAST"
        t = self.local_route_type(addr, dev)
        return (t or "unicast").upper()

    def iface_of(self, addr: IPAddress) -> str | None:
        return self.local.get(addr)

    def primary(self, iface: str, family: int, toward: IPAddress | None = None) -> IPAddress | None:
        """inet_select_addr: the interface's address on the subnet of ``toward``, else its first global one."""
        i = self.ifaces.get(iface)
        if i is None:
            return None
        addrs = i.addrs_of(family)
        if toward is not None:
            for a in addrs:
                if toward in a.network and not a.ip.is_link_local:
                    return a.ip
        for a in addrs:
            if not a.ip.is_link_local and not a.ip.is_loopback:
                return a.ip
        return addrs[0].ip if addrs else None

    def any_address(self, family: int) -> IPAddress | None:
        for iface in self.ifaces.values():
            if iface.kind == "loopback":
                continue
            for a in iface.addrs_of(family):
                if not a.ip.is_link_local:
                    return a.ip
        return None

    # ------------------------------------------------------------------ routing

    def lookup(self, dst: IPAddress, src: IPAddress | None = None, iif: str | None = None,
               mark: int = 0, oif: str | None = None) -> RouteV | None:
        """fib_lookup: policy rules in priority order, then the longest prefix of each table.

        Memoised: a namespace's routes and rules do not change once the world is built, and a
        matrix asks the same few lookups thousands of times.
        """
        # keyed by the addresses' integers: an ipaddress object hashes by formatting itself as hex text
        key = (dst._ip, None if src is None else src._ip, iif, mark, oif, dst.__class__)
        memo = self.__dict__.get("_fib")
        if memo is None:
            memo = self.__dict__["_fib"] = {}
        route = memo.get(key, _UNSET)
        if route is _UNSET:
            route = memo[key] = self._fib_lookup(dst, src, iif, mark, oif)
        return route

    def _fib_lookup(self, dst: IPAddress, src: IPAddress | None, iif: str | None, mark: int,
                    oif: str | None) -> RouteV | None:
        fam = dst.version
        for rule in self.rules.get(fam, ()):
            if not _rule_matches(rule, dst, src, iif, mark, oif):
                continue
            if rule.action in ("blackhole", "unreachable", "prohibit"):
                return RouteV(ipaddress.ip_network(f"{dst}/{dst.max_prefixlen}"), rule.action)
            if rule.action != "lookup" or rule.table is None:
                continue
            best = self.table_lookup(dst, rule.table, oif)
            if best is None or best.type == "throw":
                continue
            if rule.suppress_prefixlength is not None and best.dst.prefixlen <= rule.suppress_prefixlength:
                continue
            return best
        return None

    def select_source(self, route: RouteV, dst: IPAddress) -> IPAddress | None:
        """The source address a local socket gets for ``dst`` (ip_route_output / ipv6_dev_get_saddr)."""
        if route.prefsrc is not None:
            return route.prefsrc
        if route.type == "local":
            return dst
        toward = route.gateway or dst
        if route.dev is not None:
            addr = self.primary(route.dev, dst.version, toward)
            if addr is not None:
                return addr
        return self.any_address(dst.version)


def _rule_matches(rule: tm.PolicyRule, dst: IPAddress, src: IPAddress | None, iif: str | None,
                  mark: int, oif: str | None) -> bool:
    ok = True
    if rule.src is not None:
        ok = ok and src is not None and src in rule.src
    if rule.dst is not None:
        ok = ok and dst in rule.dst
    if rule.iif is not None:
        ok = ok and (iif or "lo") == rule.iif
    if rule.oif is not None:
        ok = ok and oif == rule.oif
    if rule.fwmark is not None:
        mask = rule.fwmark if rule.fwmask is None else rule.fwmask
        mask = 0xFFFFFFFF if rule.fwmask is None else rule.fwmask
        ok = ok and (mark & mask) == rule.fwmark
    return ok != rule.invert


# ---------------------------------------------------------------------------- building


class World:
    """Every namespace a packet may cross, and the L2 segments that join them."""

    def __init__(self, topology: tm.Topology | None) -> None:
        self.topology = topology or tm.Topology()
        self.namespaces: dict[str, Ns] = {}
        self.segments: dict[tuple[str, str], Segment] = {}
        self.assumptions: list[str] = []
        self._build()

    # ------------------------------------------------------------------ queries

    def network(self, name: str) -> tm.DockerNetwork | None:
        """Topology.network, memoized (asked once per container endpoint)."""
        cache = self.__dict__.setdefault("_networks", {})
        if name not in cache:
            cache[name] = self.topology.network(name)
        return cache[name]

    def ns(self, name: str) -> Ns | None:
        return self.namespaces.get(name)

    def segment(self, ns: str, iface: str) -> Segment | None:
        return self.segments.get((ns, iface))

    def resolve_namespace(self, name: str) -> str | None:
        """A flow source name to a namespace: ``container:X`` follows --net=host / --net=container:X."""
        if name in self.namespaces:
            if name.startswith("container:"):
                target = self.topology.namespace_name_of(name.split(":", 1)[1])
                if target is not None and target in self.namespaces:
                    return target
            return name
        if name.startswith("container:"):
            target = self.topology.namespace_name_of(name.split(":", 1)[1])
            if target is not None and target in self.namespaces:
                return target
        return None

    def owner_on(self, seg: Segment, addr: IPAddress, exclude: Member | None = None) -> Member | None:
        """Who answers ARP/NDP for ``addr`` on the segment (the world answers for the rest)."""
        owners = seg.__dict__.get("_owners")
        if owners is None:
            owners = {}
            for m in seg.members:
                iface = self.namespaces[m.ns].ifaces.get(m.iface)
                for a in iface.addrs if iface is not None and not m.world else ():
                    owners.setdefault(a.ip, []).append(m)
            seg.__dict__["_owners"] = owners
        for m in owners.get(addr, ()):
            if m is not exclude:
                return m
        return next((m for m in seg.members if m.world and m is not exclude), None)

    def unknown_members(self, seg: Segment) -> str | None:
        """Why the segment may hold neighbours natsim does not know of (None: its members were read).

        A Docker bridge whose network was only inferred from the rules holds more than the
        containers the rules name (a container with no published port, a swarm ingress
        sandbox), so "nobody answers ARP" there is not a fact.
        """
        if seg.kind != "bridge" or seg.bridge is None or seg.bridge_ns != self.topology.host:
            return None
        net = self.topology.network(seg.bridge)
        if net is None or net.provenance.how != "inferred":
            return None
        if any(c.provenance.how != "inferred" for c in self.topology.containers or ()
               for e in c.endpoints or () if e.network == net.name):
            return None
        return f"network {net.name} ({seg.bridge}) was inferred from the rules, which name only some of its containers"

    # ------------------------------------------------------------------ build

    def _build(self) -> None:
        topo = self.topology
        self.container_ns: dict[str, str | None] = {c.name: topo.namespace_name_of(c) for c in topo.containers or ()}
        self.containers_in: dict[str, list[tm.Container]] = {}
        for c in topo.containers or ():
            name = self.container_ns[c.name]
            if name is not None:
                self.containers_in.setdefault(name, []).append(c)
        for tns in topo.namespaces:
            self.namespaces[tns.name] = self._ns_from(tns)
        host = self.namespaces.get(topo.host)
        if host is None:
            self.namespaces[topo.host] = self._synth_host()
        elif host.topo is not None and host.topo.links is None:
            # the host namespace is known (sysctls, routes...) but not its interfaces: assume them
            synth = self._synth_host()
            host.ifaces.update({k: v for k, v in synth.ifaces.items() if k not in host.ifaces})
            host.__post_init__()
        self._synth_containers()
        self._link_veths()
        self._bridge_segments()
        self._attach_outside()
        for ns in self.namespaces.values():
            if getattr(ns, "_synth_default", False):  # many and assumption-free: completed on first use
                ns._complete = self._complete_routes  # type: ignore[attr-defined]
            else:
                self._complete_routes(ns)

    def _assume(self, text: str) -> None:
        if text not in self.assumptions:
            self.assumptions.append(text)

    def _ns_from(self, tns: tm.Namespace) -> Ns:
        ifaces: dict[str, Iface] = {}
        for l in tns.links or ():
            addrs = [a.interface for a in l.addresses or ()]
            kind = l.kind
            if kind is None and l.name == "lo":
                kind = "loopback"
            ifaces[l.name] = Iface(l.name, kind, addrs, l.master, l.hairpin if l.hairpin is not None else
                                   Unknown(f"hairpin mode of bridge port {l.name} in {tns.name} is not known"),
                                   l.mac, l.up is not False)
        if "lo" not in ifaces:
            ifaces["lo"] = Iface("lo", "loopback", list(LO_ADDRS))
        routes: dict[int, list[RouteV]] = {4: [], 6: []}
        for r in tns.routes or ():
            routes[r.family].append(RouteV(r.dst, r.type, r.dev, r.gateway, r.prefsrc, r.metric or 0, r.table))
        ns = Ns(tns.name, tns.role, ifaces, routes, {4: tns.policy_rules_for(4), 6: tns.policy_rules_for(6)}, tns,
                tns.listeners, world=False)
        ns._routes_known = tns.routes is not None  # type: ignore[attr-defined]
        return ns

    def _synth_host(self) -> Ns:
        self._assume(f"the host's interfaces are not known: natsim assumed loopback, the Docker bridges and an uplink "
                     f"{ASSUMED_UPLINK[0]} {ASSUMED_UPLINK[1]} and {ASSUMED_UPLINK6} (documentation addresses)")
        uplink = [ipaddress.ip_interface(ASSUMED_UPLINK[1]), ipaddress.ip_interface(ASSUMED_UPLINK6)]
        ifaces = {"lo": Iface("lo", "loopback", list(LO_ADDRS)),
                  ASSUMED_UPLINK[0]: Iface(ASSUMED_UPLINK[0], "physical", uplink)}
        for n in self.topology.networks or ():
            if n.bridge is None:
                continue
            addrs: list[IPInterface] = []
            for sub, gw in zip(n.subnets or (), n.gateways or ()):
                addrs.append(ipaddress.ip_interface(f"{gw}/{sub.prefixlen}"))
            ifaces[n.bridge] = Iface(n.bridge, "bridge", addrs)
        ns = Ns(self.topology.host, "host", ifaces, {4: [], 6: []},
                {4: tm.default_policy_rules(4), 6: tm.default_policy_rules(6)})
        ns._routes_known = False  # type: ignore[attr-defined]
        return ns

    def _synth_containers(self) -> None:
        """A namespace for each container the topology names but did not read: Docker's standard setup."""
        topo = self.topology
        synthesized: list[str] = []
        for c in topo.containers or ():
            name = self.container_ns.get(c.name)
            if name is None or name in self.namespaces or not c.endpoints:
                continue
            ifaces = {"lo": Iface("lo", "loopback", list(LO_ADDRS))}
            routes: dict[int, list[RouteV]] = {4: [], 6: []}
            for i, e in enumerate(c.endpoints):
                net = self.network(e.network)
                addrs: list[IPInterface] = []
                for addr, plen in ((e.ipv4, e.ipv4_prefixlen), (e.ipv6, e.ipv6_prefixlen)):
                    if addr is None:
                        continue
                    if plen is None and net is not None:
                        sub = net.subnet_for(addr)
                        plen = sub.prefixlen if sub is not None else None
                    plen = plen if plen is not None else addr.max_prefixlen
                    addrs.append(ipaddress.ip_interface((addr, plen)))
                ifname = f"eth{i}"
                ifaces[ifname] = Iface(ifname, "veth", addrs, mac=e.mac)
                for fam, gw in ((4, e.gateway), (6, e.gateway6)):
                    if gw is None and net is not None:
                        gw = next((g for g in net.gateways or () if g.version == fam), None)
                    if gw is not None and i == 0:
                        routes[fam].append(RouteV(DEFAULT[fam], "unicast", ifname, gw))
            ns = Ns(name, "container", ifaces, routes, DEFAULT_RULES)
            ns._routes_known = False  # type: ignore[attr-defined]
            ns._synth_default = True  # type: ignore[attr-defined]
            self.namespaces[name] = ns
            synthesized.append(c.name)
        if synthesized:
            shown = ", ".join(synthesized[:5]) + (f" and {len(synthesized) - 5} more" if len(synthesized) > 5 else "")
            self._assume(f"namespaces of containers {shown} not read: natsim assumed Docker's standard setup "
                         "(one veth per network, default route via the gateway)")

    def _link_veths(self) -> None:
        """Point-to-point links: veth pairs whose two ends are both known."""
        for ns in list(self.namespaces.values()):
            for l in (ns.topo.links or ()) if ns.topo is not None else ():
                if l.peer is None or l.peer_namespace is None or l.master is not None:
                    continue
                other = self.namespaces.get(l.peer_namespace)
                if other is None or l.peer not in other.ifaces:
                    continue
                peer_link = other.topo.link(l.peer) if other.topo is not None else None
                if peer_link is not None and peer_link.master is not None:
                    continue  # the other end is a bridge port: handled with the bridge
                if (ns.name, l.name) in self.segments:
                    continue
                seg = Segment("link", [Member(ns.name, l.name), Member(other.name, l.peer)])
                self.segments[(ns.name, l.name)] = seg
                self.segments[(other.name, l.peer)] = seg

    def _bridge_segments(self) -> None:
        topo = self.topology
        host = self.namespaces[topo.host]
        placed: set[tuple[str, str]] = set()
        segs: dict[str, Segment] = {}
        for bname, b in host.ifaces.items():
            if b.kind != "bridge":
                continue
            seg = segs[bname] = Segment("bridge", [Member(host.name, bname)], host.name, bname)
            # ports whose far end is known from the links
            for port in (host.topo.ports_of(bname) if host.topo is not None else ()):
                if port.peer is not None and port.peer_namespace is not None:
                    other = self.namespaces.get(port.peer_namespace)
                    if other is not None and port.peer in other.ifaces:
                        seg.members.append(Member(other.name, port.peer, port.name, host.ifaces[port.name].hairpin))
                        placed.add((other.name, port.peer))
        # containers on a bridge's Docker network (one pass over the containers)
        for c in topo.containers or ():
            cns_name = self.container_ns.get(c.name)
            if cns_name is None or cns_name == host.name or c.mode != "bridge":
                continue
            cns = self.namespaces.get(cns_name)
            if cns is None:
                continue
            for e in c.endpoints or ():
                bname = self._bridge_of(host, e)
                seg = segs.get(bname) if bname is not None else None
                if seg is None:
                    continue
                ifname = next((cns.iface_of(a) for a in e.addresses() if cns.iface_of(a)), None)
                if ifname is None or (cns.name, ifname) in placed:
                    continue
                bp = topo.bridge_port(c.name, e.network)
                port, hairpin = bp.port, bp.hairpin
                if port is not None and port in host.ifaces:
                    hp = host.ifaces[port].hairpin
                    hairpin = hp if not isinstance(hp, Unknown) else hairpin
                seg.members.append(Member(cns.name, ifname, port or f"<port of {c.name}>", hairpin))
                placed.add((cns.name, ifname))
        for seg in segs.values():
            for m in seg.members:
                self.segments[(m.ns, m.iface)] = seg

    def _bridge_of(self, host: Ns, e: tm.Endpoint) -> str | None:
        """The bridge of an endpoint: its Docker network's bridge, else the host bridge whose subnet holds it."""
        net = self.network(e.network)
        if net is not None and net.bridge is not None:
            return net.bridge if net.bridge in host.ifaces else None
        for bname, b in host.ifaces.items():
            if b.kind == "bridge" and any(a in bi.network for a in e.addresses() for bi in b.addrs
                                          if bi.version == a.version):
                return bname
        return None

    def uplinks(self) -> list[str]:
        """Host interfaces that lead outside: physical ones, or non-bridge, non-port ones with addresses."""
        cached = getattr(self, "_uplinks", None)
        if cached is not None:
            return cached
        host = self.namespaces[self.topology.host]
        default_dev = None
        for r in host.routes.get(4, []) + host.routes.get(6, []):
            if r.dst.prefixlen == 0 and r.dev is not None and r.table == tm.TABLE_MAIN:
                default_dev = r.dev
                break
        out: list[str] = []
        for name, i in host.ifaces.items():
            if i.kind in ("loopback", "bridge") or i.master is not None:
                continue
            if (host.name, name) in self.segments:
                continue
            if i.kind == "physical" or (i.kind in (None, "other", "veth") and i.addrs):
                out.append(name)
        if default_dev in out:
            out.remove(default_dev)
            out.insert(0, default_dev)
        self._uplinks = out
        return out

    def ways_in(self) -> list[str]:
        """Host interfaces an outside client can arrive on: each uplink, and each link to an outside namespace."""
        host = self.topology.host
        out = list(self.uplinks())
        for (ns, iface), seg in self.segments.items():
            if ns == host and iface not in out and any(
                self.namespaces[m.ns].world for m in seg.members if m.ns != host and m.ns in self.namespaces
            ):
                out.append(iface)
        return out

    def _attach_outside(self) -> None:
        """The outside world: the topology's outside namespace, or one synthesized beyond each uplink."""
        host = self.namespaces[self.topology.host]
        owned = frozenset(a for ns in self.namespaces.values() if ns.role != "outside" for a in ns.local)
        existing = [ns for ns in self.namespaces.values() if ns.role == "outside"]
        for ns in existing:
            ns.world = True
            ns.world_exclude = owned
        if any((ns.name, i) in self.segments for ns in existing for i in ns.ifaces):
            return
        outside = existing[0] if existing else None
        ups = self.uplinks()
        if outside is None:
            outside = Ns(tm.OUTSIDE, "outside", {"lo": Iface("lo", "loopback", [])}, {4: [], 6: []},
                         {4: tm.default_policy_rules(4), 6: tm.default_policy_rules(6)}, world=True,
                         world_exclude=owned)
            outside._routes_known = True  # type: ignore[attr-defined]
            self.namespaces[outside.name] = outside
        for up in ups:
            wif = f"to-{up}"
            outside.ifaces[wif] = Iface(wif, "physical", [])
            seg = Segment("link", [Member(host.name, up), Member(outside.name, wif, world=True)])
            self.segments[(host.name, up)] = seg
            self.segments[(outside.name, wif)] = seg
            for fam in (4, 6):
                if host.primary(up, fam) is not None:
                    outside.routes.setdefault(fam, []).append(RouteV(
                        DEFAULT[fam], "unicast", wif, host.primary(up, fam),
                        metric=len(outside.routes.get(fam, []))))
        if ups and not existing:
            also = f" (also {', '.join(ups[1:])})" if ups[1:] else ""
            self._assume(f"outside: a client beyond host interface {ups[0]}{also}")

    def _complete_routes(self, ns: Ns) -> None:
        """Local routes from addresses (the kernel adds them), connected routes when none were read."""
        known = getattr(ns, "_routes_known", False)
        for fam in (4, 6):
            rs = ns.routes.setdefault(fam, [])
            if not any(r.table == tm.TABLE_LOCAL for r in rs):
                for iface in ns.ifaces.values():
                    for a in iface.addrs_of(fam):
                        if iface.kind == "loopback" and fam == 4:
                            rs.append(RouteV(a.network, "local", iface.name, None, a.ip, 0, tm.TABLE_LOCAL))
                        rs.append(RouteV(ipaddress.ip_network((a.ip, a.max_prefixlen)), "local",
                                         iface.name, None, a.ip, 0, tm.TABLE_LOCAL))
                        if fam == 4 and a.network.prefixlen < 31 and iface.kind != "loopback":
                            rs.append(RouteV(ipaddress.ip_network((a.network.broadcast_address, 32)), "broadcast",
                                             iface.name, None, a.ip, 0, tm.TABLE_LOCAL))
            if not known and not ns.world:
                for iface in ns.ifaces.values():
                    if iface.kind == "loopback":
                        continue
                    for a in iface.addrs_of(fam):
                        if a.network.prefixlen < a.max_prefixlen and not any(
                            r.dst == a.network and r.table == tm.TABLE_MAIN for r in rs
                        ):
                            rs.append(RouteV(a.network, "unicast", iface.name, None, a.ip, 0, tm.TABLE_MAIN))
                if ns.role == "container" and not any(r.dst.prefixlen == 0 for r in rs if r.table == tm.TABLE_MAIN):
                    gw = self._container_gateway(ns, fam)
                    if gw is not None:
                        rs.append(RouteV(DEFAULT[fam], "unicast", gw[0],
                                         gw[1], None, 0, tm.TABLE_MAIN))
                        self._assume(f"{ns.name}: routes not known, natsim assumed Docker's default route via {gw[1]}")
                if ns.role == "host" and not any(r.dst.prefixlen == 0 for r in rs if r.table == tm.TABLE_MAIN):
                    ups = self.uplinks()
                    if ups and any(ns.ifaces[u].addrs_of(fam) for u in ups):
                        up = next(u for u in ups if ns.ifaces[u].addrs_of(fam))
                        rs.append(RouteV(ipaddress.ip_network("0.0.0.0/0" if fam == 4 else "::/0"), "unicast", up,
                                         None, None, 1000, tm.TABLE_MAIN))
                        self._assume(f"host routes not known: natsim assumed the IPv{fam} default route leaves by {up}")

    def _container_gateway(self, ns: Ns, family: int) -> tuple[str, IPAddress] | None:
        topo = self.topology
        for c in self.containers_in.get(ns.name, ()):
            for e in c.endpoints or ():
                gw = e.gateway if family == 4 else e.gateway6
                if gw is None:
                    net = topo.network(e.network)
                    gw = next((g for g in (net.gateways or ()) if g.version == family), None) if net else None
                if gw is None:
                    continue
                for name, iface in ns.ifaces.items():
                    if any(gw in a.network for a in iface.addrs_of(family)):
                        return name, gw
        return None

    def outside_client_address(self, iface: str, family: int) -> IPAddress | None:
        """An address for an outside client on the network of host interface ``iface``."""
        host = self.namespaces[self.topology.host]
        for a in host.ifaces[iface].addrs_of(family) if iface in host.ifaces else ():
            if a.ip.is_link_local:
                continue
            net = a.network
            if net.num_addresses < 4:
                continue
            cand = net.broadcast_address - 1 if family == 4 else net.network_address + 0xFFFE
            while cand in host.local or cand == a.ip:
                cand -= 1
            return cand
        return None
