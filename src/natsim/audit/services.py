"""Port forwards as the rules state them: every DNAT that nat PREROUTING can reach.

Docker's published ports are DNAT rules in the nat DOCKER chain, but a router's
hand-written ``-j DNAT`` port forward is exposed the same way, so the audit reads the
rules, not Docker's chain names.  The bridge a forward leads to comes from the
topology when it is known, else from what the rules say about the target address.
"""

from __future__ import annotations

from dataclasses import dataclass

from natsim.audit.memo import per_object
from natsim.audit.shadow import RuleAt
from natsim.engine.packet import endpoint
from natsim.model import matches as m
from natsim.model import targets as t
from natsim.model.ruleset import Ruleset
from natsim.model.values import IPAddress, IPNetwork


@dataclass(frozen=True, slots=True)
class Forward:
    """One DNAT: ``proto`` ``host_ip:host_port`` -> ``to_addr:to_port`` (host_ip None: any address)."""

    at: RuleAt
    proto: str
    host_port: int | None
    host_port_hi: int | None
    host_ip: IPAddress | None
    to_addr: IPAddress
    to_port: int | None
    bridge: str | None  # the interface the forwarded packet leaves by, when known
    not_from: str | None  # ``! -i B``: Docker's "not from the container's own bridge"

    @property
    def all_addresses(self) -> bool:
        return self.host_ip is None

    @property
    def loopback_only(self) -> bool:
        return self.host_ip is not None and self.host_ip.is_loopback

    def label(self) -> str:
        host = "*" if self.host_ip is None else str(self.host_ip)
        port = "?" if self.host_port is None else str(self.host_port)
        if self.host_port_hi not in (None, self.host_port):
            port += f"-{self.host_port_hi}"
        return f"{host}:{port}/{self.proto} -> {endpoint(self.to_addr, self.to_port)}"


def _dport(rule) -> tuple[int | None, int | None]:
    for mm in rule.matches:
        if isinstance(mm, (m.Tcp, m.Udp, m.Sctp, m.UdpLite, m.Dccp)) and mm.dport is not None and not mm.dport.negated:
            return mm.dport.value.lo, mm.dport.value.hi
        if isinstance(mm, m.Multiport) and mm.dports is not None and not mm.dports.negated and len(mm.dports.value) == 1:
            return mm.dports.value[0].lo, mm.dports.value[0].hi
    return None, None


def reachable_chains(ruleset: Ruleset, table: str, roots: tuple[str, ...]) -> list[str]:
    tbl = ruleset.table(table)
    if tbl is None:
        return []
    seen: list[str] = []
    todo = list(roots)
    while todo:
        name = todo.pop(0)
        if name in seen or tbl.chain(name) is None:
            continue
        seen.append(name)
        todo.extend(r.target.chain for r in tbl.chain(name).rules if isinstance(r.target, t.Jump))
    return seen


def subnet_bridges(ruleset: Ruleset) -> list[tuple[IPNetwork, str]]:
    """``-s SUBNET ! -o B -j MASQUERADE``: Docker's per-network masquerade names the bridge of a subnet."""
    return per_object("subnets", ruleset, lambda: _subnet_bridges(ruleset))


def _subnet_bridges(ruleset: Ruleset) -> list[tuple[IPNetwork, str]]:
    out = []
    post = ruleset.chain("nat", "POSTROUTING")
    for rule in post.rules if post else ():
        o = rule.out_interface
        if isinstance(rule.target, (t.Masquerade, t.Snat)) and rule.source and not rule.source.negated \
                and o is not None and o.negated and not o.value.name.endswith("+"):
            out.append((rule.source.value, o.value.name))
    return out


def _filter_bridges(ruleset: Ruleset) -> dict[IPAddress, str]:
    """``-d C/32 ... -o B -j ACCEPT`` (Docker's per-port ACCEPT) names the bridge of C."""
    return per_object("filter-bridges", ruleset, lambda: _scan_filter_bridges(ruleset))


def _scan_filter_bridges(ruleset: Ruleset) -> dict[IPAddress, str]:
    out: dict[IPAddress, str] = {}
    table = ruleset.table("filter")
    for chain in table.chains if table else ():
        for rule in chain.rules:
            d, o = rule.destination, rule.out_interface
            if d is not None and not d.negated and d.value.prefixlen == d.value.max_prefixlen and o is not None \
                    and not o.negated and not o.value.name.endswith("+"):
                out.setdefault(d.value.network_address, o.value.name)
    return out


def bridge_for(ruleset: Ruleset, addr: IPAddress, topology=None) -> str | None:
    if topology is not None:
        try:
            net = topology.network_of_address(addr)
        except Exception:  # a partial topology: fall back to the rules
            net = None
        if net is not None and net.bridge:
            return net.bridge
    direct = _filter_bridges(ruleset).get(addr)
    if direct:
        return direct
    best: tuple[int, str] | None = None
    for subnet, bridge in subnet_bridges(ruleset):
        if addr.version == subnet.version and addr in subnet and (best is None or subnet.prefixlen > best[0]):
            best = (subnet.prefixlen, bridge)
    return best[1] if best else None


def forwards(ruleset: Ruleset, topology=None) -> list[Forward]:
    """Every DNAT rule in a nat chain reachable from PREROUTING, with a single target address."""
    if topology is None:
        return per_object("forwards", ruleset, lambda: _forwards(ruleset, None))
    return _forwards(ruleset, topology)


def _forwards(ruleset: Ruleset, topology) -> list[Forward]:
    out: list[Forward] = []
    nat = ruleset.table("nat")
    if nat is None:
        return out
    for name in reachable_chains(ruleset, "nat", ("PREROUTING",)):
        for idx, rule in enumerate(nat.chain(name).rules, start=1):
            tgt = rule.target
            if not isinstance(tgt, t.Dnat) or not tgt.to_destination:
                continue
            rng = tgt.to_destination[0]
            if rng.addresses is None:
                continue
            proto = rule.protocol.value if rule.protocol and not rule.protocol.negated else "all"
            lo, hi = _dport(rule)
            host_ip = None
            d = rule.destination
            if d is not None and not d.negated and d.value.prefixlen == d.value.max_prefixlen:
                host_ip = d.value.network_address
            i = rule.in_interface
            not_from = i.value.name if i is not None and i.negated else None
            to_addr = rng.addresses.lo
            to_port = rng.ports.lo if rng.ports is not None else lo
            out.append(Forward(
                RuleAt("nat", name, idx, rule), proto, lo, hi, host_ip, to_addr, to_port,
                bridge_for(ruleset, to_addr, topology) or not_from, not_from,
            ))
    return out


@dataclass(frozen=True, slots=True)
class _Context:
    """What the jumps on the way to a chain required of the packet (positive constraints only)."""

    host_ip: IPAddress | None = None
    proto: str = "all"
    lo: int | None = None
    hi: int | None = None

    def narrowed(self, rule) -> "_Context":
        d = rule.destination
        host_ip = d.value.network_address if (d is not None and not d.negated
                                               and d.value.prefixlen == d.value.max_prefixlen) else self.host_ip
        proto = rule.protocol.value if rule.protocol is not None and not rule.protocol.negated else self.proto
        lo, hi = _dport(rule)
        return _Context(host_ip, proto, *((lo, hi) if lo is not None else (self.lo, self.hi)))


#: How deep the jumps to a DNAT may nest (kube-proxy: SERVICES -> NODEPORTS -> EXT -> SVC -> SEP).
MAX_JUMP_DEPTH = 12


def routed_forwards(ruleset: Ruleset, topology=None) -> list[Forward]:
    """DNATs whose address and port are named by the rules that jump to their chain, not by the DNAT.

    kube-proxy writes a service as ``KUBE-SERVICES -d CLUSTER-IP -p tcp --dport 80 -j KUBE-SVC-X``
    (or ``KUBE-NODEPORTS -p tcp --dport 30080 -j KUBE-EXT-X``) down to ``KUBE-SEP-Y -p tcp -j DNAT
    --to-destination POD:8080``: the port a client opens is in the jump.  Each path from nat
    PREROUTING gives one forward per DNAT, with what the path required.  DNATs that name their own
    port are :func:`forwards`' (Docker's); these complete them for the exposure matrix.
    """
    nat = ruleset.table("nat")
    if nat is None:
        return []
    out: list[Forward] = []
    seen: set[tuple[int, _Context]] = set()

    def visit(name: str, ctx: _Context, path: tuple[str, ...]) -> None:
        chain = nat.chain(name)
        if chain is None or name in path or len(path) > MAX_JUMP_DEPTH:
            return
        for idx, rule in enumerate(chain.rules, start=1):
            tgt = rule.target
            if isinstance(tgt, t.Jump):
                visit(tgt.chain, ctx.narrowed(rule), path + (name,))
                continue
            if not isinstance(tgt, t.Dnat) or not tgt.to_destination or _dport(rule)[0] is not None:
                continue
            rng = tgt.to_destination[0]
            here = ctx.narrowed(rule)
            if rng.addresses is None or here.lo is None or (id(rule), here) in seen:
                continue
            seen.add((id(rule), here))
            to_addr = rng.addresses.lo
            out.append(Forward(
                RuleAt("nat", name, idx, rule), here.proto, here.lo, here.hi, here.host_ip, to_addr,
                rng.ports.lo if rng.ports is not None else here.lo, bridge_for(ruleset, to_addr, topology), None,
            ))

    visit("PREROUTING", _Context(), ())
    return out
