"""simulate(): one flow, every branch, as a FlowResult.

A connection is a request leg, its reply leg and (TCP) the client's ACK; each leg is a
walk that ends at a socket or a drop.  A request that reaches docker-proxy starts a
second connection from the host to the container, which decides what the server sees.
Branches (unknown facts, ``-m statistic``) are explored by re-running the walk with
each answer (see :mod:`natsim.engine.branches`) and merged back where the answer did
not matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from natsim.engine.branches import Decider, Taken
from natsim.engine.flow import DEFAULT_SPORT, Flow
from natsim.engine.network import Network
from natsim.engine.packet import Packet, endpoint
from natsim.engine.result import FlowResult, Leg, Outcome, Step
from natsim.engine.tri import Tri, Unknown
from natsim.engine.walk import Expect, LegEnd, Run
from natsim.engine.world import Ns, Segment
from natsim.errors import UsageError
from natsim.gcpause import cyclic_gc_paused
from natsim.model.targets import Accept
from natsim.model.values import IPAddress

MAX_BRANCHES = 64
PROXY_SPORT = 40001
ECHO = {4: ("icmp", 8, 0), 6: ("icmpv6", 128, 129)}


def simulate(net: Network, flow: Flow, max_branches: int = MAX_BRANCHES) -> FlowResult:
    """Every outcome of ``flow`` on ``net``, with the assumptions the answer rests on."""
    # A trace allocates many small objects; with a big ruleset in memory the cyclic collector's full
    # passes would cost more than the walk itself.  Collect once afterwards instead.
    with cyclic_gc_paused():
        return _simulate(net, flow, max_branches)


def _simulate(net: Network, flow: Flow, max_branches: int) -> FlowResult:
    world = net.world
    if flow.source_address is not None and flow.source_address.version != flow.family:
        raise UsageError(f"source address {flow.source_address} and destination {flow.destination} are of different "
                         "IP versions")
    if not flow.is_icmp and flow.dport is None:
        raise UsageError(f"{flow.proto} needs a destination port (or use icmp for ping)")
    if world.resolve_namespace(flow.source) is None:
        known = ", ".join(sorted(world.namespaces))
        raise UsageError(f"unknown source {flow.source!r}; known namespaces: {known}")
    queue: list[dict[str, int]] = [{}]
    results: list[tuple[list[Taken], Outcome, list[str]]] = []
    truncated = False
    while queue:
        if len(results) >= max_branches:
            truncated = True
            break
        decider = Decider(queue.pop(0))
        run = Run(net, decider)
        outcome = _connection_outcome(run, flow)
        results.append((decider.taken, outcome, run.assumptions))
        queue.extend(decider.pending)
    outcomes = _merge(results)
    notes: list[str] = []
    if truncated:
        notes.append(f"more than {max_branches} branches: the rest were not explored")
        outcomes.append(Outcome("unknown", (), None, reason=f"more than {max_branches} branches (unknown facts "
                                "and statistic rules) were not explored", end="unknown"))
    extra = [a for _, _, more in results for a in more]
    known = net.assumption_set
    more = tuple(dict.fromkeys(a for a in extra if a not in known))
    assumptions = net.assumptions + more if more else net.assumptions  # shared, not copied, when nothing is new
    return FlowResult(str(flow), tuple(outcomes), assumptions, tuple(notes))


# ---------------------------------------------------------------------------- one branch


@dataclass
class _Conn:
    legs: list[Leg]
    ok: bool
    end: LegEnd | None  # how it failed, or the final delivery
    server: str | None = None
    at_server: Packet | None = None


def _connection_outcome(run: Run, flow: Flow) -> Outcome:
    world = run.world
    ns = world.ns(world.resolve_namespace(flow.source) or "")
    fam = flow.family
    proto = flow.proto
    icmp = None
    if flow.is_icmp:
        proto, req_type, _ = ECHO[fam]
        icmp = req_type
    p0 = Packet(fam, flow.source_address, flow.destination, proto,  # type: ignore[arg-type]
                None if icmp is not None else (flow.sport or DEFAULT_SPORT),
                None if icmp is not None else flow.dport, icmp_type=icmp, icmp_code=0 if icmp is not None else None,
                tcp_flags=frozenset({"SYN"}) if proto == "tcp" else frozenset())
    legs: list[Leg] = []
    conn = _connect(run, ns, p0, legs, flow.in_interface)
    via_proxy = False
    while conn.ok and conn.end is not None and conn.end.kind == "proxy":
        via_proxy = True
        target_ns, addr, port = conn.end.extra
        host = world.ns(world.topology.host)
        p = Packet(addr.version, None, addr, p0.proto, PROXY_SPORT, port,
                   tcp_flags=frozenset({"SYN"}) if p0.proto == "tcp" else frozenset())
        conn = _connect(run, host, p, legs, None)
        if not conn.ok and conn.end is not None and conn.end.end in ("refused", "unreachable"):
            e = conn.end
            if p0.proto == "tcp":  # docker-proxy accepted, then closes the client's connection
                conn.end = LegEnd(e.kind, e.ns, e.packet, e.step, e.reason + "; docker-proxy closes the client's "
                                  "connection", "closed", e.extra)
            else:  # docker-proxy ignores ECONNREFUSED on UDP: the client hears nothing (lab decision 0016)
                conn.end = LegEnd(e.kind, e.ns, e.packet, e.step, e.reason + "; docker-proxy does not pass the "
                                  "error on", "timeout", e.extra)
    if not conn.ok and conn.end is not None and flow.is_icmp and conn.end.end == "refused":
        e = conn.end
        conn.end = LegEnd(e.kind, e.ns, e.packet, e.step, e.reason, "unreachable", e.extra)
    return _outcome(run, conn, legs, via_proxy)


def _connect(run: Run, ns: Ns, p0: Packet, legs: list[Leg], in_iface: str | None) -> _Conn:
    # request
    end, first = _leg(run, legs, "request", lambda: _originate(run, ns, p0, in_iface), None)
    if end.kind != "arrived" or end.packet is None:
        if end.kind == "dropped" and isinstance(end.extra, tuple) and end.extra[0] == "reject" and first is not None:
            end = _error_leg(run, legs, ns, first, end, _rejection(end.packet, end.extra[1], run.world.ns(end.ns)))
        return _Conn(legs, False, end)
    assert first is not None
    at_server = end.packet
    server = run.world.ns(end.ns)
    kind, info = _socket(run, server, at_server)
    if kind == "refused":
        step = Step("deliver", server.name, packet=at_server, note=info)
        legs[-1] = Leg("request", legs[-1].steps + (step,), False, step)
        refused = LegEnd("refused", server.name, at_server, step, info, "refused")
        return _Conn(legs, False, _error_leg(run, legs, ns, first, refused, _no_listener(at_server)))
    step = Step("proxy" if kind == "proxy" else "deliver", server.name, packet=at_server, note=info)
    legs[-1] = Leg("request", legs[-1].steps + (step,), True, step)
    # reply
    reply = _reply_of(at_server)
    want = Packet(first.family, first.dst, first.src, first.proto, first.dport, first.sport)
    end_r, _ = _leg(run, legs, "reply", lambda: run.send_local(server, reply), Expect(ns.name, want))
    if end_r.kind != "delivered":
        return _Conn(legs, False, _silent(end_r))
    # the client's ACK (TCP): the first packet of the ESTABLISHED connection
    if first.proto == "tcp":
        ack = first.with_(tcp_flags=frozenset({"ACK"}), conn=None, in_iface=None, out_iface=None)
        at = Packet(at_server.family, at_server.src, at_server.dst, at_server.proto, at_server.sport, at_server.dport)
        end_a, _ = _leg(run, legs, "request", lambda: _originate(run, ns, ack, in_iface), Expect(server.name, at))
        if end_a.kind != "delivered":
            return _Conn(legs, False, _lost_ack(run, legs, ns, first, end_a))
    if kind == "proxy":
        target = _proxy_target(run, server, at_server)
        proxied = LegEnd("proxy", server.name, at_server, step, info, extra=target)
        return _Conn(legs, True, proxied, server.name, at_server)
    done = LegEnd("delivered", server.name, at_server, step, info, "connected")
    return _Conn(legs, True, done, server.name, at_server)


def _silent(end: LegEnd) -> LegEnd:
    """A lost reply: whatever stopped it, the client only ever sees silence (decision 0067)."""
    if end.end in ("refused", "unreachable"):
        return LegEnd(end.kind, end.ns, end.packet, end.step, end.reason + " (the client sees no answer)", "timeout",
                      end.extra)
    return end


def _lost_ack(run: Run, legs: list[Leg], client: Ns, first: Packet, end: LegEnd) -> LegEnd:
    """The handshake's last ACK is stopped: connect() has already returned (decision 0139).

    The server never accepts the connection.  A REJECT's answer is walked back like any refusal
    (:func:`_error_leg`): a RST that reaches the client resets its connection (``closed``); an ICMP
    error only marks the socket (a soft error), so the client waits for an answer that never comes.
    """
    if end.kind == "unknown":
        return end
    done = "; the client's connect() had already returned (the SYN-ACK reached it), but the server never gets " \
           "the connection"
    rejected = end.kind == "dropped" and isinstance(end.extra, tuple) and end.extra[0] == "reject"
    err = _rejection(end.packet, end.extra[1], run.world.ns(end.ns)) if rejected else None
    if err is not None:
        walked = _error_leg(run, legs, client, first, end, err)
        if walked is end and err.proto == "tcp":  # the answer reached the client
            return LegEnd(end.kind, end.ns, end.packet, end.step, end.reason + done + "; the reset that comes back "
                          "closes the client's connection", "closed", end.extra)
        if walked is end:
            return LegEnd(end.kind, end.ns, end.packet, end.step, end.reason + done + "; the ICMP error that comes "
                          "back only marks the client's socket (a client on a sub-millisecond path may read it as "
                          "'connection refused' from connect()), and its first request times out", "timeout",
                          end.extra)
        end = walked
    return LegEnd(end.kind, end.ns, end.packet, end.step, end.reason + done + ": its first request times out",
                  "timeout", end.extra)


REJECT_CODES = {  # --reject-with -> (ICMP type, code, what connect() reports)
    "icmp-net-unreachable": (3, 0, "unreachable"), "icmp-host-unreachable": (3, 1, "unreachable"),
    "icmp-proto-unreachable": (3, 2, "unreachable"), "icmp-port-unreachable": (3, 3, "refused"),
    "icmp-net-prohibited": (3, 9, "unreachable"), "icmp-host-prohibited": (3, 10, "unreachable"),
    "icmp-admin-prohibited": (3, 13, "unreachable"),
    "icmp6-no-route": (1, 0, "unreachable"), "no-route": (1, 0, "unreachable"),
    "icmp6-adm-prohibited": (1, 1, "unreachable"), "adm-prohibited": (1, 1, "unreachable"),
    "icmp6-addr-unreachable": (1, 3, "unreachable"), "addr-unreach": (1, 3, "unreachable"),
    "icmp6-port-unreachable": (1, 4, "refused"), "port-unreach": (1, 4, "refused"),
}


def _rejection(p: Packet | None, reject_with: str | None, where: Ns) -> Packet | None:
    """The packet a REJECT sends back (ipt_REJECT / nf_reject): a RST, or an ICMP error."""
    if p is None:
        return None
    if reject_with == "tcp-reset" and p.proto == "tcp":
        return Packet(p.family, p.dst, p.src, "tcp", p.dport, p.sport, tcp_flags=frozenset({"RST", "ACK"}),
                      related_to=p.tuple())
    icmp_type, code, _ = REJECT_CODES.get(reject_with or "", (3, 3, "refused") if p.family == 4 else (1, 4, "refused"))
    src = p.dst if where.is_local(p.dst) else None  # icmp_send: a local destination answers from itself
    return Packet(p.family, src, p.src, "icmp" if p.family == 4 else "icmpv6", icmp_type=icmp_type, icmp_code=code,
                  tcp_flags=frozenset(), related_to=p.tuple())


def _no_listener(p: Packet) -> Packet | None:
    """What a namespace answers when nothing listens: TCP's RST (tcp_v4_send_reset), UDP's port unreachable."""
    if p.proto == "tcp":
        return Packet(p.family, p.dst, p.src, "tcp", p.dport, p.sport, tcp_flags=frozenset({"RST", "ACK"}))
    if p.proto in ("udp", "udplite", "sctp"):
        return Packet(p.family, p.dst, p.src, "icmp" if p.family == 4 else "icmpv6",
                      icmp_type=3 if p.family == 4 else 1, icmp_code=3 if p.family == 4 else 4, tcp_flags=frozenset(),
                      related_to=p.tuple())
    return None


def _error_leg(run: Run, legs: list[Leg], client: Ns, first: Packet, end: LegEnd, err: Packet | None) -> LegEnd:
    """Walk the refusal back to the client: rules and NAT apply to it too (decision 0067)."""
    if err is None:
        return end
    origin = run.world.ns(end.ns)
    loose = err.proto != "tcp"
    want = Packet(first.family, first.dst, first.src, first.proto, first.dport, first.sport)
    back, _ = _leg(run, legs, "reply", lambda: run.send_local(origin, err), Expect(client.name, want, loose))
    if back.kind == "delivered":
        return end
    return LegEnd(end.kind, end.ns, end.packet, end.step,
                  end.reason + f"; the {'reset' if err.proto == 'tcp' else 'ICMP error'} never reaches the client "
                  f"({back.reason})", "timeout", end.extra)


def _leg(run: Run, legs: list[Leg], direction: str, go: Any, expect: Expect | None) -> tuple[LegEnd, Packet | None]:
    run.steps = []
    run.expect = expect
    run.hops = 0
    run.first = None
    try:
        go()
        end = LegEnd("dropped", "", None, None, "the packet went nowhere")  # pragma: no cover - walk always ends
    except LegEnd as e:
        end = e.with_traceback(None)  # the traceback would tie the frames to the result in a cycle for the GC
    delivered = end.kind in ("arrived", "delivered")
    legs.append(Leg(direction, tuple(run.steps), delivered, end.step))  # type: ignore[arg-type]
    return end, run.first


def _originate(run: Run, ns: Ns, p: Packet, in_iface: str | None) -> None:
    """The client sends ``p``: from a socket in its namespace, or from the outside world onto an uplink."""
    if not ns.world:
        run.send_local(ns, p)
        return
    world = run.world
    host = world.ns(world.topology.host)
    segs = [(i, world.segment(ns.name, i)) for i in ns.ifaces]
    segs = [(i, s) for i, s in segs if s is not None]
    if in_iface is None and p.src is not None:
        in_iface = _client_side(host, p.src, segs)
    choice = None
    for i, s in segs:
        host_end = next((m for m in s.members if m.ns == host.name), None)
        if host_end is None:
            continue
        if in_iface is not None and host_end.iface == in_iface:
            choice = (i, s, host_end)
            break
        if in_iface is None and host.iface_of(p.dst) == host_end.iface:
            choice = (i, s, host_end)
    if choice is None:
        for i, s in segs:
            host_end = next((m for m in s.members if m.ns == host.name), None)
            if host_end is not None and (in_iface is None or host_end.iface == in_iface):
                choice = (i, s, host_end)
                break
    if choice is None:
        raise run.stop("dropped", ns.name, p, f"no link from {ns.name} to the host" +
                       (f" interface {in_iface}" if in_iface else ""), "unreachable")
    wif, seg, host_end = choice
    if p.src is None:
        own = [a.ip for a in ns.ifaces[wif].addrs_of(p.family)]
        src = own[0] if own else world.outside_client_address(host_end.iface, p.family)
        if src is None:
            raise run.stop("dropped", ns.name, p, f"host interface {host_end.iface} has no IPv{p.family} network "
                           "to place an outside client on; give the client's address", "unreachable")
        if not own:
            run.assume(f"outside client at {src} on the network of host interface {host_end.iface}")
        p = p.with_(src=src)
    run.first = p
    run.record(Step("route", ns.name, packet=p, note=f"sent from outside to host interface {host_end.iface}"))
    run.receive(host_end, p)


def _client_side(host: Ns, client: IPAddress, segs: list[tuple[str, Segment]]) -> str | None:
    """The host interface an outside client with a known address is on: where the host routes it.

    A client on a network the host reaches by a specific (non-default) route sits behind
    that route's interface -- its packets arrive there, as rp_filter assumes; a client only
    the default route reaches stays undecided (the interface owning the destination, else
    the default route's).
    """
    route = host.lookup(client)
    if route is None or route.dev is None or route.dst.prefixlen == 0 or route.type != "unicast":
        return None
    if any(m.ns == host.name and m.iface == route.dev for _, s in segs for m in s.members):
        return route.dev
    return None


def _reply_of(p: Packet) -> Packet:
    if p.icmp_type is not None:
        rtype = ECHO[p.family][2] if p.family == 6 else 0
        return Packet(p.family, p.dst, p.src, p.proto, icmp_type=rtype, icmp_code=0, tcp_flags=frozenset())
    flags = frozenset({"SYN", "ACK"}) if p.proto == "tcp" else frozenset()
    return Packet(p.family, p.dst, p.src, p.proto, p.dport, p.sport, tcp_flags=flags)


# ---------------------------------------------------------------------------- sockets


def _socket(run: Run, ns: Ns, p: Packet) -> tuple[str, str]:
    """Who takes a request delivered in ``ns``: ("server"|"proxy"|"refused", why)."""
    where = endpoint(p.dst, p.dport)
    if p.icmp_type is not None:
        return "server", f"{ns.name} answers the echo request"
    if ns.world:
        run.assume(f"a server at {where}/{p.proto} outside answers")
        return "server", f"the outside server at {where} answers"
    proxy = _proxy_target(run, ns, p)
    if ns.listeners is not None:
        hits = [l for l in ns.listeners if l.accepts(p.proto, p.dst, p.dport or 0)]
        if not hits:
            return "refused", f"nothing listens on {where}/{p.proto} in {ns.name}: connection refused"
        if proxy is not None and any((l.process or "").startswith("docker-proxy") for l in hits):
            return "proxy", f"docker-proxy accepts on {where}/{p.proto} and connects to {endpoint(proxy[1], proxy[2])}"
        who = hits[0].process or "a process"
        return "server", f"{who} listens on {where}/{p.proto} in {ns.name}"
    if proxy is not None:
        on = _userland_proxy(run)
        if run.tri(on, "docker's userland-proxy is on", "docker's userland-proxy is off"):
            return "proxy", f"docker-proxy accepts on {where}/{p.proto} and connects to {endpoint(proxy[1], proxy[2])}"
        return "refused", f"nothing listens on {where}/{p.proto} in {ns.name} (userland-proxy off): connection refused"
    if _published_elsewhere(run, ns, p):
        run.assume(f"only Docker listens on port {p.dport}/{p.proto} of the host (it is published on another "
                   "host address)")
        return "refused", f"nothing listens on {where}/{p.proto}: the port is published on another host address"
    run.assume(f"a server listens on {where}/{p.proto} in {ns.name}")
    return "server", f"a server listens on {where}/{p.proto} in {ns.name}"


def _published_elsewhere(run: Run, ns: Ns, p: Packet) -> bool:
    topo = run.world.topology
    if ns.name != topo.host:
        return False
    return p.dport is not None and bool(topo.bindings(p.dport, p.proto))


def _userland_proxy(run: Run) -> Tri:
    v = run.world.topology.daemon.userland_proxy
    if v is None:
        return Unknown("whether docker's userland-proxy is on is not known")
    return v


def _proxy_target(run: Run, ns: Ns, p: Packet) -> tuple[str, IPAddress, int] | None:
    """The container a docker-proxy on ``p``'s address and port forwards to (Docker's -p bindings)."""
    topo = run.world.topology
    if ns.name != topo.host or p.dport is None:
        return None
    for c, pp in topo.bindings(p.dport, p.proto):
        if pp.host_ip is not None and not pp.host_ip.is_unspecified and pp.host_ip != p.dst:
            continue
        if pp.host_ip is not None and pp.host_ip.version != p.family and not pp.host_ip.is_unspecified:
            continue
        addrs = c.addresses()
        target = next((a for a in addrs if a.version == p.family), None) or next(iter(addrs), None)
        if target is None:
            continue
        net = topo.network_of_address(target)
        mode = None if net is None else (net.gateway_mode_v4 if target.version == 4 else net.gateway_mode_v6)
        if mode == "routed":
            continue
        cns = topo.namespace_name_of(c)
        if cns is None:
            continue
        return cns, target, pp.container_port
    return None


# ---------------------------------------------------------------------------- outcomes


def _outcome(run: Run, conn: _Conn, legs: list[Leg], via_proxy: bool) -> Outcome:
    unknowns = tuple(run.unknowns)
    end = conn.end
    if conn.ok and end is not None:
        p = conn.at_server
        assert p is not None
        deciding = _deciding_accept(legs)
        seen = p.src
        reason = f"{conn.server} accepts the connection; it sees the client as {endpoint(seen, p.sport)}"
        if via_proxy:
            reason += " (docker-proxy made the connection)"
        return Outcome("reachable", tuple(legs), deciding, seen, p.sport, p.dst, p.dport, conn.server, via_proxy,
                       unknowns=unknowns, reason=reason, end="connected")
    assert end is not None
    verdict = "unknown" if end.kind == "unknown" else "blocked"
    reason = f"{_stopped_leg(legs, end.step)}: {end.reason}"
    return Outcome(verdict, tuple(legs), end.step, via_proxy=via_proxy, unknowns=unknowns,  # type: ignore[arg-type]
                   reason=reason, end=end.end if verdict != "unknown" else "unknown")


def _stopped_leg(legs: list[Leg], step: Step | None) -> str:
    """Which packet was stopped: the leg holding the deciding step (a refusal walked back comes after it)."""
    for leg in legs:
        if step is not None and any(s is step for s in leg.steps):
            return "ACK" if _is_ack_leg(leg) else leg.direction
    return legs[-1].direction if legs else "request"


def _deciding_accept(legs: list[Leg]) -> Step | None:
    """For a reachable flow: the last filter rule that accepted a request, else the last DNAT rule,
    else the step that delivered it (a policy ACCEPT decides nothing worth citing)."""
    accept: Step | None = None
    nat: Step | None = None
    delivered: Step | None = None
    for leg in legs:
        if leg.direction != "request" or _is_ack_leg(leg):
            continue  # the ACK is accepted as ESTABLISHED: the NEW packet's rules are the ones that decide
        for s in leg.steps:
            if s.kind == "rule" and s.matched is True and s.rule is not None:
                if s.table == "filter" and isinstance(s.rule.target, Accept):
                    accept = s
                elif s.table == "nat" and type(s.rule.target).__name__ in ("Dnat", "Redirect", "Netmap"):
                    nat = s
            elif s.kind in ("deliver", "proxy") and delivered is None:
                delivered = s
    return accept or nat or delivered


def _is_ack_leg(leg: Leg) -> bool:
    first = next((s.packet for s in leg.steps if s.packet is not None), None)
    return first is not None and first.proto == "tcp" and "SYN" not in first.tcp_flags


def _signature(o: Outcome) -> tuple[Any, ...]:
    return (o.verdict, o.seen_source, o.seen_source_port, o.destination, o.destination_port, o.server, o.via_proxy,
            o.end)


def _merge(results: list[tuple[list[Taken], Outcome, list[str]]]) -> list[Outcome]:
    """Reduce branches whose answer did not depend on their last decision (sibling merge)."""
    if len(results) == 1 and not results[0][0]:  # no decision was taken: the one outcome stands as it is
        o = results[0][1]
        if o.probability == 1.0 and not o.conditions and not o.unknowns:
            return [o]
    items: list[tuple[tuple[tuple[str, int], ...], Outcome, tuple[Taken, ...], float]] = []
    for taken, o, _ in results:
        path = tuple((t.key, t.index) for t in taken)
        prob = 1.0
        for t in taken:
            if t.option.probability is not None:
                prob *= t.option.probability
        items.append((path, o, tuple(taken), prob))
    changed = True
    while changed:
        changed = False
        for i, (path, o, taken, prob) in enumerate(items):
            if not path:
                continue
            key = path[-1][0]
            sibs = [j for j, it in enumerate(items) if it[0][:-1] == path[:-1] and it[0] and it[0][-1][0] == key]
            if len(sibs) < 2 or any(_signature(items[j][1]) != _signature(o) for j in sibs):
                continue
            statistic = taken[-1].option.probability is not None
            # a statistic draw's branches add up; an unknown fact's branches are the same draw seen twice
            total = sum(items[j][3] for j in sibs) if statistic else max(items[j][3] for j in sibs)
            merged = (path[:-1], o, taken[:-1], total)
            items = [it for j, it in enumerate(items) if j not in sibs]
            items.insert(min(sibs), merged)
            changed = True
            break
    out: list[Outcome] = []
    for path, o, taken, prob in items:
        conds = tuple(t.option.condition for t in taken)
        unknowns = tuple(u for u in o.unknowns if any(u.reason in t.key for t in taken if t.unknown))
        out.append(_replace(o, probability=prob, conditions=conds, unknowns=unknowns))
    return out


def _replace(o: Outcome, **kw: Any) -> Outcome:
    from dataclasses import replace

    return replace(o, **kw)
