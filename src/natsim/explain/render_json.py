"""`--json` for explain and trace: plain data, stable keys, every address as a string.

The top level describes the headline flow (the first one, e.g. the host's primary
address) so that a script can read ``verdict`` directly; ``flows`` holds every flow
when a destination such as ``host`` stands for several addresses.
"""

from __future__ import annotations

import json
from typing import Any

from natsim.engine.packet import Conn, Packet
from natsim.engine.result import Leg, Outcome, Step
from natsim.engine.tri import Unknown
from natsim.explain.answer import Answer, Fix, FlowAnswer
from natsim.explain.ruletext import ChainSite, step_rule_ref
from natsim.explain.summary import nat_changes, path_notes


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _tri(value: object) -> object:
    if isinstance(value, Unknown):
        return {"unknown": value.reason}
    return value


def packet_json(p: Packet | None) -> dict[str, Any] | None:
    if p is None:
        return None
    out: dict[str, Any] = {
        "family": p.family,
        "proto": p.proto,
        "src": _str(p.src),
        "dst": _str(p.dst),
        "sport": p.sport,
        "dport": p.dport,
        "in": p.in_iface,
        "out": p.out_iface,
    }
    if p.icmp_type is not None:
        out["icmp_type"] = p.icmp_type
        out["icmp_code"] = p.icmp_code
    if p.mark:
        out["mark"] = p.mark
    if p.physdev_in or p.physdev_out or p.bridged:
        out["physdev_in"], out["physdev_out"], out["bridged"] = p.physdev_in, p.physdev_out, p.bridged
    if p.conn is not None:
        out["ct"] = _conn_json(p.conn)
    return out


def _conn_json(c: Conn) -> dict[str, Any]:
    return {"state": c.state, "status": sorted(c.status), "reply_direction": c.is_reply}


def step_json(step: Step, direction: str | None = None, site: ChainSite | None = None) -> dict[str, Any]:
    ref = step_rule_ref(step, site)
    out: dict[str, Any] = {
        "kind": step.kind,
        "namespace": step.namespace,
        "hook": step.hook,
        "table": step.table,
        "chain": step.chain,
        "rule_number": step.rule_index,
        "matched": _tri(step.matched),
        "rule": ref.as_json() if ref is not None else None,
        "packet": packet_json(step.packet),
        "packet_after": packet_json(step.packet_after),
        "note": step.note or None,
    }
    if direction is not None:
        out["direction"] = direction
    return out


def leg_json(leg: Leg, site: ChainSite | None = None) -> dict[str, Any]:
    return {
        "direction": leg.direction,
        "delivered": _tri(leg.delivered),
        "deciding_step": step_json(leg.deciding, site=site) if leg.deciding is not None else None,
        "steps": [step_json(s, site=site) for s in leg.steps],
    }


def _deciding(o: Outcome, site: ChainSite | None) -> dict[str, Any] | None:
    ref = step_rule_ref(o.deciding, site)
    return ref.as_json() if ref is not None else None


def outcome_json(o: Outcome, with_steps: bool = True, site: ChainSite | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "verdict": o.verdict,
        "probability": o.probability,
        "conditions": list(o.conditions),
        "depends_on": [u.reason for u in o.unknowns],
        "reason": o.reason,
        "end": o.end or None,
        "seen_source": _str(o.seen_source),
        "seen_source_port": o.seen_source_port,
        "destination": _str(o.destination),
        "destination_port": o.destination_port,
        "server": o.server,
        "via_proxy": o.via_proxy,
        "deciding_rule": _deciding(o, site),
        "path": path_notes(o),
        "nat": [
            {
                "what": c.what,
                "before": c.before,
                "after": c.after,
                "rule": c.rule.as_json() if c.rule is not None else None,
                "direction": c.direction,
            }
            for c in nat_changes(o)
        ],
    }
    if with_steps:
        out["legs"] = [leg_json(leg, site) for leg in o.legs]
    return out


def fix_json(f: Fix) -> dict[str, Any]:
    return {"purpose": f.purpose, "commands": list(f.commands), "why": f.why, "verdict_after": f.verdict_after}


def flow_json(fa: FlowAnswer, site: ChainSite | None = None) -> dict[str, Any]:
    primary = fa.primary
    head = outcome_json(primary, with_steps=False, site=site) if primary is not None else {}
    for key in ("seen_source", "seen_source_port", "destination", "destination_port", "server"):
        values = {getattr(o, key) for o in fa.result.outcomes if getattr(o, key) is not None}
        if len(values) > 1:  # the outcomes disagree: no single answer at the top
            head[key] = None
    steps = (
        [{**step_json(s, leg.direction, site), "leg": i} for i, leg in enumerate(primary.legs) for s in leg.steps]
        if primary is not None
        else []
    )
    ends = {o.end for o in fa.result.outcomes}
    return {
        "flow": fa.label,
        "verdict": fa.verdict,
        "end": (next(iter(ends)) or None) if len(ends) == 1 else None,  # how connect() ends, when all agree
        "seen_source": head.get("seen_source"),
        "seen_source_port": head.get("seen_source_port"),
        "destination": head.get("destination"),
        "destination_port": head.get("destination_port"),
        "server": head.get("server"),
        "via_proxy": head.get("via_proxy", False),
        "deciding_rule": head.get("deciding_rule"),
        "reason": head.get("reason", ""),
        "path": head.get("path", []),
        "depends_on": list(dict.fromkeys(u.reason for o in fa.result.outcomes for u in o.unknowns)),
        "nat": head.get("nat", []),
        "assumptions": list(fa.assumptions) + list(fa.result.assumptions),
        "notes": list(fa.result.notes),
        "fixes": [fix_json(f) for f in fa.fixes],
        "outcomes": [outcome_json(o, site=site) for o in fa.result.outcomes],
        "steps": steps,
    }


def answer_json(answer: Answer) -> dict[str, Any]:
    flows = [flow_json(f, answer.chain_site) for f in answer.flows]
    head = dict(flows[0]) if flows else {"verdict": "unknown", "steps": []}
    assumptions = list(answer.assumptions)
    for f in flows:
        assumptions.extend(a for a in f["assumptions"] if a not in assumptions)
    ends = {f["end"] for f in flows}
    head.update(
        {
            "query": {"from": str(answer.source), "to": str(answer.destination)},
            "verdict": answer.verdict,
            "end": next(iter(ends)) if len(ends) == 1 else None,
            "assumptions": assumptions,
            "notes": list(dict.fromkeys([*answer.notes, *(n for f in flows for n in f["notes"])])),
            "inputs": list(answer.inputs),
            "flows": flows,
        }
    )
    return head


def dumps(answer: Answer) -> str:
    return json.dumps(answer_json(answer), indent=2, sort_keys=False)
