"""Facts an answer states about an outcome, read from its steps: the NAT done, the path taken.

Shared by the text and JSON renderers so both say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass

from natsim.engine.packet import Packet, endpoint
from natsim.engine.result import Outcome, Step
from natsim.explain.ruletext import RuleRef, step_rule_ref
from natsim.model.construct import fast_init
from natsim.model.matches import Sctp, Tcp, Udp
from natsim.model.ruleset import Rule
from natsim.model.targets import Dnat, Masquerade, Netmap, Redirect, Snat


_NAT_TARGETS = (Dnat, Snat, Masquerade, Redirect, Netmap)


@fast_init
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
    seen: set[tuple[object, ...]] = set()
    for leg in outcome.legs:
        chosen: Step | None = None  # the NAT rule that matched last: the binding a later "nat" step applies
        for step in leg.steps:
            if step.kind == "rule" and step.matched is True and isinstance(step.rule and step.rule.target, _NAT_TARGETS):
                chosen = step
            before, after = step.packet, step.packet_after
            if before is None or after is None:
                continue
            if (before.src, before.sport, before.dst, before.dport) == (after.src, after.sport, after.dst, after.dport):
                continue
            key = (leg.direction, before.src, before.sport, before.dst, before.dport, after.src, after.sport,
                   after.dst, after.dport)
            if key in seen:
                continue
            seen.add(key)
            cited = step if step.rule is not None else chosen
            chosen = None
            target = cited.rule.target.name if cited is not None and cited.rule and cited.rule.target else None
            out.append(
                NatChange(
                    what=_kind(before, after, leg.direction == "reply", target),
                    before=_pair(before),
                    after=_pair(after),
                    rule=step_rule_ref(cited),
                    direction=leg.direction,
                )
            )
    return out


def _port_rule_for(rule: Rule, port: int | None) -> bool:
    """Whether a rule is about this destination port (``-p tcp --dport PORT``)."""
    if port is None:
        return False
    for m in rule.matches:
        dport = getattr(m, "dport", None)
        if isinstance(m, (Tcp, Udp, Sctp)) and dport is not None and not dport.negated and port in dport.value:
            return True
    return False


def path_notes(outcome: Outcome) -> list[str]:
    """The few steps that explain the path a new connection took, in order.

    Routing decisions on the host (forwarded or delivered locally), a NAT rule written for
    this very port that did *not* apply (why docker-proxy, not DNAT, served it), and
    docker-proxy's own hand-over.  Later packets of a known connection add nothing.
    """
    out: list[str] = []
    for leg in outcome.legs:
        if leg.direction != "request":
            continue
        tracked = next((s.packet.conn for s in leg.steps if s.packet is not None and s.packet.conn is not None), None)
        if tracked is not None and tracked.state != "NEW":
            continue
        for step in leg.steps:
            p = step.packet
            if step.kind == "proxy" and step.note:
                out.append(step.note)
            elif step.kind == "route" and step.namespace == "host" and step.note:
                if out and step.note.startswith(out[-1].removeprefix("route: ")):
                    out.pop()  # "X is local" then "X is local: deliver (INPUT)": keep the fuller one
                out.append(f"route: {step.note}")
            elif (
                step.kind == "rule" and step.matched is False and step.rule is not None and p is not None
                and isinstance(step.rule.target, (Dnat, Redirect)) and _port_rule_for(step.rule, p.dport)
            ):
                ref = step_rule_ref(step)
                if ref is not None:
                    out.append(f"no DNAT: {ref.where()} does not match this packet: {ref.text}")
    return list(dict.fromkeys(out))
