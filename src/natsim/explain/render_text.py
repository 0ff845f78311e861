"""Plain-text answers: `explain` puts the verdict first; `trace` lists every step.

Written for a person reading a terminal: the verdict, the one rule that decided it
(file:line and text), the NAT done, what the server sees, what was assumed, and a
verified change when the answer is not what they want.
"""

from __future__ import annotations

import re

from natsim.engine.packet import Packet, endpoint
from natsim.engine.result import Leg, Outcome, Step
from natsim.engine.tri import Unknown
from natsim.explain.answer import Answer, FlowAnswer
from natsim.explain.ruletext import ChainSite, step_rule_ref
from natsim.explain.summary import nat_changes, path_notes

VERDICT_WORD = {"reachable": "REACHABLE", "blocked": "BLOCKED", "unknown": "UNKNOWN"}

#: What the user's client shows for each way a blocked connection ends: "refused" and
#: "it hangs" are different symptoms, and users report the symptom.
END_WORDS = {
    "refused": "connection refused (a RST or ICMP error reaches it)",
    "timeout": "a timeout (nothing comes back)",
    "unreachable": "host/network unreachable (an ICMP error reaches it)",
    "closed": "it connects, then the connection is closed or reset before any answer",
}


def _outcome_lines(o: Outcome, indent: str, site: ChainSite | None, unknowns: bool = True) -> list[str]:
    lines: list[str] = []
    if o.reason:
        lines.append(f"{indent}why: {o.reason}")
    ref = step_rule_ref(o.deciding, site)
    if ref is not None:
        lines.append(f"{indent}deciding rule: {ref.where()}")
        lines.append(f"{indent}    {ref.text}")
    elif o.deciding is not None and o.deciding.note:
        lines.append(f"{indent}decided by: {o.deciding.note}")
    if o.verdict == "blocked" and o.end in END_WORDS:
        lines.append(f"{indent}the client sees: {END_WORDS[o.end]}")
    lines.extend(f"{indent}path: {note}" for note in path_notes(o))
    for change in nat_changes(o):
        by = f"  by {change.rule.where()}" if change.rule is not None else ""
        lines.append(f"{indent}{change.what} ({change.direction}): {change.before}  =>  {change.after}{by}")
    if o.verdict == "reachable" or o.seen_source is not None:
        server = o.server or "?"
        dest = endpoint(o.destination, o.destination_port)
        proxy = " via docker-proxy" if o.via_proxy else ""
        seen = endpoint(o.seen_source, o.seen_source_port) if o.seen_source is not None else "?"
        lines.append(f"{indent}server: {server} at {dest}{proxy}; it sees the client as {seen}")
    for cond in o.conditions:
        lines.append(f"{indent}if: {cond}")
    if unknowns:
        lines.extend(f"{indent}depends on: {u.reason}" for u in o.unknowns)
    return lines


def _probability(p: float) -> str:
    """Only ``-m statistic`` branches have a probability worth showing."""
    return f" (probability {p:.3g})" if 0.0 < p < 1.0 else ""


def flow_text(fa: FlowAnswer, site: ChainSite | None = None) -> list[str]:
    lines = [f"{fa.label}: {VERDICT_WORD[fa.verdict]}"]
    outcomes = fa.result.outcomes
    if len(outcomes) == 1:
        lines.extend(_outcome_lines(outcomes[0], "  ", site))
    else:
        depends = list(dict.fromkeys(u.reason for o in outcomes for u in o.unknowns))
        lines.extend(f"  depends on: {reason}" for reason in depends)
        lines.append(f"  {len(outcomes)} possible outcomes:")
        for i, o in enumerate(outcomes, 1):
            lines.append(f"  {i}. {VERDICT_WORD[o.verdict]}{_probability(o.probability)}")
            lines.extend(_outcome_lines(o, "     ", site, unknowns=False))
    for note in fa.result.notes:
        lines.append(f"  note: {note}")
    for fix in fa.fixes:
        verb = "to open it" if fix.purpose == "open" else "to close it"
        lines.append(f"  {verb} ({fix.why}; verified: the simulation then answers {fix.verdict_after}):")
        lines.extend(f"    {cmd}" for cmd in fix.commands)
    return lines


def _flow_target(fa: FlowAnswer) -> str:
    """The concrete destination of one flow of an answer ("192.0.2.10:8066/tcp")."""
    return fa.label.split(" -> ", 1)[-1]


def _assumptions(answer: Answer) -> list[str]:
    """Every assumption once, in order of first mention (a big host has thousands: no quadratic scan)."""
    return list(dict.fromkeys(
        (*answer.assumptions, *(x for f in answer.flows for x in (*f.assumptions, *f.result.assumptions)))))


def _grouped(lines: list[str]) -> list[str]:
    """Facts with the same source told once: "network bridge (subnets, icc): inferred from rule ... at f:40".

    The JSON keeps one entry per fact; a person reads the grouped form.
    """
    groups: dict[str, list[str]] = {}
    for line in lines:
        subject, sep, source = line.partition(": ")
        groups.setdefault(source if sep else line, []).append(subject if sep else "")
    out: list[str] = []
    for source, subjects in groups.items():
        if subjects == [""]:
            out.append(source)
            continue
        head = subjects[0]
        rest = [s.removeprefix(head + " ") for s in subjects[1:] if s.startswith(head + " ")]
        if len(rest) == len(subjects) - 1 and rest:
            out.append(f"{head} ({', '.join(rest)}): {source}")
        else:
            out.append(f"{', '.join(subjects)}: {source}")
    return out


#: Above this many assumptions, those about containers and networks the connection never touched are counted,
#: not listed (a host with 10,000 published ports infers 10,000 of them; ``--json`` keeps every one).
MAX_LISTED_ASSUMPTIONS = 30
_SUBJECT = re.compile(r"^(?:container|network) (\S+)")


def _touched(answer: Answer) -> set[str]:
    """Names and addresses the connection met: namespaces, interfaces, bridge ports, packet addresses."""
    out: set[str] = set()
    for fa in answer.flows:
        for o in fa.result.outcomes:
            for leg in o.legs:
                for st in leg.steps:
                    out.add(st.namespace.split(":", 1)[-1])
                    for p in (st.packet, st.packet_after):
                        if p is not None:
                            out.update(str(x) for x in (p.src, p.dst, p.in_iface, p.out_iface, p.physdev_in,
                                                        p.physdev_out) if x is not None)
    return out


def _relevant(assumptions: list[str], answer: Answer) -> tuple[list[str], int]:
    """The assumptions worth reading for this answer, and how many others were left out of the text."""
    if len(assumptions) <= MAX_LISTED_ASSUMPTIONS:
        return assumptions, 0
    touched = _touched(answer)
    keep = [a for a in assumptions if (m := _SUBJECT.match(a)) is None or m.group(1) in touched]
    return keep, len(assumptions) - len(keep)


def _closing(answer: Answer) -> list[str]:
    """What the answer rests on: facts nobody read, then inputs that were not given."""
    lines: list[str] = []
    listed, left_out = _relevant(_assumptions(answer), answer)
    assumptions = _grouped(listed)
    if assumptions:
        lines.append("assumptions:")
        lines.extend(f"  - {a}" for a in assumptions)
        if left_out:
            lines.append(f"  - and {left_out} more about containers and networks this connection does not touch "
                         "(--json lists them all)")
    if answer.notes:
        lines.append("not given / warnings:")
        lines.extend(f"  - {n}" for n in answer.notes)
    return lines


def explain_text(answer: Answer) -> str:
    head = f"{answer.source} -> {answer.destination}: {VERDICT_WORD[answer.verdict]}"
    if len(answer.flows) > 1:
        per = ", ".join(f"{f.verdict} to {_flow_target(f)}" for f in answer.flows)
        if len({f.verdict for f in answer.flows}) > 1:
            head = f"{answer.source} -> {answer.destination}: DEPENDS ON THE ADDRESS ({per})"
        else:
            head += f" ({per})"
    lines = [head, ""]
    for fa in answer.flows:
        lines.extend(flow_text(fa, answer.chain_site))
        lines.append("")
    lines.extend(_closing(answer))
    return "\n".join(lines).rstrip() + "\n"


def _matched(value: bool | Unknown | None) -> str:
    if value is None:
        return ""
    if isinstance(value, Unknown):
        return "UNKNOWN"
    return "match" if value else "no"


def _step_line(n: int, step: Step, site: ChainSite | None) -> list[str]:
    where = " ".join(x for x in (step.hook, step.table and f"{step.table}", step.chain) if x)
    if step.rule_index is not None:
        where += f" #{step.rule_index}"
    head = f"{n:4d}  [{step.namespace}] {step.kind:<9} {where}"
    m = _matched(step.matched)
    if m:
        head += f"  {m}"
    lines = [head.rstrip()]
    ref = step_rule_ref(step, site)
    if ref is not None:
        place = f"{ref.file}:{ref.line}" if ref.file else "(no file)"
        lines.append(f"        {place}  {ref.text}")
    if isinstance(step.matched, Unknown):
        lines.append(f"        unknown: {step.matched.reason}")
    if step.note:
        lines.append(f"        {step.note}")
    if step.packet_after is not None and step.packet is not None and step.packet_after != step.packet:
        lines.append(f"        packet: {step.packet}")
        lines.append(f"         now:   {step.packet_after}")
    return lines


def _leg_title(leg: Leg) -> str:
    """"request", or "request (next packet, ESTABLISHED)" once conntrack knows the connection."""
    tracked = next((s.packet.conn for s in leg.steps if s.packet is not None and s.packet.conn is not None), None)
    if leg.direction == "request" and tracked is not None and tracked.state != "NEW":
        return f"request (next packet, {tracked.state})"
    return leg.direction


def _first_packet(leg: Leg) -> Packet | None:
    return next((s.packet for s in leg.steps if s.packet is not None), None)


def trace_text(answer: Answer) -> str:
    lines: list[str] = []
    for fa in answer.flows:
        for i, o in enumerate(fa.result.outcomes, 1):
            title = f"{fa.label}: {VERDICT_WORD[o.verdict]}"
            if len(fa.result.outcomes) > 1:
                title += f"  (outcome {i} of {len(fa.result.outcomes)}{_probability(o.probability).replace(' (', ', ').rstrip(')')})"
            lines.append(title)
            for cond in o.conditions:
                lines.append(f"  if: {cond}")
            for leg in o.legs:
                delivered = _matched(leg.delivered) if isinstance(leg.delivered, Unknown) else (
                    "delivered" if leg.delivered else "not delivered"
                )
                first = _first_packet(leg)
                lines.append(f"  {_leg_title(leg)}: {first if first is not None else ''}  => {delivered}")
                for n, step in enumerate(leg.steps, 1):
                    lines.extend("  " + x for x in _step_line(n, step, answer.chain_site))
            lines.extend("  " + x for x in _outcome_lines(o, "", answer.chain_site))
            lines.append("")
    lines.extend(_closing(answer))
    return "\n".join(lines).rstrip() + "\n"
