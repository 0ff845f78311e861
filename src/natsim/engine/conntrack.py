"""A namespace's conntrack table, and NAT bindings as conntrack keeps them.

The first packet creates an entry (state NEW) whose reply tuple is the inverted
original; a NAT binding rewrites the reply tuple (nf_nat_setup_info), and every
later packet of either direction is translated towards the other direction's
inverted tuple (nf_nat_packet / nf_nat_manip_pkt): that is how replies are un-NATed.
The nat table runs once per manipulation type (``nat_done``), on the first packet.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from natsim.engine.packet import Conn, Packet, Tuple5
from natsim.engine.targets import NatBinding


@dataclass
class Entry:
    original: Tuple5
    reply: Tuple5
    status: set[str] = field(default_factory=set)
    nat_done: set[str] = field(default_factory=set)
    mark: int = 0
    views: dict[bool, tuple[tuple[object, ...], Conn]] = field(default_factory=dict, repr=False, compare=False)


class CtTable:
    def __init__(self) -> None:
        self.by_tuple: dict[Tuple5, tuple[Entry, bool]] = {}
        self.untracked: set[Tuple5] = set()

    def lookup(self, p: Packet) -> Conn:
        t = p.tuple()
        hit = self.by_tuple.get(t)
        if hit is None:
            if _cannot_start(p):
                return Conn("INVALID", t, t.inverted())
            e = Entry(t, t.inverted())
            self.by_tuple[t] = (e, False)
            self.by_tuple[e.reply] = (e, True)
            return self._conn(e, False)
        e, is_reply = hit
        if is_reply:
            e.status.add("SEEN_REPLY")
        return self._conn(e, is_reply)

    def related(self, p: Packet) -> Conn | None:
        """An ICMP error or REJECT's reset: the entry of the packet it answers, in the reply direction (RELATED)."""
        t = p.related_to
        assert t is not None
        hit = self.by_tuple.get(t) or self.by_tuple.get(t.inverted())
        if hit is None:
            return None
        e, _ = hit
        c = self._conn(e, True)
        return Conn("RELATED", c.original, c.reply, c.status, True, c.mark)

    def entry_of(self, p: Packet) -> Entry | None:
        hit = self.by_tuple.get(p.tuple()) if p.conn is None else None
        if hit is not None:
            return hit[0]
        c = p.conn
        if c is None:
            return None
        hit = self.by_tuple.get(c.original)
        return hit[0] if hit is not None else None

    def _conn(self, e: Entry, is_reply: bool) -> Conn:
        # the same view is asked for at every hook: rebuild it only when the entry changed (status only grows)
        key = (is_reply, len(e.status), e.mark, id(e.reply))  # the cached Conn keeps e.reply alive
        cached = e.views.get(is_reply)
        if cached is not None and cached[0] == key:
            return cached[1]
        conn = self._make_conn(e, is_reply)
        e.views[is_reply] = (key, conn)
        return conn

    def _make_conn(self, e: Entry, is_reply: bool) -> Conn:
        state = "ESTABLISHED" if (is_reply or "SEEN_REPLY" in e.status) else "NEW"
        status = set(e.status)
        if is_reply or "SEEN_REPLY" in e.status:
            status.add("CONFIRMED")
        return Conn(state, e.original, e.reply, frozenset(status), is_reply, e.mark)

    def bind(self, e: Entry, nat: NatBinding) -> None:
        """Record a NAT binding: the reply tuple changes so replies find (and undo) it."""
        old = e.reply
        self.by_tuple.pop(old, None)
        if nat.manip == "dst":
            e.reply = Tuple5(nat.address or old.src, old.dst, old.proto,
                             nat.port if nat.port is not None else old.sport, old.dport)
            e.status.add("DST_NAT")
        else:
            e.reply = Tuple5(old.src, nat.address or old.dst, old.proto, old.sport,
                             nat.port if nat.port is not None else old.dport)
            e.status.add("SRC_NAT")
        self.by_tuple[e.reply] = (e, True)

    def translate(self, e: Entry, p: Packet, manip: str) -> Packet:
        """nf_nat_packet: rewrite one side of ``p`` towards the other direction's inverted tuple."""
        assert p.conn is not None
        if p.conn.is_reply:
            target = e.original.inverted()
        else:
            target = e.reply.inverted()
        if manip == "dst":
            if p.dst == target.dst and p.dport == target.dport:
                return self._refresh(e, p)
            q = p.with_(dst=target.dst, dport=target.dport if p.dport is not None else None)
        else:
            if p.src == target.src and p.sport == target.sport:
                return self._refresh(e, p)
            q = p.with_(src=target.src, sport=target.sport if p.sport is not None else None)
        return self._refresh(e, q)

    def _refresh(self, e: Entry, p: Packet) -> Packet:
        assert p.conn is not None
        c = self._conn(e, p.conn.is_reply)
        if p.conn.state == "RELATED":
            c = Conn("RELATED", c.original, c.reply, c.status, c.is_reply, c.mark)
        return p if c is p.conn or c == p.conn else p.with_(conn=c)

    def set_mark(self, p: Packet, mark: int) -> Conn | None:
        e = self.entry_of(p)
        if e is None:
            return p.conn
        e.mark = mark
        assert p.conn is not None
        return self._conn(e, p.conn.is_reply)

    def untrack(self, p: Packet) -> None:
        t = p.tuple()
        hit = self.by_tuple.pop(t, None)
        if hit is not None:
            self.by_tuple.pop(hit[0].reply, None)
        self.untracked.add(t)

    def untracked_conn(self, p: Packet) -> Conn:
        t = p.tuple()
        return Conn("UNTRACKED", t, t.inverted())


def _cannot_start(p: Packet) -> bool:
    """A packet conntrack refuses to start a connection with: it is INVALID (nf_conntrack_proto_tcp.c
    tcp_new: a SYN-ACK or RST from state NONE; nf_conntrack_proto_icmp.c icmp_new: only requests start one)."""
    if p.proto == "tcp":
        return "RST" in p.tcp_flags or {"SYN", "ACK"} <= p.tcp_flags
    if p.proto in ("icmp", "icmpv6") and p.related_to is None:
        return p.icmp_type in (0, 129)  # echo reply
    return False
