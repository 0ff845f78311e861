"""The smallest rule change that flips a verdict, proven by simulating it.

For a *blocked* flow the deciding step names a DROP/REJECT rule or a chain policy;
an ACCEPT for exactly this flow is inserted just before that rule (or appended
before the policy), and the flow is simulated again.  A container that reached
itself through a DNAT and dropped its own address as source gets Docker's hairpin
MASQUERADE instead.  If the next leg is then
stopped elsewhere (an OUTPUT DROP on the reply ...), the search repeats, a few
times at most.  For a *reachable* flow from outside (an unwanted exposure), a DROP
for this flow goes first in the chain where the request is filtered: DOCKER-USER
when the request is forwarded (Docker's place for user rules), else INPUT.

A fix is only returned when the re-simulation gives the wanted verdict, so natsim
never suggests an untested change.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, replace

from natsim.engine.packet import Packet
from natsim.engine.result import FlowResult, Outcome, Step
from natsim.explain.answer import Fix
from natsim.model.matches import Icmp, Icmp6, IcmpType, Match, Sctp, Tcp, Udp
from natsim.model.ruleset import Chain, Rule, Ruleset, Table
from natsim.model.targets import Accept, Drop, Masquerade, Target
from natsim.model.values import Interface, Neg, PortRange
from natsim.render.save import render_rule_spec

#: How many changes an "open" fix may combine: request and reply may each be stopped, twice over
#: when docker-proxy makes its own connection (OUTPUT and INPUT for each direction of each).
MAX_CHANGES = 6

Resimulate = Callable[[Ruleset], FlowResult]

_PORT_MATCH = {"tcp": Tcp, "udp": Udp, "sctp": Sctp}


@dataclass(frozen=True, slots=True)
class RuleEdit:
    """Insert ``rule`` at 1-based ``position`` of ``table``/``chain`` (None: append)."""

    table: str
    chain: str
    position: int | None
    rule: Rule

    def command(self, family: int) -> str:
        """The iptables command a user runs; the rule is rendered by the same code that renders dumps."""
        tool = "ip6tables" if family == 6 else "iptables"
        table = [] if self.table == "filter" else ["-t", self.table]
        where = ["-A", self.chain] if self.position is None else ["-I", self.chain, str(self.position)]
        return " ".join([tool, *table, *where, render_rule_spec(self.rule)])

    def apply(self, ruleset: Ruleset) -> Ruleset:
        table = ruleset.table(self.table)
        if table is None:
            raise KeyError(self.table)
        chains: list[Chain] = []
        for chain in table.chains:
            if chain.name == self.chain:
                rules = list(chain.rules)
                at = len(rules) if self.position is None else self.position - 1
                rules.insert(at, self.rule)
                chain = replace(chain, rules=tuple(rules))
            chains.append(chain)
        new_table = Table(table.name, tuple(chains))
        return replace(ruleset, tables=tuple(new_table if t.name == self.table else t for t in ruleset.tables))


def flow_rule(packet: Packet, target: Target, direction: str) -> Rule:
    """A rule matching exactly this packet's connection (the server's port, not the client's ephemeral one)."""
    plen = 32 if packet.family == 4 else 128
    matches: tuple[Match, ...] = ()
    cls = _PORT_MATCH.get(packet.proto)
    server_port = packet.dport if direction == "request" else packet.sport
    if cls is not None and server_port is not None:
        port = Neg(PortRange(server_port, server_port))
        matches = (cls(dport=port),) if direction == "request" else (cls(sport=port),)
    elif packet.proto in ("icmp", "icmpv6") and packet.icmp_type is not None:
        kind = Neg(IcmpType(packet.icmp_type, None))
        matches = (Icmp(icmp_type=kind),) if packet.proto == "icmp" else (Icmp6(icmp_type=kind),)
    return Rule(
        source=Neg(ipaddress.ip_network(f"{packet.src}/{plen}")),
        destination=Neg(ipaddress.ip_network(f"{packet.dst}/{plen}")),
        in_interface=Neg(Interface(packet.in_iface)) if packet.in_iface else None,
        out_interface=Neg(Interface(packet.out_iface)) if packet.out_iface else None,
        protocol=Neg(packet.proto),
        matches=matches,
        target=target,
    )


def _leg_of(outcome: Outcome, step: Step) -> str:
    for leg in outcome.legs:
        if any(s is step for s in leg.steps):
            return leg.direction
    return "request"


def _open_edit(outcome: Outcome, any_client: bool) -> RuleEdit | None:
    """An ACCEPT just before the rule (or policy) that dropped the flow.

    With ``any_client`` (the user named no client address, natsim picked one) the rule
    leaves the client's address open, so it does not depend on natsim's pick.
    """
    step = outcome.deciding
    if step is None or step.table is None or step.chain is None or step.packet is None:
        return _hairpin_edit(outcome)
    direction = _leg_of(outcome, step)
    rule = flow_rule(step.packet, Accept(), direction)
    if any_client:
        rule = replace(rule, source=None) if direction == "request" else replace(rule, destination=None)
    if step.kind == "rule" and step.rule_index is not None:
        return RuleEdit(step.table, step.chain, step.rule_index, rule)
    if step.kind == "policy":
        return RuleEdit(step.table, step.chain, None, rule)
    return None


def _hairpin_edit(outcome: Outcome) -> RuleEdit | None:
    """A container reaching itself through a DNAT gets its own address as source and drops it.

    Docker's answer (userland-proxy=false) is a MASQUERADE for exactly that pair and port, so
    the reply comes from the host; it goes first in nat POSTROUTING.
    """
    step = outcome.deciding
    p = step.packet if step is not None else None
    if step is None or step.kind != "drop" or p is None or p.src != p.dst:
        return None
    rule = replace(flow_rule(p, Masquerade(), "request"), in_interface=None, out_interface=None)
    return RuleEdit("nat", "POSTROUTING", 1, rule)


def _close_edit(outcome: Outcome, ruleset: Ruleset) -> RuleEdit | None:
    """A DROP first in DOCKER-USER (forwarded requests) or INPUT (served on the host, e.g. by docker-proxy)."""
    for leg in outcome.legs:
        if leg.direction != "request":
            continue
        for step in leg.steps:
            if step.table != "filter" or step.hook not in ("FORWARD", "INPUT") or step.packet is None:
                continue
            chain = step.hook
            if step.hook == "FORWARD" and ruleset.chain("filter", "DOCKER-USER") is not None:
                chain = "DOCKER-USER"
            # Any client on that interface, not just this one: an exposure is about everyone.
            rule = replace(flow_rule(step.packet, Drop(), "request"), source=None)
            return RuleEdit("filter", chain, 1, rule)
    return None


def _client_leg(outcome: Outcome) -> bool:
    """Whether the deciding step is on a packet of the client's own connection (not docker-proxy's)."""
    step = outcome.deciding
    first = next((s.packet for leg in outcome.legs for s in leg.steps if s.packet is not None), None)
    if step is None or step.packet is None or first is None:
        return False
    return first.src in (step.packet.src, step.packet.dst)


def _primary(result: FlowResult) -> Outcome | None:
    outcomes = result.outcomes
    return max(outcomes, key=lambda o: o.probability) if outcomes else None


def suggest_open(result: FlowResult, ruleset: Ruleset, resimulate: Resimulate, any_client: bool = False) -> Fix | None:
    """Accept rules that make a blocked flow reachable, verified; None when no rule change does.

    Only the client's own legs are loosened by ``any_client``: a proxy's second
    connection has well-defined addresses on both ends.
    """
    edits: list[RuleEdit] = []
    current, rules = result, ruleset
    for _ in range(MAX_CHANGES):
        outcome = _primary(current)
        if outcome is None or outcome.verdict != "blocked":
            break
        edit = _open_edit(outcome, any_client and _client_leg(outcome))
        if edit is None or rules.table(edit.table) is None or edit in edits:
            return None  # no rule decided it, or the same change did not help
        edits.append(edit)
        rules = edit.apply(rules)
        current = resimulate(rules)
    if not edits or current.verdict != "reachable":
        return None
    why = "accept this connection where it was dropped"
    return Fix("open", tuple(e.command(ruleset.family) for e in edits), why, current.verdict)


def suggest_close(result: FlowResult, ruleset: Ruleset, resimulate: Resimulate) -> Fix | None:
    """A DROP that makes a reachable flow blocked, verified; None when it would not."""
    outcome = _primary(result)
    if outcome is None or outcome.verdict != "reachable":
        return None
    edit = _close_edit(outcome, ruleset)
    if edit is None or ruleset.table("filter") is None or ruleset.chain("filter", edit.chain) is None:
        return None
    after = resimulate(edit.apply(ruleset))
    if after.verdict != "blocked":
        return None
    where = "DOCKER-USER, the chain Docker leaves to users," if edit.chain == "DOCKER-USER" else edit.chain
    why = f"drop it first in {where} if this exposure is unwanted"
    return Fix("close", (edit.command(ruleset.family),), why, after.verdict)
