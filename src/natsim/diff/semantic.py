"""Semantic diff: the flows whose verdict, destination or seen source address changed.

Both sides are simulated on *one* topology (what either side read, plus what either side's
rules imply), so the only difference between the two simulations is the rules and ipsets:
a changed flow is a change the rules made.  Rulesets that differ in text but agree on every
flow are *equivalent*.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from natsim.diff.flows import LabeledFlow, questions, resolve_questions
from natsim.diff.sides import Side
from natsim.engine.result import FlowResult, Outcome
from natsim.topology.model import Topology

#: One outcome as the diff compares it: verdict, where the request went, who the server saw.
OutcomeKey = tuple[str, str | None, int | None, str | None, str | None]


@dataclass(frozen=True)
class FlowChange:
    flow: LabeledFlow
    old: FlowResult
    new: FlowResult
    changed: tuple[str, ...]  # "verdict", "destination", "seen source"


@dataclass(frozen=True)
class SemanticDiff:
    flows_checked: int
    changes: tuple[FlowChange, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def equivalent(self) -> bool:
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
    parts = []
    if {k[0] for k in a} != {k[0] for k in b}:
        parts.append("verdict")
    if {(k[1], k[2], k[4]) for k in a} != {(k[1], k[2], k[4]) for k in b}:
        parts.append("destination")
    if {k[3] for k in a} != {k[3] for k in b}:
        parts.append("seen source")
    return tuple(parts) or ("outcomes",)


def shared_topology(old: Side, new: Side, extra: Sequence[Topology] = ()) -> tuple[Topology, list[str]]:
    """What either side read (and --topology files), merged, then completed by inference over both rule sets."""
    from natsim.explain.inputs import infer_topology, merge_topologies

    read = [t for t in (old.topology, new.topology, *extra) if t is not None]
    topo = merge_topologies(read) if read else Topology()
    topo = infer_topology(old.rulesets, topo)
    topo = infer_topology(new.rulesets, topo)
    return topo, [str(a) for a in topo.assumptions()]


def semantic_diff(old: Side, new: Side, extra_topologies: Sequence[Topology] = ()) -> SemanticDiff:
    """Simulate every enumerated flow on both sides and keep those whose outcome changed."""
    from natsim.engine import Network, simulate

    topo, notes = shared_topology(old, new, extra_topologies)
    families = sorted(set(old.rulesets) & set(new.rulesets))
    for fam in sorted(set(old.rulesets) ^ set(new.rulesets)):
        notes.append(f"IPv{fam} rules are on one side only: IPv{fam} flows were not compared")
    rulesets = [old.rulesets[f] for f in families] + [new.rulesets[f] for f in families]
    qs, q_notes = questions(rulesets, topo)
    flows, r_notes = resolve_questions(qs, topo)
    notes += q_notes + r_notes
    flows = [f for f in flows if f.flow.family in families]
    net_old = Network(rulesets={f: old.rulesets[f] for f in families}, ipsets=old.ipsets, topology=topo)
    net_new = Network(rulesets={f: new.rulesets[f] for f in families}, ipsets=new.ipsets, topology=topo)
    changes: list[FlowChange] = []
    seen: set[object] = set()
    for lf in flows:
        if lf.flow in seen:
            continue
        seen.add(lf.flow)
        a, b = simulate(net_old, lf.flow), simulate(net_new, lf.flow)
        changed = what_changed(a, b)
        if changed:
            changes.append(FlowChange(lf, a, b, changed))
    return SemanticDiff(len(seen), tuple(changes), tuple(dict.fromkeys(notes)))
