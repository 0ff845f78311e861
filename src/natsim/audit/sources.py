"""The partition of outside source addresses into classes every relevant rule treats alike.

For a packet arriving on interface I with protocol P to port D, only rules that could
see it (their -i, -p and --dport admit I, P and D) can tell sources apart.  The address
line is cut at each of their source boundaries and at the prefixes the topology tells
apart (loopback, the host's subnets, Docker subnets); then the pieces that lie inside the
same set of source constraints are merged into one class: each constraint gets a random
64-bit hash, a difference array XORs it over the pieces it covers, and equal prefix-XORs
mean equal sets (a collision needs two different sets with equal 64-bit XOR sums).

Work is split so that it stays linear in the rules: per (ruleset, interface) the pieces
and the hash of the constraints that do not depend on protocol or port are computed once;
per (protocol, ports) only the few port-specific constraints are added.
"""

from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass
from typing import Any

from natsim.audit.checks_docker import CLIENT
from natsim.audit.memo import per_object
from natsim.audit.probe import holds
from natsim.audit.regions import region_of
from natsim.audit.space import Dim, IntervalAtoms, interval_universe
from natsim.model import targets as t
from natsim.model.ruleset import Ruleset
from natsim.topology.model import Topology

#: Chains a packet from outside can meet, by table (as their built-in roots).
OUTSIDE_PATH = (("raw", ("PREROUTING",)), ("mangle", ("PREROUTING", "FORWARD", "INPUT")),
                ("nat", ("PREROUTING", "POSTROUTING")), ("filter", ("INPUT", "FORWARD")))


@dataclass(frozen=True, slots=True)
class SourceClass:
    """Source addresses every relevant rule treats alike: ``ranges`` (inclusive ints) and a representative."""

    ranges: tuple[tuple[int, int], ...]
    representative: ipaddress.IPv4Address | ipaddress.IPv6Address
    label: str


def topology_cuts(topo: Topology | None, family: int, iface: str | None = None) -> tuple[list, list]:
    """(prefixes the engine tells apart, prefixes no client arriving on ``iface`` can have as its address).

    The first list holds the host's subnets and routed prefixes: :func:`_route_splits` makes those
    the host routes back differently a class apart, whatever the rules say.  Loopback, the host's own addresses,
    Docker subnets and the subnets of the host's *other* interfaces are spoofed sources when
    they arrive on ``iface`` (martians, Docker's raw drops, reverse-path checks); the subnet
    of ``iface`` itself holds real neighbours.
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
    for link in (ns.links or ()) if ns is not None else ():
        for a in link.addresses_of(family) or ():
            if a.address.is_loopback:
                continue
            own = ipaddress.ip_network(a.address)
            cuts.extend((a.network, own))
            spoofed.append(own)
            if family == 4 and a.network.prefixlen <= 30:  # the kernel's broadcast route: no client's address
                spoofed.append(ipaddress.ip_network(a.network.broadcast_address))
            if iface is not None and link.name != iface and a.network.prefixlen > 0:
                spoofed.append(a.network)
    for route in (ns.routes or ()) if ns is not None else ():
        if route.family != family or route.dst.prefixlen == 0:
            continue
        if route.type in ("local", "broadcast", "multicast", "anycast"):
            spoofed.append(route.dst)  # the host's own, or no unicast client's: not a source
        else:
            cuts.append(route.dst)  # unicast, blackhole, unreachable ...: the way back may differ
    return cuts, spoofed


@dataclass
class _Prepared:
    """Per (ruleset, interface): the pieces, the generic signature per piece, the port-specific constraints."""

    atoms: IntervalAtoms
    runs: list[tuple[int, int, int]]  # (first, last atom, signature): maximal runs of atoms that are not
    # spoofed and alike under the protocol/port-independent constraints (a kube node has few, atoms many)
    specific: list[tuple[tuple, list[tuple[int, list[tuple[int, int]], bool]]]]  # (alternatives, [(hash, spans, neg)])
    by_key: dict[tuple[Dim, int], list[int]]  # entries naming one destination address, else one port
    other: dict[tuple, list[int]]  # the remaining specific entries, by their alternatives of protocol/port filters
    memo: dict[tuple[int, ...], list["SourceClass"]]  # classes per set of admitted entries, per limit


def _spans(atoms: IntervalAtoms, c) -> list[tuple[int, int]]:
    return [(atoms.index_of(lo), atoms.index_of(hi) + 1) for lo, hi in c.values]


def _outside_rules(rs: Ruleset) -> list[tuple[list, tuple[tuple, ...], list]]:
    """(interface constraints, protocol/port filters, source constraints) of each rule on the outside
    path that names a source; computed once per ruleset.  The filters are alternatives, one per way
    into the rule's chain: what the rule itself requires plus what the jumps there required."""
    return per_object("outside-rules", rs, lambda: _scan_outside_rules(rs))


#: Beyond this many ways into one chain, its rules are taken as reachable by any packet (no narrowing).
MAX_ENTRY_FILTERS = 16
#: Hooks whose rules see the destination the client chose (before any DNAT): only there does a rule's
#: ``-d`` say which flows it can see.  After PREROUTING the destination may be any DNAT's target.
_ORIGINAL_DESTINATION = ("PREROUTING",)


def _filters(cs, with_dst: bool) -> tuple:
    dims = (Dim.PROTO, Dim.DPORT, Dim.DST) if with_dst else (Dim.PROTO, Dim.DPORT)
    return tuple(c for c in cs if c.dim in dims)


def _entry_filters(rs: Ruleset, table: str, root: str, with_dst: bool) -> dict[str, set[tuple]]:
    """For each chain reachable from ``root``: the filters (protocol, port, and with ``with_dst`` the
    destination) of each way into it.

    kube-proxy reaches a service's endpoint chains only through ``-d CLUSTER-IP --dport`` jumps, so
    the endpoints' ``-s POD/32`` rules matter only for that service, not for every flow.  Only what a
    jump requires narrows (sound: a packet in the chain passed one of the jumps); a chain with too many
    ways in, or in a loop that keeps adding ways, counts as reachable by anything.
    """
    tbl = rs.table(table)
    if tbl is None or tbl.chain(root) is None:
        return {}
    ways: dict[str, set[tuple]] = {root: {()}}
    todo = [root]
    rounds = 0
    while todo and rounds < 10_000:
        rounds += 1
        name = todo.pop(0)
        for rule in tbl.chain(name).rules:
            tgt = rule.target
            if not isinstance(tgt, t.Jump) or tbl.chain(tgt.chain) is None:
                continue
            got = ways.setdefault(tgt.chain, set())
            if got == {()}:
                continue  # already reachable by anything
            before = set(got)
            own = _filters(region_of(rule).constraints, with_dst)
            got.update([alt + own for alt in ways[name]])  # a list first: a chain may jump to itself
            if len(got) > MAX_ENTRY_FILTERS or () in got:
                got.clear()
                got.add(())
            if got != before and tgt.chain not in todo:
                todo.append(tgt.chain)
    if todo:
        return {name: {()} for name in ways}
    return ways


def _scan_outside_rules(rs: Ruleset) -> list[tuple[list, tuple[tuple, ...], list]]:
    alts: dict[int, set[tuple]] = {}
    found: dict[int, tuple[list, list]] = {}
    for table, roots in OUTSIDE_PATH:
        tbl = rs.table(table)
        for root in roots:
            with_dst = root in _ORIGINAL_DESTINATION
            for name, entries in _entry_filters(rs, table, root, with_dst).items():
                for rule in tbl.chain(name).rules:
                    cs = region_of(rule).constraints
                    src = [c for c in cs if c.dim is Dim.SRC]
                    if not src:
                        continue
                    own = _filters(cs, with_dst)
                    found.setdefault(id(rule), ([c for c in cs if c.dim is Dim.IIF], src))
                    alts.setdefault(id(rule), set()).update(alt + own for alt in entries)
    out = []
    for key, (iifs, src) in found.items():
        ways = alts[key]
        if () in ways:
            ways = {()}
        out.append((iifs, tuple(sorted(ways, key=lambda a: (len(a), repr(a)))), src))
    return out


def _prepare(rs: Ruleset, topo: Topology | None, iface: str | None, host: Any = None) -> _Prepared:
    generic: list = []
    specific: list = []
    for iifs, alts, src in _outside_rules(rs):
        if iface is not None and iifs and not all(holds(c, iface) for c in iifs):
            continue
        (generic if () in alts else specific).append((alts, src))
    bounds: set[int] = set()
    for _, src in generic + specific:
        for c in src:
            for lo, hi in c.values:
                bounds.update((lo, hi + 1))
    cuts, spoofed_nets = topology_cuts(topo, rs.family, iface)
    for net in cuts + spoofed_nets:  # a spoofed address needs atoms of its own, or it takes its neighbours along
        bounds.update((int(net.network_address), int(net.broadcast_address) + 1))
    atoms = IntervalAtoms(bounds, interval_universe(Dim.SRC, rs.family))
    n = len(atoms)
    rnd = random.Random(0)
    diff = [0] * (n + 1)
    for _, src in generic:
        for c in src:
            _xor(diff, rnd.getrandbits(64), _spans(atoms, c), c.negated, n)
    for net, h in _route_splits(cuts, host, rs.family, rnd):
        span = [(atoms.index_of(int(net.network_address)), atoms.index_of(int(net.broadcast_address)) + 1)]
        _xor(diff, h, span, False, n)
    base, sig = [], 0
    for a in range(n):
        sig ^= diff[a]
        base.append(sig)
    spoof = [0] * (n + 1)
    for net in spoofed_nets:
        spoof[atoms.index_of(int(net.network_address))] += 1
        spoof[atoms.index_of(int(net.broadcast_address)) + 1] -= 1
    runs: list[tuple[int, int, int]] = []
    inside = 0
    for a in range(n):
        inside += spoof[a]
        if inside > 0:
            continue
        if runs and runs[-1][1] == a - 1 and runs[-1][2] == base[a]:
            runs[-1] = (runs[-1][0], a, base[a])
        else:
            runs.append((a, a, base[a]))
    prepared_specific = [
        (filters, [(rnd.getrandbits(64), _spans(atoms, c), c.negated) for c in src]) for filters, src in specific
    ]
    by_key: dict[tuple[Dim, int], list[int]] = {}
    other: dict[tuple, list[int]] = {}
    for i, (alts, _) in enumerate(specific):
        keys = [_index_key(filters) for filters in alts]
        if all(k is not None for k in keys):  # found through its destination address or port only
            for k in set(keys):
                by_key.setdefault(k, []).append(i)  # type: ignore[arg-type]
        else:  # few distinct filters ("-p tcp", "-p udp --dport 1024:65535") among many rules: test each once
            other.setdefault(alts, []).append(i)
    return _Prepared(atoms, runs, prepared_specific, by_key, other, {})


def _route_splits(cuts: list, host: Any, family: int, rnd: random.Random) -> list[tuple[Any, int]]:
    """(prefix, hash) toggles that give sources the host routes back differently a signature apart.

    The route back to a source decides the reverse-path checks (rp_filter, ``-m rpfilter``) and
    where the replies leave (``-o`` in OUTPUT and POSTROUTING; nowhere without a default route),
    whatever the rules say. ``host`` is the engine's host namespace (its routes completed as the
    engine completes them); a prefix the host routes back like its enclosing region (an uplink's
    on-link neighbours when the default route leaves by the same interface) is no class of its
    own. Without ``host`` every prefix is one: more classes, never too few.
    """
    def way_to(addr) -> object:
        route = host.lookup(addr)
        return None if route is None else (route.type, route.dev)

    def way(net) -> object:
        if host is None:
            return net
        return way_to(net.network_address + net.num_addresses // 2 if net.num_addresses > 2 else net.network_address)

    far = None if host is None else way_to(CLIENT[family])
    hashes: dict[object, int] = {}

    def hash_of(w: object) -> int:
        if w not in hashes:
            hashes[w] = rnd.getrandbits(64)
        return hashes[w]

    out: list[tuple[Any, int]] = []
    seen: list[tuple[Any, object]] = []
    for net in sorted({c for c in cuts if c.prefixlen}, key=lambda c: (c.prefixlen, int(c.network_address))):
        w = way(net)
        parent = next((pw for pn, pw in reversed(seen) if net.subnet_of(pn)), far)
        if w != parent:  # the toggles telescope: a source's signature holds hash(its way) ^ hash(far)
            out.append((net, hash_of(w) ^ hash_of(parent)))
        seen.append((net, w))
    return out


def _index_key(filters: tuple) -> tuple[Dim, int] | None:
    """The one destination address, else the one destination port, ``filters`` require (the most
    selective way to find them): kube-proxy's endpoint rules share port 80 but not their ClusterIP."""
    for dim in (Dim.DST, Dim.DPORT):
        for c in filters:
            if c.dim is dim and not c.negated and len(c.values) == 1 and c.values[0][0] == c.values[0][1]:
                return dim, c.values[0][0]
    return None


def _xor(diff: list[int], h: int, spans: list[tuple[int, int]], negated: bool, n: int) -> None:
    if negated:
        diff[0] ^= h
        diff[n] ^= h
    for i, j in spans:
        diff[i] ^= h
        diff[j] ^= h


def _prepared(rs: Ruleset, topo: Topology | None, iface: str | None, host: Any = None) -> _Prepared:
    # keyed by the topology's identity too: the cache holds the ruleset, the caller the topology
    return per_object("source-pieces", rs, lambda: _prepare(rs, topo, iface, host), id(topo), iface, id(host))


def source_classes(
    rs: Ruleset, limit: int, topo: Topology | None = None, iface: str | None = None, proto: int | None = None,
    ports: tuple[int, ...] = (), dests: tuple[int, ...] = (), host: Any = None,
) -> list[SourceClass]:
    """Up to ``limit`` classes of outside sources for a packet from ``iface`` (protocol number ``proto``,
    destination ``ports``, to the address the client chose among ``dests``; empty: any): an ordinary
    Internet client's class first, then the others in address order. ``host``: the engine's host
    namespace, whose routes say which sources it routes back differently (see :func:`_route_splits`)."""
    prep = _prepared(rs, topo, iface, host)
    chosen: set[int] = set()
    for alts, entries in prep.other.items():
        if any(_admits(filters, proto, ports, dests) for filters in alts):
            chosen.update(entries)
    for key in [(Dim.DPORT, p) for p in ports] + [(Dim.DST, d) for d in dests]:
        chosen.update(i for i in prep.by_key.get(key, ())
                      if any(_admits(filters, proto, ports, dests) for filters in prep.specific[i][0]))
    admitted = tuple(sorted(chosen))
    key = admitted + (-limit,)
    if key not in prep.memo:
        prep.memo[key] = _group(prep, admitted, limit, rs.family)
    return prep.memo[key]


def _group(prep: _Prepared, admitted: tuple[int, ...], limit: int, family: int) -> list[SourceClass]:
    """The classes under the generic runs cut by the admitted entries' own source constraints.

    A sweep over the runs and the entries' change points, not over every atom: a kube node's
    endpoint addresses make thousands of atoms, and each service's cell asks for its classes."""
    atoms, n = prep.atoms, len(prep.atoms)
    change: dict[int, int] = {}
    for i in admitted:
        for h, spans, negated in prep.specific[i][1]:
            for pos in ((0, n) if negated else ()) + tuple(p for span in spans for p in span):
                change[pos] = change.get(pos, 0) ^ h
    points = sorted(p for p, h in change.items() if h)
    groups: dict[int, list[list[int]]] = {}  # signature -> its atom ranges [first, last], in order
    k, extra = 0, 0
    for first, last, sig in prep.runs:
        while k < len(points) and points[k] <= first:
            extra ^= change[points[k]]
            k += 1
        start = first
        while True:
            end = min(last, points[k] - 1) if k < len(points) else last
            pieces = groups.setdefault(sig ^ extra, [])
            if pieces and pieces[-1][1] + 1 == start:
                pieces[-1][1] = end
            else:
                pieces.append([start, end])
            if end == last:
                break
            start = points[k]
            extra ^= change[start]
            k += 1
    client = int(CLIENT[family])
    client_atom = atoms.index_of(client)
    make = ipaddress.ip_address if family == 4 else ipaddress.IPv6Address

    def holds_client(pieces: list[list[int]]) -> bool:
        return any(lo <= client_atom <= hi for lo, hi in pieces)

    ordered = sorted(groups.values(), key=lambda ps: (not holds_client(ps), ps[0][0]))
    out: list[SourceClass] = []
    for pieces in ordered:
        if len(out) >= limit:
            break
        ranges = tuple((atoms.interval(lo)[0], atoms.interval(hi)[1]) for lo, hi in pieces)
        rep = client if holds_client(pieces) else _representative(ranges, make, family)
        if rep is None:
            continue
        if len(groups) == 1:
            label = "any"
        elif rep == client and len(groups) <= limit:
            label = "any other address"  # every other class of this cell is listed beside it
        else:
            label = describe_ranges(ranges, make)
        out.append(SourceClass(ranges, make(rep), label))
    return out


def describe_ranges(ranges: tuple[tuple[int, int], ...], make) -> str:
    """Address ranges as people write them: ``10.0.0.0/8, 192.168.1.7, 192.168.1.9-192.168.1.200`` (a
    single address without its /32, a network where the range is one); beyond three ranges the first two
    and the number of ranges (a class may hold thousands). Touching ranges are one range."""
    merged: list[list[int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1] + 1:
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    names = [_range_name(lo, hi, make) for lo, hi in merged[:3]]
    if len(merged) > 3:
        return f"{names[0]}, {names[1]} ... ({len(merged)} address ranges)"
    return ", ".join(names)


def _range_name(lo: int, hi: int, make) -> str:
    if lo == hi:
        return str(make(lo))
    nets = list(ipaddress.summarize_address_range(make(lo), make(hi)))
    return str(nets[0]) if len(nets) == 1 else f"{make(lo)}-{make(hi)}"


def _admits(filters: tuple, proto: int | None, ports: tuple[int, ...], dests: tuple[int, ...] = ()) -> bool:
    for c in filters:
        if c.dim is Dim.PROTO:
            if proto is not None and not holds(c, proto):
                return False
        elif c.dim is Dim.DST:
            if dests and not any(holds(c, d) for d in dests):
                return False
        elif ports and not any(holds(c, p) for p in ports):
            return False
    return True


def _representative(ranges, make, family: int) -> int | None:
    """The middle of the widest range (not a network or broadcast address when avoidable: an IPv4
    address ending in .0 or .255 reads as one, and is one where a host has that subnet)."""
    for lo, hi in sorted(ranges, key=lambda r: r[0] - r[1]):
        cand = lo + (hi - lo) // 2 if hi - lo > 2 else lo
        if family == 4 and cand & 0xFF in (0, 0xFF):
            cand = next((alt for alt in ((cand & ~0xFF) | 10, cand + 1, cand - 1)
                         if lo <= alt <= hi and alt & 0xFF not in (0, 0xFF)), cand)
        addr = make(cand)
        if not (addr.is_unspecified or addr.is_multicast or (family == 4 and addr.is_reserved)):
            return cand
    return None
