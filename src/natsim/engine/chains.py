"""Compiled chains: rules turned into predicate lists, indexed by what they match, and walked.

A chain with many rules is indexed by (destination host, protocol+destination port):
a packet only looks at the rules in its own buckets and the rules that match on
neither, merged back into rule order, so a trace through 10,000 DNAT rules stays
short without changing which rule matches first.  The walk follows the kernel
(net/ipv4/netfilter/ip_tables.c ``ipt_do_table``): jumps push a return point, a goto
does not (so RETURN from a goto'd chain returns to the caller's caller), falling off
a user chain returns, falling off a built-in chain applies its policy.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from natsim.engine.branches import Option
from natsim.engine.matches import Chance, evaluate, proto_number
from natsim.engine.packet import Packet
from natsim.engine.result import Step
from natsim.engine.targets import Action, NatBinding, perform
from natsim.engine.tri import Tri, Unknown
from natsim.model import matches as mm
from natsim.model.ruleset import Chain, Rule, Ruleset
from natsim.model.targets import Jump, UnknownTarget

Check = Callable[[Packet, Any], Any]
INDEX_THRESHOLD = 12
MAX_INDEX_RANGE = 64


@dataclass(slots=True)
class CRule:
    index: int  # 1-based
    rule: Rule
    checks: tuple[Check, ...]
    target: Any


@dataclass
class CChain:
    """A chain ready to walk.  ``index`` maps (dimension, value) to rule positions (0-based, ascending).

    Each rule sits in exactly one bucket: the most selective thing it requires (a destination
    host, a protocol+destination port, an exact output or input interface), or ``generic``.
    A packet's candidates are its buckets merged with the generic rules, in rule order.
    """

    name: str
    policy: str | None
    rules: list[CRule]
    index: dict[tuple[str, Any], list[int]] | None = None
    generic: list[int] | None = None

    def candidates(self, p: Packet) -> list[int] | range:
        index = self.index
        if index is None:
            return range(len(self.rules))
        present = [self.generic] if self.generic else []
        for key in (("dst", int(p.dst)), ("port", (proto_number(p.proto), p.dport)) if p.dport is not None else None,
                    ("out", p.out_iface), ("in", p.in_iface)):
            if key is not None:
                hit = index.get(key)
                if hit:
                    present.append(hit)
        if not present:
            return []
        if len(present) == 1:
            return present[0]
        return list(heapq.merge(*present))


@dataclass
class CRuleset:
    family: int
    chains: dict[tuple[str, str], CChain] = field(default_factory=dict)
    uses_physdev: bool = False
    has_rules: bool = False
    plans: dict[str, tuple[str, ...]] = field(default_factory=dict)  # hook -> the tables that run there

    def chain(self, table: str, name: str) -> CChain | None:
        return self.chains.get((table, name))


def compile_ruleset(rs: Ruleset) -> CRuleset:
    out = CRuleset(rs.family)
    for table in rs.tables:
        names = {c.name for c in table.chains}
        for chain in table.chains:
            out.chains[(table.name, chain.name)] = _compile_chain(chain, names)
            for r in chain.rules:
                out.has_rules = True
                if any(isinstance(x, mm.Physdev) for x in r.matches):
                    out.uses_physdev = True
        for chain in table.chains:
            if chain.builtin and chain.policy not in (None, "ACCEPT"):
                out.has_rules = True
    return out


def _compile_chain(chain: Chain, names: set[str]) -> CChain:
    rules = [CRule(i + 1, r, _checks(r), _target(r.target, names)) for i, r in enumerate(chain.rules)]
    cc = CChain(chain.name, chain.policy, rules)
    if len(rules) >= INDEX_THRESHOLD:
        index: dict[tuple[str, Any], list[int]] = {}
        generic: list[int] = []
        for pos, cr in enumerate(rules):
            keys = _keys(cr.rule)
            if not keys:
                generic.append(pos)
            for key in keys:
                index.setdefault(key, []).append(pos)
        cc.index, cc.generic = index, generic
    return cc


def _target(target: Any, names: set[str]) -> Any:
    """``-j NAME`` naming a chain of the table is a jump, however the parser classified it."""
    if isinstance(target, UnknownTarget) and not target.args and target.target_name in names:
        return Jump(target.target_name)
    return target


def _keys(r: Rule) -> list[tuple[str, Any]]:
    """The buckets a rule belongs in (one dimension per rule); [] when it may match anything."""
    if r.destination is not None and not r.destination.negated:
        net = r.destination.value
        if net.prefixlen == net.max_prefixlen:
            return [("dst", int(net.network_address))]
    if r.protocol is not None and not r.protocol.negated:
        pnum = proto_number(r.protocol.value)
        for x in r.matches:
            if isinstance(x, (mm.Tcp, mm.Udp, mm.Sctp)) and x.dport is not None and not x.dport.negated:
                pr = x.dport.value
                if pr.hi - pr.lo < MAX_INDEX_RANGE:
                    return [("port", (pnum, port)) for port in range(pr.lo, pr.hi + 1)]
                break
    for dim, opt in (("out", r.out_interface), ("in", r.in_interface)):
        if opt is not None and not opt.negated and not opt.value.name.endswith("+"):
            return [(dim, opt.value.name)]
    return []


def _checks(r: Rule) -> tuple[Check, ...]:
    checks: list[Check] = []
    if r.protocol is not None:
        proto, neg = r.protocol.value, r.protocol.negated
        if proto in ("all", "0"):
            checks.append(lambda p, env: not neg)
        else:
            pnum = proto_number(proto)
            checks.append(lambda p, env: (proto_number(p.proto) == pnum) != neg)
    if r.source is not None:
        snet, sneg = r.source.value, r.source.negated
        checks.append(lambda p, env: (p.src in snet) != sneg)
    if r.destination is not None:
        dnet, dneg = r.destination.value, r.destination.negated
        checks.append(lambda p, env: (p.dst in dnet) != dneg)
    if r.in_interface is not None:
        iif, ineg = r.in_interface.value, r.in_interface.negated
        checks.append(lambda p, env: iif.matches(p.in_iface) != ineg)
    if r.out_interface is not None:
        oif, oneg = r.out_interface.value, r.out_interface.negated
        checks.append(lambda p, env: oif.matches(p.out_iface) != oneg)
    if r.fragment is not None:
        fneg = r.fragment.negated
        checks.append(lambda p, env: fneg)  # natsim's packets are never non-first fragments
    for x in r.matches:
        if isinstance(x, mm.Comment):
            continue
        checks.append(lambda p, env, x=x: evaluate(x, p, env))
    return tuple(checks)


# ---------------------------------------------------------------------------- walking


@dataclass(slots=True)
class Verdict:
    """How a table's walk of one hook ended."""

    kind: Literal["accept", "drop", "reject", "nat"]
    packet: Packet
    step: Step | None = None  # the rule or policy step that decided
    nat: NatBinding | None = None
    reject_with: str | None = None
    note: str = ""
    notrack: bool = False
    connmark: int | None = None


def rule_text(rule: Rule) -> str:
    return rule.text or ""


def walk(run: Any, ns: str, crs: CRuleset, table: str, hook: str, p: Packet, env: Any) -> Verdict:
    """Walk the built-in chain ``hook`` of ``table`` for packet ``p``; ``run`` records and decides."""
    start = crs.chain(table, hook)
    if start is None:
        return Verdict("accept", p)
    stack: list[tuple[CChain, list[int] | range, int]] = []
    chain, cands, i = start, start.candidates(p), 0
    notrack = False
    connmark: int | None = None
    depth = 0
    while True:
        if i >= len(cands):
            if not stack:
                policy = chain.policy or "ACCEPT"
                step = Step("policy", ns, hook, table, chain.name, None, None, None, p, None,
                            f"policy {policy}")
                run.record(step)
                kind = "accept" if policy == "ACCEPT" else "drop"
                return Verdict(kind, p, step, notrack=notrack, connmark=connmark)  # type: ignore[arg-type]
            chain, cands, i = stack.pop()
            continue
        cr = chain.rules[cands[i]]
        i += 1
        for check in cr.checks:  # the common case inline: every check answers True or False
            v = check(p, env)
            if v is not True:
                matched = False if v is False else _match(run, ns, table, chain.name, cr, p, env)
                break
        else:
            matched = True
        if matched is not True:
            run.record(Step("rule", ns, hook, table, chain.name, cr.index, cr.rule, matched, p))
            continue
        if cr.target is None:
            run.record(Step("rule", ns, hook, table, chain.name, cr.index, cr.rule, True, p))
            continue
        act: Action = perform(cr.target, p, env)
        if act.kind == "unknown":
            assert act.unknown is not None
            where = f"{cr.rule.location}"
            act = run.decide(f"{act.unknown.reason} [rule {where}]", (
                Option(Action("continue"), f"assuming {act.unknown.reason}: the target lets the packet continue"),
                Option(Action("drop"), f"assuming {act.unknown.reason}: the target drops the packet"),
            ))
        after = act.packet if act.packet is not None else None
        step = Step("rule", ns, hook, table, chain.name, cr.index, cr.rule, True, p, after, act.note)
        run.record(step)
        if act.packet is not None:
            p = act.packet
        if act.notrack:
            notrack = True
        if act.connmark is not None:
            connmark = act.connmark
        k = act.kind
        if k == "continue":
            continue
        if k == "accept":
            return Verdict("accept", p, step, notrack=notrack, connmark=connmark)
        if k == "drop":
            return Verdict("drop", p, step, note=act.note)
        if k == "reject":
            return Verdict("reject", p, step, reject_with=act.reject_with)
        if k == "nat":
            return Verdict("nat", p, step, nat=act.nat, notrack=notrack, connmark=connmark)
        if k == "return":
            if stack:
                chain, cands, i = stack.pop()
            else:
                i = len(cands)  # RETURN in a built-in chain: its policy
            continue
        target = crs.chain(table, act.chain or "")
        if target is None:
            run.record(Step("note", ns, hook, table, chain.name, cr.index, cr.rule, None, p, None,
                            f"jump to undefined chain {act.chain}: treated as no match"))
            continue
        depth += 1
        if depth > 10_000:
            run.record(Step("drop", ns, hook, table, chain.name, note="chain loop"))
            return Verdict("drop", p, None, note="chain loop")
        if k == "jump":
            stack.append((chain, cands, i))
        chain, cands, i = target, target.candidates(p), 0


def _match(run: Any, ns: str, table: str, chain: str, cr: CRule, p: Packet, env: Any) -> Tri:
    unknown: Unknown | None = None
    chances: list[Chance] = []
    for check in cr.checks:
        v = check(p, env)
        if v is True:
            continue
        if v is False:
            return False
        if isinstance(v, Chance):
            chances.append(v)
        elif isinstance(v, Unknown):
            if unknown is None:
                unknown = v
    if unknown is not None:
        loc = cr.rule.location
        ok = run.decide(unknown.reason, (
            Option(True, f"assuming rule {loc} matches: {unknown.reason}"),
            Option(False, f"assuming rule {loc} does not match: {unknown.reason}"),
        ))
        run.note_unknown(unknown)
        if not ok:
            return False
    for ch in chances:
        if ch.probability >= 1.0:
            continue
        if ch.probability <= 0.0:
            return False
        key = f"statistic {ns} {table} {chain} rule {cr.index} {p.src}:{p.sport}>{p.dst}:{p.dport}"
        ok = run.decide(key, (
            Option(True, f"{table} {chain} rule {cr.index} ({ch.text}) matched", ch.probability),
            Option(False, f"{table} {chain} rule {cr.index} ({ch.text}) did not match", 1.0 - ch.probability),
        ), unknown=False)
        if not ok:
            return False
    return True
