"""A diff's result in words (terminal) and as JSON (machines); the exit status it stands for."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from natsim.diff.semantic import FlowChange, SemanticDiff, unexercised
from natsim.diff.structural import ChainChange, RuleChange, StructuralDiff
from natsim.engine.result import FlowResult, Outcome, Step
from natsim.model.location import UNKNOWN_LOCATION
from natsim.model.ruleset import Rule, Ruleset
from natsim.render.save import render_rule

_SIGN = {"added": "+", "removed": "-", "changed": "~", "moved": ">", "counters": "#"}


@dataclass(frozen=True)
class DiffReport:
    old_label: str
    new_label: str
    structural: StructuralDiff
    semantic: SemanticDiff | None  # None: not run (--structural, or the engine is unavailable)
    notes: tuple[str, ...] = field(default=())
    rulesets: tuple[Ruleset, ...] = field(default=(), compare=False)  # both sides' (to tell which sets rules use)

    @property
    def equal(self) -> bool:
        return self.structural.equal

    @property
    def unexercised(self) -> list[str]:
        """Structural changes that no compared flow evaluated (so agreeing flows cannot vouch for them)."""
        if self.semantic is None:
            return []
        return unexercised(self.structural, self.semantic, self.rulesets)

    @property
    def equivalent(self) -> bool:
        """Every compared flow agrees and each change was evaluated by one of them (decision 0092)."""
        if self.semantic is None:
            return self.structural.equal
        return self.semantic.equivalent and not self.unexercised

    @property
    def exit_status(self) -> int:
        """Like diff(1): 0 equal or equivalent, 1 different (decision 0092)."""
        return 0 if self.equal or self.equivalent else 1


def _where(rule: Rule | None) -> str:
    if rule is None or rule.location == UNKNOWN_LOCATION:
        return ""
    return f"{rule.location.file}:{rule.location.line}"


def _rule(rule: Rule | None, chain: str) -> str:
    return render_rule(rule, chain, counters=False) if rule is not None else ""


def _rule_lines(c: RuleChange) -> list[str]:
    chain = c.place.chain
    sign = _SIGN[c.kind]
    if c.kind == "added":
        return [f"  {sign} {c.new_index}: {_rule(c.new, chain)}   [{_where(c.new)}]"]
    if c.kind == "removed":
        return [f"  {sign} {c.old_index}: {_rule(c.old, chain)}   [{_where(c.old)}]"]
    if c.kind == "moved":
        return [f"  {sign} moved {c.old_index} -> {c.new_index}: {_rule(c.new, chain)}"]
    if c.kind == "counters":
        assert c.old is not None and c.new is not None
        return [f"  {sign} counters {c.old.counters} -> {c.new.counters} at {c.new_index}: {_rule(c.new, chain)}"]
    return [
        f"  {sign} changed {c.old_index} -> {c.new_index} ({', '.join(c.differs) or 'options'} differ):",
        f"      was {_rule(c.old, chain)}   [{_where(c.old)}]",
        f"      now {_rule(c.new, chain)}   [{_where(c.new)}]",
    ]


def _chain_line(c: ChainChange) -> str:
    if c.kind == "policy":
        assert c.old is not None and c.new is not None
        return f"{c.place}: policy {c.old.policy} -> {c.new.policy}"
    if c.kind == "counters":
        assert c.old is not None and c.new is not None
        return f"{c.place}: policy counters {c.old.counters} -> {c.new.counters}"
    chain = c.new if c.kind == "added" else c.old
    n = len(chain.rules) if chain is not None else 0
    return f"{c.place}: chain {c.kind} ({n} rule{'s' if n != 1 else ''})"


def _summary(s: StructuralDiff) -> str:
    if s.equal:
        return "structural: no difference"
    counts = [f"{s.count(k)} {k}" for k in ("added", "removed", "changed", "moved", "counters") if s.count(k)]
    if s.chains:
        counts.append(f"{len(s.chains)} chain change{'s' if len(s.chains) != 1 else ''}")
    if s.tables:
        counts.append(f"{len(s.tables)} table change{'s' if len(s.tables) != 1 else ''}")
    if s.ipsets:
        counts.append(f"{len(s.ipsets)} ipset change{'s' if len(s.ipsets) != 1 else ''}")
    return "structural: " + ", ".join(counts)


def describe_step(step: Step | None) -> str:
    """The deciding step as ``file:line (table chain rule N) -A ...`` or what decided outside the rules."""
    from natsim.explain.ruletext import step_rule_ref

    if step is None:
        return "no deciding step"
    ref = step_rule_ref(step)
    if ref is not None:
        return f"{ref.where()}: {ref.text}"
    return f"{step.kind}: {step.note}" if step.note else step.kind


def _decider(o: Outcome) -> str:
    if o.deciding is None:
        if o.via_proxy:
            return "docker-proxy (no rule decided: the host's proxy answered)"
        return o.reason or "no deciding step"
    return describe_step(o.deciding)


def _result_line(tag: str, r: FlowResult) -> list[str]:
    lines = []
    for o in r.outcomes:
        dest = f" to {o.destination}:{o.destination_port}" if o.destination is not None else ""
        seen = f", server sees {o.seen_source}" if o.seen_source is not None else ""
        lines.append(f"    {tag}: {o.verdict}{dest}{seen}; deciding: {_decider(o)}")
    return lines


def _flow_lines(c: FlowChange) -> list[str]:
    out = [f"  {c.flow.label}: {c.old.verdict} -> {c.new.verdict} ({', '.join(c.changed)} changed)"]
    return out + _result_line("A", c.old) + _result_line("B", c.new)


def render_text(r: DiffReport) -> str:
    lines = [f"A: {r.old_label}", f"B: {r.new_label}", _summary(r.structural)]
    for t in r.structural.tables:
        fam = "ip6tables" if t.family == 6 else "iptables"
        lines.append(f"  {fam} table {t.table} {t.kind} ({t.rules} rules)")
    for c in r.structural.chains:
        lines.append(f"  {_chain_line(c)}")
    for ch in r.structural.ipsets:
        what = [f"+{e}" for e in ch.added[:5]] + [f"-{e}" for e in ch.removed[:5]]
        more = len(ch.added) + len(ch.removed) - len(what)
        detail = (" (type/options changed)" if ch.header_changed else "") + (f": {' '.join(what)}" if what else "")
        lines.append(f"  ipset {ch.name} {ch.kind}{detail}" + (f" ... {more} more" if more > 0 else ""))
    place = None
    for rc in r.structural.rules:
        if rc.place != place:
            place = rc.place
            lines.append(f"  {place}")
        lines += ["  " + line for line in _rule_lines(rc)]
    if r.semantic is not None:
        s = r.semantic
        if s.equivalent:
            lines.append(f"semantic: all {s.flows_checked} flows compared agree")
            missed = r.unexercised
            if missed:
                lines.append(f"  but no compared flow reached {len(missed)} of the changes, so they may still matter:")
                lines += [f"    {m}" for m in missed]
        else:
            lines.append(f"semantic: {len(s.changes)} of {s.flows_checked} flows changed")
            for c in s.changes:
                lines += _flow_lines(c)
    if r.equal:
        verdict = "equal"
    elif r.semantic is not None and r.equivalent:
        verdict = "equivalent (the rules differ in text, every flow compared agrees)"
    elif r.semantic is not None and r.semantic.equivalent:
        verdict = "different (not shown equivalent: some changes were not reached by any compared flow)"
    else:
        verdict = "different"
    lines.append(f"result: {verdict}")
    notes = list(r.notes)
    if r.semantic is not None and r.semantic.notes:
        notes.append(f"{len(r.semantic.notes)} topology facts were inferred or assumed for the flows "
                     "(listed with --json, or by natsim explain)")
    if notes:
        lines.append("notes:")
        lines += [f"  - {n}" for n in dict.fromkeys(notes)]
    return "\n".join(lines) + "\n"


def _rule_json(rule: Rule | None, chain: str) -> dict[str, Any] | None:
    if rule is None:
        return None
    where = rule.location if rule.location != UNKNOWN_LOCATION else None
    return {
        "text": _rule(rule, chain),
        "file": where.file if where else None,
        "line": where.line if where else None,
        "counters": [rule.counters.packets, rule.counters.bytes] if rule.counters is not None else None,
    }


def _outcomes_json(r: FlowResult) -> list[dict[str, Any]]:
    return [
        {
            "verdict": o.verdict,
            "destination": str(o.destination) if o.destination is not None else None,
            "destination_port": o.destination_port,
            "seen_source": str(o.seen_source) if o.seen_source is not None else None,
            "server": o.server,
            "deciding": _decider(o),
            "reason": o.reason,
        }
        for o in r.outcomes
    ]


def render_json(r: DiffReport) -> str:
    s = r.structural
    out: dict[str, Any] = {
        "a": r.old_label,
        "b": r.new_label,
        "equal": r.equal,
        "equivalent": r.equivalent,
        "exit_status": r.exit_status,
        "structural": {
            "tables": [{"kind": t.kind, "family": t.family, "table": t.table, "rules": t.rules} for t in s.tables],
            "chains": [
                {"kind": c.kind, "family": c.place.family, "table": c.place.table, "chain": c.place.chain,
                 "old_policy": c.old.policy if c.old else None, "new_policy": c.new.policy if c.new else None}
                for c in s.chains
            ],
            "ipsets": [{"kind": c.kind, "name": c.name, "added": list(c.added), "removed": list(c.removed),
                        "header_changed": c.header_changed} for c in s.ipsets],
            "rules": [
                {"kind": c.kind, "family": c.place.family, "table": c.place.table, "chain": c.place.chain,
                 "old_index": c.old_index, "new_index": c.new_index, "similarity": c.similarity,
                 "differs": list(c.differs),
                 "old": _rule_json(c.old, c.place.chain), "new": _rule_json(c.new, c.place.chain)}
                for c in s.rules
            ],
        },
        "semantic": None,
        "notes": list(r.notes),
    }
    if r.semantic is not None:
        out["semantic"] = {
            "flows_checked": r.semantic.flows_checked,
            "changes": [
                {"flow": c.flow.label, "zone": c.flow.zone, "service": c.flow.service,
                 "source_class": c.flow.source_class,
                 "changed": list(c.changed), "a": _outcomes_json(c.old), "b": _outcomes_json(c.new)}
                for c in r.semantic.changes
            ],
            "unexercised": r.unexercised,
            "notes": list(r.semantic.notes),
        }
    return json.dumps(out, indent=2) + "\n"
