"""Semantic diff: the flows whose verdict, destination or seen source address changed.

Both sides are simulated on *one* topology (what either side read, plus what either side's
rules imply), so the only difference between the two simulations is the rules and ipsets:
a changed flow is a change the rules made.  Rulesets that differ in text but agree on every
flow are *equivalent*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from natsim.diff.sides import Side
from natsim.diff.structural import StructuralDiff, rule_identity
from natsim.engine.flow import Flow
from natsim.engine.result import FlowResult, Outcome
from natsim.model.matches import Set as SetMatch
from natsim.model.ruleset import Rule, Ruleset
from natsim.topology.model import Topology

#: One outcome as the diff compares it: verdict, where the request went, who the server saw.
OutcomeKey = tuple[str, str | None, int | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class LabeledFlow:
    """One enumerated flow, with the exposure matrix's zone and service it stands for."""

    zone: str  # "outside:eth0", "host", "container:web"
    service: str  # "published *:8080/tcp", "host:22/tcp"
    source_class: str | None
    flow: Flow

    @property
    def label(self) -> str:
        cls = f" (sources {self.source_class})" if self.source_class else ""
        return f"{self.flow}{cls}"


@dataclass(frozen=True)
class FlowChange:
    flow: LabeledFlow
    old: FlowResult
    new: FlowResult
    changed: tuple[str, ...]  # "verdict", "destination", "seen source"


#: Where a rule was evaluated: (family, table, chain, rule identity); a chain's policy: (family, table, chain, None).
Reached = tuple[int, str, str, object]


@dataclass(frozen=True)
class SemanticDiff:
    flows_checked: int
    changes: tuple[FlowChange, ...] = ()
    notes: tuple[str, ...] = field(default=())
    reached_old: frozenset[Reached] = frozenset()  # rules/policies some compared flow evaluated on A
    reached_new: frozenset[Reached] = frozenset()

    @property
    def equivalent(self) -> bool:
        """No compared flow changed (whether the flows reached every change is :func:`unexercised`)."""
        return not self.changes


def outcome_key(o: Outcome) -> OutcomeKey:
    dest = str(o.destination) if o.destination is not None else None
    seen = str(o.seen_source) if o.seen_source is not None else None
    return (o.verdict, dest, o.destination_port, seen, o.server)


def result_keys(r: FlowResult) -> frozenset[OutcomeKey]:
    return frozenset(outcome_key(o) for o in r.outcomes)


def what_changed(old: FlowResult, new: FlowResult) -> tuple[str, ...]:
    a, b = result_keys(old), result_keys(new)
    if a == b:
        return ()
    if {k[0] for k in a} != {k[0] for k in b}:
        return ("verdict",)  # where it went and who saw what follow from the verdict
    parts = []
    if {(k[1], k[2], k[4]) for k in a} != {(k[1], k[2], k[4]) for k in b}:
        parts.append("destination")
    if {k[3] for k in a} != {k[3] for k in b}:
        parts.append("seen source")
    return tuple(parts) or ("outcomes",)


def shared_topology(old: Side, new: Side, extra: Sequence[Topology] = ()) -> tuple[Topology, list[str]]:
    """What either side read (and --topology files), merged, then completed by inference over both rule sets."""
    from natsim.topology.infer import infer_topology
    from natsim.topology.merge import merge

    read = [t for t in (old.topology, new.topology, *extra) if t is not None]
    topo = merge(*read) if read else Topology()
    topo = infer_topology(old.rulesets, topo)
    topo = infer_topology(new.rulesets, topo)
    return topo, [str(a) for a in topo.assumptions()]


def reached(results: Sequence[FlowResult], family: int) -> set[Reached]:
    """Every rule and chain policy the packets of these results were evaluated against."""
    out: set[Reached] = set()
    for r in results:
        for o in r.outcomes:
            for leg in o.legs:
                for step in leg.steps:
                    if step.table is None or step.chain is None:
                        continue
                    fam = step.packet.family if step.packet is not None else family
                    if step.kind == "rule" and step.rule is not None:
                        out.add((fam, step.table, step.chain, rule_identity(step.rule)))
                    elif step.kind == "policy":
                        out.add((fam, step.table, step.chain, None))
    return out


def enumerate_both(networks: Sequence[object]) -> list[LabeledFlow]:
    """The exposure matrix's flows (natsim.audit.flows) of each side, once each: a port published
    on one side only is asked about on both."""
    from natsim.audit.flows import cell_flows

    out: dict[Flow, LabeledFlow] = {}
    for net in networks:
        for cf in cell_flows(net):
            out.setdefault(cf.flow, LabeledFlow(cf.zone.key, cf.service.key, cf.source_class, cf.flow))
    return list(out.values())


def semantic_diff(old: Side, new: Side, extra_topologies: Sequence[Topology] = ()) -> SemanticDiff:
    """Simulate every enumerated flow on both sides and keep those whose outcome changed."""
    from natsim.engine import Network, simulate

    topo, notes = shared_topology(old, new, extra_topologies)
    families = sorted(set(old.rulesets) & set(new.rulesets))
    net_old = Network(rulesets={f: old.rulesets[f] for f in families}, ipsets=old.ipsets, topology=topo)
    net_new = Network(rulesets={f: new.rulesets[f] for f in families}, ipsets=new.ipsets, topology=topo)
    flows = enumerate_both((net_old, net_new))
    changes: list[FlowChange] = []
    reached_old: set[Reached] = set()
    reached_new: set[Reached] = set()
    for lf in flows:
        a, b = simulate(net_old, lf.flow), simulate(net_new, lf.flow)
        reached_old |= reached((a,), lf.flow.family)
        reached_new |= reached((b,), lf.flow.family)
        changed = what_changed(a, b)
        if changed:
            changes.append(FlowChange(lf, a, b, changed))
    return SemanticDiff(len(flows), tuple(changes), tuple(dict.fromkeys(notes)),
                        frozenset(reached_old), frozenset(reached_new))


def _set_names(rs: Ruleset) -> set[str]:
    return {
        m.match_set.value[0]
        for t in rs.tables for c in t.chains for r in c.rules for m in r.matches
        if isinstance(m, SetMatch) and m.match_set is not None
    }


def unexercised(structural: StructuralDiff, semantic: SemanticDiff, rulesets: Sequence[Ruleset] = ()) -> list[str]:
    """The structural changes no compared flow evaluated: flows agreeing says nothing about them."""
    out: list[str] = []
    for c in structural.rules:
        if c.kind == "counters":
            continue
        p = c.place
        hit_old = c.old is not None and (p.family, p.table, p.chain, rule_identity(c.old)) in semantic.reached_old
        hit_new = c.new is not None and (p.family, p.table, p.chain, rule_identity(c.new)) in semantic.reached_new
        if not (hit_old or hit_new):
            index = c.new_index if c.new_index is not None else c.old_index
            out.append(f"{c.kind} rule {index} of {p}")
    for ch in structural.chains:
        p = ch.place
        if ch.kind == "counters":
            continue
        rules = [(semantic.reached_old, r) for r in (ch.old.rules if ch.old else ())]
        rules += [(semantic.reached_new, r) for r in (ch.new.rules if ch.new else ())]
        hit = any((p.family, p.table, p.chain, rule_identity(r)) in seen for seen, r in rules)
        hit = hit or (p.family, p.table, p.chain, None) in semantic.reached_old | semantic.reached_new
        if not hit:
            out.append(f"chain {ch.kind}: {p}")
    used_sets = {
        m.match_set.value[0]
        for key in semantic.reached_old | semantic.reached_new
        if isinstance(key[3], Rule)
        for m in key[3].matches
        if isinstance(m, SetMatch) and m.match_set is not None
    }
    referenced = {name for rs in rulesets for name in _set_names(rs)}
    # A set no rule names cannot change a flow; one that rules name must have been met by a flow.
    out += [f"ipset {c.name} ({c.kind})" for c in structural.ipsets if c.name in referenced - used_sets]
    for t in structural.tables:
        fam_tab = (t.family, t.table)
        if not any(k[:2] == fam_tab for k in semantic.reached_old | semantic.reached_new):
            out.append(f"table {t.table} ({t.kind}) of IPv{t.family}")
    return out
