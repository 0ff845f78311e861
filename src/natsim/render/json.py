"""Model -> JSON-ready dicts: every rule with its location, canonical text and typed parts.

Values become strings in the syntax iptables uses (``10.0.0.0/8``, ``1000:2000``), a
negated value becomes ``{"not": VALUE}``; matches and targets carry ``"module"`` /
``"target"`` and their option fields by name.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
from typing import Any

from natsim.model.matches import IcmpType, Match, TcpFlags, UnknownMatch
from natsim.model.ruleset import Chain, Rule, Ruleset, Table
from natsim.model.targets import Jump, Target, UnknownTarget
from natsim.model.values import AddressRange, Interface, MarkMask, NatRange, Neg, PortRange
from natsim.render.save import network, render_rule_spec

_STRINGY = (PortRange, AddressRange, Interface, MarkMask, NatRange, ipaddress.IPv4Address, ipaddress.IPv6Address)


def value(v: Any) -> Any:
    """One model value as JSON data."""
    if isinstance(v, Neg):
        return {"not": value(v.value)} if v.negated else value(v.value)
    if isinstance(v, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return network(v)
    if isinstance(v, _STRINGY):
        return str(v)
    if isinstance(v, frozenset):
        return sorted(v)
    if isinstance(v, tuple):
        return [value(x) for x in v]
    if isinstance(v, TcpFlags):
        return {"mask": sorted(v.mask), "comp": sorted(v.comp)}
    if isinstance(v, IcmpType):
        return {"type": v.type_, "code": v.code}
    return v


def _fields(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        f.name: value(getattr(obj, f.name))
        for f in dataclasses.fields(obj)
        if f.name not in skip and getattr(obj, f.name) is not None
    }


def match(m: Match) -> dict[str, Any]:
    if isinstance(m, UnknownMatch):
        return {"module": m.name, "unknown": True, "args": list(m.args)}
    return {"module": m.module, **_fields(m)}


def target(t: Target) -> dict[str, Any]:
    if isinstance(t, Jump):
        return {"target": t.chain, "jump": "goto" if t.goto else "jump"}
    if isinstance(t, UnknownTarget):
        return {"target": t.target_name, "unknown": True, "args": list(t.args)}
    return {"target": t.name, **_fields(t)}


def rule(r: Rule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "location": f"{r.location.file}:{r.location.line}",
        "text": render_rule_spec(r),
    }
    out.update(_fields(r, skip=("matches", "target", "counters", "location", "text")))
    if r.matches:
        out["matches"] = [match(m) for m in r.matches]
    if r.target is not None:
        out["target"] = target(r.target)
    if r.counters is not None:
        out["counters"] = {"packets": r.counters.packets, "bytes": r.counters.bytes}
    return out


def chain(c: Chain) -> dict[str, Any]:
    out: dict[str, Any] = {"name": c.name, "policy": c.policy}
    if c.counters is not None:
        out["counters"] = {"packets": c.counters.packets, "bytes": c.counters.bytes}
    out["rules"] = [rule(r) for r in c.rules]
    return out


def table(t: Table) -> dict[str, Any]:
    return {"name": t.name, "chains": [chain(c) for c in t.chains]}


def ruleset(rs: Ruleset) -> dict[str, Any]:
    return {"source": rs.source, "family": rs.family, "tables": [table(t) for t in rs.tables]}


def dumps(rs: Ruleset, indent: int | None = 2) -> str:
    return json.dumps(ruleset(rs), indent=indent)
