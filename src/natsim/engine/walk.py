"""The packet's journey through namespaces: routing, hooks, conntrack, bridges and sockets.

One :class:`Run` simulates one branch of a flow.  It follows the kernel's receive path
(ip_rcv: PREROUTING, route input with its martian checks, INPUT or FORWARD and
POSTROUTING), its send path (route output, OUTPUT, re-route after DNAT, POSTROUTING),
Linux bridges with bridge netfilter (br_netfilter_hooks.c) and hairpin, and ends a leg
by raising :class:`LegEnd` when the packet reaches a socket or is dropped.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from natsim.engine.branches import Decider, Option
from natsim.engine.chains import CRuleset, Verdict, walk
from natsim.engine.conntrack import CtTable
from natsim.engine.packet import Packet, address_text, endpoint
from natsim.engine.result import Step
from natsim.engine.tri import Tri, Unknown
from natsim.engine.world import Member, Ns, RouteV, Segment
from natsim.model.ruleset import IpSets
from natsim.model.values import IPAddress

HOOK_TABLES: dict[str, tuple[str, ...]] = {
    "PREROUTING": ("raw", "conntrack", "mangle", "nat"),
    "INPUT": ("mangle", "filter", "security", "nat"),
    "FORWARD": ("mangle", "filter", "security"),
    "OUTPUT": ("raw", "conntrack", "mangle", "nat", "filter", "security"),
    "POSTROUTING": ("mangle", "nat"),
}
MAX_HOPS = 32
#: Settings Docker never touches, so an unknown value is the kernel's default (listed as an assumption).
KERNEL_DEFAULTS: dict[str, bool] = {"accept_local": False}
LOOPBACK4 = ipaddress.ip_network("127.0.0.0/8")


class LegEnd(Exception):
    """A leg is over: delivered to a socket, or stopped (drop, reject, no route, ...)."""

    def __init__(self, kind: str, ns: str, packet: Packet | None, step: Step | None, reason: str,
                 end: str = "timeout", extra: Any = None) -> None:
        super().__init__(reason)
        self.kind = kind  # delivered, proxy, refused, dropped, mismatch, unknown
        self.ns = ns
        self.packet = packet
        self.step = step
        self.reason = reason
        self.end = end  # connected, refused, timeout, unreachable
        self.extra = extra


@dataclass
class Expect:
    """What a leg should arrive as: in which namespace, with which tuple (``loose``: only the destination)."""

    ns: str
    packet: Packet
    loose: bool = False


@dataclass(slots=True)
class HookEnv:
    """What matches and targets may ask while one hook runs (see matches.Env, targets.TargetEnv)."""

    hook: str
    family: int
    ns: Ns
    ipsets: IpSets | None
    next_hop: IPAddress | None = None

    def addr_type(self, address: IPAddress, dev: str | None) -> str:
        return self.ns.addr_type(address, dev)

    def masquerade_address(self, out_iface: str | None, next_hop: IPAddress | None) -> IPAddress | None:
        if out_iface is None:
            return None
        return self.ns.primary(out_iface, self.family, next_hop)

    def redirect_address(self, in_iface: str | None) -> IPAddress | None:
        if in_iface is None:
            return None
        i = self.ns.ifaces.get(in_iface)
        if i is None:
            return None
        addrs = i.addrs_of(self.family)
        return addrs[0].ip if addrs else None

    def rpfilter(self, packet: Packet, loose: bool) -> Tri:
        route = self.ns.lookup(packet.src, packet.dst, iif=packet.in_iface, mark=packet.mark)
        if route is None or route.type not in ("unicast", "local"):
            return False
        return True if loose else (route.dev == packet.in_iface or route.type == "local")


@dataclass
class Run:
    net: Any  # Network
    decider: Decider
    steps: list[Step] = field(default_factory=list)
    unknowns: list[Unknown] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    expect: Expect | None = None
    hops: int = 0
    first: Packet | None = None  # the leg's packet as it left its sender (source chosen by routing)

    def __post_init__(self) -> None:
        self.world = self.net.world
        self.ct: dict[str, CtTable] = {}

    # ------------------------------------------------------------------ bookkeeping

    def record(self, step: Step) -> None:
        self.steps.append(step)

    def decide(self, key: str, options: tuple[Option, ...], unknown: bool = True) -> Any:
        return self.decider.decide(key, options, unknown)

    def note_unknown(self, u: Unknown) -> None:
        if u not in self.unknowns:
            self.unknowns.append(u)

    def assume(self, text: str) -> None:
        if text not in self.assumptions:
            self.assumptions.append(text)

    def tri(self, value: Tri, yes: str, no: str) -> bool:
        """Turn a possibly unknown fact into a branch: both answers are explored."""
        if value is True or value is False:
            return value
        assert isinstance(value, Unknown)
        self.note_unknown(value)
        return bool(self.decide(value.reason, (Option(True, f"assuming {yes} ({value.reason})"),
                                               Option(False, f"assuming {no} ({value.reason})"))))

    def stop(self, kind: str, ns: str, p: Packet | None, reason: str, end: str = "timeout",
             step_kind: str = "drop", extra: Any = None) -> LegEnd:
        step = Step(step_kind, ns, packet=p, note=reason)  # type: ignore[arg-type]
        self.record(step)
        return LegEnd(kind, ns, p, step, reason, end, extra)

    def no_route(self, ns: Ns, p: Packet, after: str = "") -> LegEnd:
        """No route for ``p``: a fact when ``ns``'s routes were read, an unknown when they were only assumed."""
        if getattr(ns, "_routes_known", False):
            return self.stop("dropped", ns.name, p, f"no route to {p.dst}{after} in {ns.name}", "unreachable")
        u = Unknown(f"{ns.name}'s IPv{p.family} routes are not known (no route to {p.dst}{after} among those "
                    "natsim assumed)")
        self.note_unknown(u)
        return self.stop("unknown", ns.name, p, u.reason, "unknown")

    def no_neighbour(self, ns: Ns, p: Packet, seg: Segment, out: str, nh: IPAddress) -> LegEnd:
        """Nobody natsim knows on ``out``'s link owns ``nh``: a drop, or an unknown when the link's members were
        only inferred."""
        why = self.world.unknown_members(seg)
        if why is None:
            return self.stop("dropped", ns.name, p, f"nobody on {out}'s link answers ARP/NDP for {nh}", "unreachable")
        u = Unknown(f"whether anything on {out}'s link answers ARP/NDP for {nh} is not known: {why}")
        self.note_unknown(u)
        return self.stop("unknown", ns.name, p, u.reason, "unknown")

    # ------------------------------------------------------------------ hooks

    def rules(self, ns: Ns, family: int) -> CRuleset | None:
        crs = self.net.compiled(ns.name, family)
        if crs is not None:
            return crs
        if not self.net.rules_known(ns.name, family):
            u = Unknown(f"the host's IPv{family} rules were not given")
            self.note_unknown(u)
            raise self.stop("unknown", ns.name, None, u.reason, "unknown", "note")
        return crs

    def hooks(self, ns: Ns, hook: str, p: Packet, next_hop: IPAddress | None = None) -> Packet:
        """Run every table registered at ``hook`` in priority order; raise LegEnd on a drop."""
        crs = self.rules(ns, p.family)
        if crs is None or not crs.has_rules:
            return p
        env = HookEnv(hook, p.family, ns, self.net.ipsets, next_hop)
        plan = crs.plans.get(hook)
        if plan is None:  # the tables that run here: conntrack and nat always, the others when they have the chain
            plan = crs.plans[hook] = tuple(t for t in HOOK_TABLES[hook]
                                           if t in ("conntrack", "nat") or crs.chain(t, hook) is not None)
        for table in plan:
            if table == "conntrack":
                p = self.conntrack_in(ns, p)
                continue
            if table == "nat":
                p = self.nat(ns, crs, hook, p, env)
                continue
            v = walk(self, ns.name, crs, table, hook, p, env)
            p = self._after(ns, v)
            if v.notrack and table == "raw":
                # raw runs before conntrack: the packet gets the untracked template, so conntrack (and with it
                # the nat table, which only sees tracked connections) leaves it alone
                if p.conn is not None and p.conn.state == "NEW":
                    self.ct_table(ns).untrack(p)
                p = p.with_(conn=self.ct_table(ns).untracked_conn(p))
        return p

    def _after(self, ns: Ns, v: Verdict) -> Packet:
        p = v.packet
        if v.connmark is not None and p.conn is not None:
            p = p.with_(conn=self.ct_table(ns).set_mark(p, v.connmark))
        if v.kind == "drop":
            raise LegEnd("dropped", ns.name, p, v.step, _why(v, "dropped"), "timeout")
        if v.kind == "reject":
            end = "refused" if (v.reject_with or "").endswith(("port-unreachable", "tcp-reset")) else "unreachable"
            raise LegEnd("dropped", ns.name, p, v.step, _why(v, f"rejected ({v.reject_with})"), end,
                         extra=("reject", v.reject_with))
        return p

    # ------------------------------------------------------------------ conntrack and NAT

    def ct_table(self, ns: Ns) -> CtTable:
        t = self.ct.get(ns.name)
        if t is None:
            t = self.ct[ns.name] = CtTable()
        return t

    def conntrack_in(self, ns: Ns, p: Packet) -> Packet:
        if p.conn is not None:
            # the skb still carries its entry (loopback within one namespace): no new lookup
            if p.conn.state == "UNTRACKED":
                return p
            e = self.ct_table(ns).entry_of(p)
            return self.ct_table(ns)._refresh(e, p) if e is not None else p
        if p.related_to is not None:
            conn = self.ct_table(ns).related(p)
            return p.with_(conn=conn) if conn is not None else p
        return p.with_(conn=self.ct_table(ns).lookup(p))

    def nat(self, ns: Ns, crs: CRuleset, hook: str, p: Packet, env: HookEnv) -> Packet:
        if p.conn is None or p.conn.state in ("UNTRACKED", "INVALID"):
            return p
        table = self.ct_table(ns)
        entry = table.entry_of(p)
        if entry is None:
            return p
        manip = "dst" if hook in ("PREROUTING", "OUTPUT") else "src"
        if not p.conn.is_reply and manip not in entry.nat_done:
            entry.nat_done.add(manip)
            if crs.chain("nat", hook) is not None:
                v = walk(self, ns.name, crs, "nat", hook, p, env)
                p = self._after(ns, v)
                if v.kind == "nat" and v.nat is not None:
                    if v.nat.manip != manip:
                        self.record(Step("note", ns.name, hook, "nat", note=f"{v.nat.how} is not valid in {hook}"))
                    else:
                        table.bind(entry, v.nat)
        new = table.translate(entry, p, manip)
        if new is not p and (new.src != p.src or new.dst != p.dst or new.sport != p.sport or new.dport != p.dport):
            how = "un-NAT of the reply" if p.conn.is_reply else ("DNAT" if manip == "dst" else "SNAT")
            self.record(Step("nat", ns.name, hook, "nat", packet=p, packet_after=new, note=how))
        return new

    # ------------------------------------------------------------------ sending

    def send_local(self, ns: Ns, p: Packet) -> None:
        """A socket in ``ns`` sends ``p`` (src None: routing picks it)."""
        self._hop(ns)
        route = ns.lookup(p.dst, p.src, None, p.mark)
        if route is None:
            raise self.no_route(ns, p)
        if route.type in ("blackhole", "unreachable", "prohibit"):
            raise self.stop("dropped", ns.name, p, f"route to {p.dst} in {ns.name} is {route.type}",
                            "unreachable" if route.type != "blackhole" else "timeout")
        src = p.src if p.src is not None else ns.select_source(route, p.dst)
        if src is None:
            raise self.stop("dropped", ns.name, p, f"no source address for {p.dst} in {ns.name}", "unreachable")
        out = "lo" if route.type == "local" else route.dev
        p = p.with_(src=src, in_iface=None, out_iface=out, physdev_in=None, physdev_out=None, bridged=False)
        self.record(Step("route", ns.name, "OUTPUT", packet=p, note=_route_note(route, p)))
        if self.first is None:
            self.first = p.with_(in_iface=None, out_iface=None)
        nh = route.gateway or p.dst
        before, mark = p.dst, p.mark
        p = self.hooks(ns, "OUTPUT", p, nh)
        if p.dst != before or p.mark != mark:  # ipt_mangle_out / nf_nat_ipv4_local_fn: ip_route_me_harder
            route = self._reroute(ns, p)
            out = "lo" if route.type == "local" else route.dev
            p = p.with_(out_iface=out)
            nh = route.gateway or p.dst
            self.record(Step("route", ns.name, "OUTPUT", packet=p,
                             note="re-routed after OUTPUT changed the packet: " + _route_note(route, p)))
            if p.family == 4 and p.src in LOOPBACK4 and out != "lo":
                if not self.tri(self._conf(ns, out or "", "route_localnet"), f"route_localnet=1 on {out}",
                                f"route_localnet=0 on {out}"):
                    # ip_route_me_harder fails: the hook drops the packet, the client retries until it gives up
                    raise self.stop("dropped", ns.name, p, f"source {p.src} may not leave {out} "
                                    f"(net.ipv4.conf.{out}.route_localnet=0)", "timeout")
        p = self.hooks(ns, "POSTROUTING", p, nh)
        self.transmit(ns, p, out or "", nh, route)

    def _reroute(self, ns: Ns, p: Packet) -> RouteV:
        route = ns.lookup(p.dst, p.src, None, p.mark)
        if route is None:
            raise self.no_route(ns, p, " after NAT")
        if route.type in ("blackhole", "unreachable", "prohibit"):
            raise self.stop("dropped", ns.name, p, f"no route to {p.dst} after NAT in {ns.name}", "unreachable")
        return route

    def transmit(self, ns: Ns, p: Packet, out: str, nh: IPAddress, route: RouteV | None = None) -> None:
        if out == "lo":
            q = p.with_(in_iface="lo", out_iface=None)
            self.ip_receive(ns, q, "lo")
            return
        self.send_on_link(ns, p, out, nh)

    def send_on_link(self, ns: Ns, p: Packet, out: str, nh: IPAddress) -> None:
        """Hand ``p`` to the neighbour ``nh`` on ``out``: into its bridge, or straight to its namespace."""
        seg = self.world.segment(ns.name, out)
        if seg is None:
            raise self.stop("dropped", ns.name, p, f"{ns.name} interface {out} leads nowhere natsim knows",
                            "unreachable")
        me = seg.member(ns.name, out)
        owner = self.world.owner_on(seg, nh, exclude=me)
        if owner is None:
            raise self.no_neighbour(ns, p, seg, out, nh)
        if seg.kind == "bridge" and me is not None and me.port is not None:
            self.bridge_in(seg, me, owner, p)
            return
        self.receive(owner, p, mark_reset=True)

    def receive(self, m: Member, p: Packet, mark_reset: bool = True) -> None:
        ns = self.world.ns(m.ns)
        q = p.with_(in_iface=m.iface, out_iface=None, physdev_in=None, physdev_out=None, bridged=False,
                    mark=0 if mark_reset else p.mark, conn=None)
        self.ip_receive(ns, q, m.iface)

    # ------------------------------------------------------------------ bridges

    def brnf(self, host: Ns, bridge: str, family: int) -> bool:
        value: Tri = host.topo.bridge_nf_call(family, bridge) if host.topo is not None else Unknown(
            f"whether bridge-nf-call-ip{'6' if family == 6 else ''}tables is on in {host.name} is not known")
        return self.tri(value, f"bridge-nf-call-ip{'6' if family == 6 else ''}tables=1 (bridged frames see iptables)",
                        f"bridge-nf-call-ip{'6' if family == 6 else ''}tables=0 (bridged frames skip iptables)")

    def bridge_in(self, seg: Segment, me: Member, owner: Member, p: Packet) -> None:
        """A frame enters bridge ``seg.bridge`` through ``me``'s port, addressed (L2) to ``owner``."""
        host = self.world.ns(seg.bridge_ns or "")
        b = seg.bridge or ""
        crs = self.net.compiled(host.name, p.family)
        q = p.with_(in_iface=b, out_iface=None, mark=0, conn=None, physdev_in=None, physdev_out=None, bridged=False)
        if owner.ns == host.name and owner.iface == b:
            # For the host itself: up the stack.  br_netfilter (if on) runs PREROUTING with the port known.
            if crs is not None and crs.uses_physdev and self.brnf(host, b, p.family):
                q = q.with_(physdev_in=me.port)
            self.ip_receive(host, q, b, bridge=(seg, me))
            return
        if not self.brnf(host, b, p.family):
            self.record(Step("bridge", host.name, packet=p, note=f"bridged by {b} from port {me.port} to "
                             f"{owner.port} without iptables (bridge-nf-call off)"))
            self._bridge_out(seg, me, owner, p)
            return
        self.record(Step("bridge", host.name, packet=p, note=f"bridged by {b} from port {me.port} to {owner.port}; "
                         "bridge netfilter runs the IP hooks"))
        q = q.with_(physdev_in=me.port)
        self.ip_receive(host, q, b, bridge=(seg, me), l2_owner=owner)

    def _bridge_out(self, seg: Segment, me: Member | None, owner: Member, p: Packet) -> None:
        """The bridge sends a frame out ``owner``'s port; back out the incoming port only with hairpin."""
        if me is not None and owner.port == me.port:
            hp = self.tri(owner.hairpin, f"hairpin on for bridge port {owner.port}",
                          f"hairpin off for bridge port {owner.port}")
            if not hp:
                raise self.stop("dropped", seg.bridge_ns or "", p,
                                f"bridge {seg.bridge} does not send a frame back out port {owner.port} "
                                "it came in on (hairpin mode off)", "timeout", "bridge")
            self.record(Step("bridge", seg.bridge_ns or "", packet=p,
                             note=f"hairpin: {seg.bridge} sends the frame back out port {owner.port}"))
        self.receive(owner, p)

    # ------------------------------------------------------------------ receiving

    def ip_receive(self, ns: Ns, p: Packet, iface: str, bridge: tuple[Segment, Member] | None = None,
                   l2_owner: Member | None = None) -> None:
        self._hop(ns)
        if ns.world:
            if not ns.is_local(p.dst):  # decision 0064: the world answers only for addresses nobody here owns
                seg = self.world.segment(ns.name, iface)
                via = next((f" by {m.ns} {m.iface}" for m in seg.members if not m.world), "") if seg else ""
                raise self.stop("dropped", ns.name, p, f"{p.dst} belongs to this host or a container, yet the packet "
                                f"left{via} for the outside, where nobody answers for it")
            self.deliver(ns, p)
            return
        before = p.dst
        if p.family == 6 and iface != "lo" and (p.src.is_loopback or p.dst.is_loopback):
            raise self.stop("dropped", ns.name, p, f"IPv6 loopback address on {iface} (ip6_rcv_core drops it)")
        p = self.hooks(ns, "PREROUTING", p)
        if p.family == 6 and iface != "lo" and (p.src.is_loopback or p.dst.is_loopback):
            raise self.stop("dropped", ns.name, p, f"{p.dst if p.dst.is_loopback else p.src} after NAT on {iface}: "
                            "IPv6 has no route_localnet, the loopback address may not use a real interface")
        if l2_owner is not None and bridge is not None and p.dst == before:
            self._bridged_forward(ns, p, bridge[0], bridge[1], l2_owner)
            return
        if p.family == 4 and iface != "lo":
            if p.dst in LOOPBACK4 and not self.tri(self._conf(ns, iface, "route_localnet"),
                                                   f"route_localnet=1 on {iface}", f"route_localnet=0 on {iface}"):
                raise self.stop("dropped", ns.name, p, f"martian destination {p.dst} arriving on {iface} "
                                f"(route_localnet=0)")
            if p.src in LOOPBACK4 and not self.tri(self._conf(ns, iface, "route_localnet"),
                                                   f"route_localnet=1 on {iface}", f"route_localnet=0 on {iface}"):
                raise self.stop("dropped", ns.name, p, f"martian source {p.src} arriving on {iface} "
                                f"(route_localnet=0)")
        route = ns.lookup(p.dst, p.src, iface, p.mark)
        if route is None:
            raise self.no_route(ns, p)
        if route.type in ("blackhole", "unreachable", "prohibit"):
            raise self.stop("dropped", ns.name, p, f"route to {p.dst} in {ns.name} is {route.type}", "unreachable")
        if route.type in ("local", "broadcast"):
            self._check_source(ns, p, iface)
            self.record(Step("route", ns.name, "PREROUTING", packet=p,
                             note=f"{address_text(p.dst)} is local: deliver (INPUT)"))
            p = self.hooks(ns, "INPUT", p)
            self.deliver(ns, p)
            return
        self._forward(ns, p, iface, route, bridge, before)

    def _check_source(self, ns: Ns, p: Packet, iface: str) -> None:
        """fib_validate_source: a packet from one of our own addresses on a real interface is a martian."""
        if iface == "lo" or p.family != 4:
            return
        if ns.is_local(p.src):
            if not self.tri(self._conf(ns, iface, "accept_local"), f"accept_local=1 on {iface}",
                            f"accept_local=0 on {iface}"):
                raise self.stop("dropped", ns.name, p, f"martian source: {p.src} is an address of {ns.name} "
                                f"but the packet arrived on {iface}")
            return
        self._rp_filter(ns, p, iface)

    def _rp_filter(self, ns: Ns, p: Packet, iface: str) -> None:
        """Reverse-path filter (fib_validate_source): strict wants the route back to the source on ``iface``."""
        back = ns.lookup(p.src, p.dst, None, p.mark)
        loose_ok = back is not None and back.type in ("unicast", "local")
        strict_ok = loose_ok and back is not None and back.dev == iface
        if strict_ok:
            return
        value = ns.topo.ipv4_conf_value(iface, "rp_filter") if ns.topo is not None else Unknown(
            f"rp_filter of {iface} in {ns.name} is not known")
        if isinstance(value, Unknown):
            needed = 1 if loose_ok else 2  # the lowest setting that drops this packet
            self.note_unknown(value)
            value = self.decide(value.reason, (
                Option(0, f"assuming rp_filter < {needed} on {iface} ({value.reason})"),
                Option(needed, f"assuming rp_filter={needed} on {iface} ({value.reason})")))
        if value == 1 or (value == 2 and not loose_ok):
            how = "strict" if value == 1 else "loose"
            raise self.stop("dropped", ns.name, p, f"reverse-path filter ({how}, rp_filter={value} on {iface}): "
                            f"the route back to {p.src} " + (f"leaves by {back.dev}" if back else "does not exist"))

    def _forward(self, ns: Ns, p: Packet, iface: str, route: RouteV, bridge: tuple[Segment, Member] | None,
                 before: IPAddress) -> None:
        fwd = self._forwarding(ns, iface, p.family)
        if not self.tri(fwd, f"forwarding enabled in {ns.name}", f"forwarding disabled in {ns.name}"):
            raise self.stop("dropped", ns.name, p, f"{ns.name} does not forward (ip_forward=0)", "unreachable")
        self._check_source(ns, p, iface)
        out = route.dev or ""
        nh = route.gateway or p.dst
        p = p.with_(out_iface=out)
        self.record(Step("route", ns.name, "PREROUTING", packet=p, note="forward: " + _route_note(route, p)))
        if bridge is not None and out == bridge[0].bridge and p.dst != before:
            seg, me = bridge
            owner = self.world.owner_on(seg, nh)
            crs = self.net.compiled(ns.name, p.family)
            matters = owner is not None and (owner.port == me.port and owner.hairpin is not True) or (
                crs is not None and crs.uses_physdev)
            if owner is not None and owner.port is not None and matters and self.brnf(ns, out, p.family):
                # br_nf_pre_routing_finish: DNAT to a host on the same bridge stays bridged ("bridged DNAT")
                self.record(Step("bridge", ns.name, packet=p, note=f"bridged DNAT: {out} forwards the frame "
                                 "without routing it"))
                self._bridged_forward(ns, p.with_(out_iface=None), seg, me, owner)
                return
        p = self.hooks(ns, "FORWARD", p)
        p = self.hooks(ns, "POSTROUTING", p, nh)
        self.send_on_link(ns, p, out, nh)

    def _bridged_forward(self, ns: Ns, p: Packet, seg: Segment, me: Member, owner: Member) -> None:
        """br_nf_forward_ip / br_nf_post_routing: FORWARD and POSTROUTING with -i/-o the bridge."""
        b = seg.bridge
        p = p.with_(out_iface=b, physdev_in=me.port, physdev_out=owner.port, bridged=True)
        p = self.hooks(ns, "FORWARD", p)
        p = self.hooks(ns, "POSTROUTING", p, p.dst)
        self._bridge_out(seg, me, owner, p)

    def _forwarding(self, ns: Ns, iface: str, family: int) -> Tri:
        t = ns.topo
        v: int | bool | None = None
        if t is None and ns.role != "host":
            return Unknown(f"whether {ns.name} forwards IPv{family} is not known")
        if family == 4:
            if t is not None:
                v = t.sysctl_int(f"net.ipv4.conf.{iface}.forwarding")
                if v is None:
                    v = t.sysctl_int("net.ipv4.ip_forward")
            if v is None and ns.role == "host":
                daemon = self.world.topology.daemon.ip_forward
                if daemon is not None:
                    return daemon
                if self.net.kube_proxy_node:
                    self.assume("net.ipv4.ip_forward=1 in host: kube-proxy's chains are present, and a Kubernetes "
                                "node forwards (kubeadm's preflight check requires net.ipv4.ip_forward=1)")
                    return True
        else:
            if t is not None:
                v = t.sysctl_int(f"net.ipv6.conf.{iface}.forwarding")
                if v is None:
                    v = t.sysctl_int("net.ipv6.conf.all.forwarding")
            if v is None and ns.role == "host" and self._docker_forwards_ipv6():
                return True
            if t is None:
                return Unknown(f"whether {ns.name} forwards IPv6 is not known")
        if v is None:
            return Unknown(f"sysctl net.ipv{family}.{'ip_forward' if family == 4 else 'conf.all.forwarding'} "
                           f"in {ns.name} is not known")
        return v != 0

    def _docker_forwards_ipv6(self) -> bool:
        """dockerd (unless --ip-forward=false) enables IPv6 forwarding when it sets up a network with IPv6."""
        topo = self.world.topology
        return bool(topo.daemon.ip_forward) and any(
            s.version == 6 for n in topo.networks or () for s in n.subnets or ())

    def _conf(self, ns: Ns, iface: str, name: str) -> Tri:
        """An IPv4 interface setting; unknown unless it is one Docker never changes (then the kernel default)."""
        value: Tri = (ns.topo.ipv4_conf(iface, name) if ns.topo is not None else
                      Unknown(f"sysctl net.ipv4.conf.{iface}.{name} in {ns.name} is not known"))
        if isinstance(value, Unknown) and name in KERNEL_DEFAULTS:
            self.assume(f"net.ipv4.conf.{iface}.{name}={int(KERNEL_DEFAULTS[name])} in {ns.name} (kernel default; "
                        "Docker does not change it)")
            return KERNEL_DEFAULTS[name]
        return value

    def _hop(self, ns: Ns) -> None:
        self.hops += 1
        if self.hops > MAX_HOPS:
            raise self.stop("dropped", ns.name, None, "routing loop (TTL exceeded)")

    # ------------------------------------------------------------------ sockets

    def deliver(self, ns: Ns, p: Packet) -> None:
        exp = self.expect
        if exp is not None:
            want = exp.packet
            if ns.name == exp.ns and (p.dst == want.dst if exp.loose else
                                      (p.src, p.sport, p.dst, p.dport) == (want.src, want.sport, want.dst, want.dport)):
                step = Step("deliver", ns.name, packet=p, note=f"reaches the socket in {ns.name}")
                self.record(step)
                raise LegEnd("delivered", ns.name, p, step, "delivered", "connected")
            if ns.name == exp.ns:
                raise self.stop("mismatch", ns.name, p, f"arrives in {ns.name} as {p.proto} "
                                f"{endpoint(p.src, p.sport)} -> {endpoint(p.dst, p.dport)}, but the socket expects "
                                f"{endpoint(want.src, want.sport)} -> {endpoint(want.dst, want.dport)} (not un-NATed): "
                                "no socket takes it", "timeout")
            raise self.stop("mismatch", ns.name, p, f"arrives in {ns.name} instead of {exp.ns}: no socket takes it",
                            "timeout")
        raise LegEnd("arrived", ns.name, p, None, "arrived")


def _why(v: Verdict, what: str) -> str:
    s = v.step
    if s is None:
        return what + (f": {v.note}" if v.note else "")
    if s.kind == "policy":
        return f"{what} by the policy of {s.table} {s.chain} in {s.namespace}"
    loc = s.rule.location if s.rule is not None else None
    return f"{what} by {s.table} {s.chain} rule {s.rule_index}" + (f" ({loc})" if loc is not None else "") + (
        f" in {s.namespace}")


def _route_note(route: RouteV, p: Packet) -> str:
    if route.type == "local":
        return f"{address_text(p.dst)} is local"
    note = route.__dict__.get("_note")  # a route's text is the same every time it is taken
    if note is None:
        via = f" via {route.gateway}" if route.gateway is not None else ""
        note = route.__dict__["_note"] = f"to {route.dst}{via} dev {route.dev}"
    return note
