"""Facts an answer states about an outcome, read from its steps: the NAT done, and where.

Shared by the text and JSON renderers so both say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from natsim.engine.packet import Packet
from natsim.engine.result import Outcome
from natsim.explain.ruletext import RuleRef, step_rule_ref
from natsim.model.values import IPAddress


def endpoint(addr: IPAddress | None, port: int | None) -> str:
    if addr is None:
        return "?"
    if port is None:
        return str(addr)
    return f"[{addr}]:{port}" if addr.version == 6 else f"{addr}:{port}"


@dataclass(frozen=True, slots=True)
class NatChange:
    """One rewrite of the packet's addresses: ``what`` is DNAT, SNAT, un-DNAT ..."""

    what: str
    before: str  # "src -> dst"
    after: str
    rule: RuleRef | None
    direction: str  # request or reply


def _pair(p: Packet) -> str:
    return f"{endpoint(p.src, p.sport)} -> {endpoint(p.dst, p.dport)}"


def _kind(before: Packet, after: Packet, reply: bool, rule_target: str | None) -> str:
    dst = (before.dst, before.dport) != (after.dst, after.dport)
    src = (before.src, before.sport) != (after.src, after.sport)
    if rule_target and not reply:
        return rule_target
    if reply:  # a reply's source is rewritten back from a DNAT, its destination from an SNAT
        return "+".join(n for n, changed in (("un-DNAT", src), ("un-SNAT", dst)) if changed)
    return "+".join(n for n, changed in (("SNAT", src), ("DNAT", dst)) if changed)


def nat_changes(outcome: Outcome) -> list[NatChange]:
    """Every rewrite of an address or port, in order, each told once.

    The engine may show one rewrite twice (the rule that chose it, then the conntrack
    binding applying it); the first, which cites the rule, is kept.
    """
    out: list[NatChange] = []
    seen: set[tuple[str, str, str]] = set()
    for leg in outcome.legs:
        for step in leg.steps:
            before, after = step.packet, step.packet_after
            if before is None or after is None:
                continue
            if (before.src, before.sport, before.dst, before.dport) == (after.src, after.sport, after.dst, after.dport):
                continue
            key = (leg.direction, _pair(before), _pair(after))
            if key in seen:
                continue
            seen.add(key)
            target = step.rule.target.name if step.rule is not None and step.rule.target is not None else None
            out.append(
                NatChange(
                    what=_kind(before, after, leg.direction == "reply", target),
                    before=_pair(before),
                    after=_pair(after),
                    rule=step_rule_ref(step),
                    direction=leg.direction,
                )
            )
    return out
