"""What a simulation returns: the steps a packet took and the verdict they add up to.

Renderers (``natsim.explain``) read only these values, so the engine never formats text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from natsim.engine.packet import Packet
from natsim.engine.tri import Unknown
from natsim.model.construct import fast_init
from natsim.model.ruleset import Rule
from natsim.model.values import IPAddress

Verdict = Literal["reachable", "blocked", "unknown"]

StepKind = Literal[
    "rule",  # a rule was evaluated (matched True/False/Unknown)
    "policy",  # a built-in chain's policy decided
    "route",  # a routing decision (out_iface / local delivery)
    "nat",  # a NAT binding was made or applied (un-NAT on replies)
    "conntrack",  # conntrack lookup / state
    "bridge",  # bridged without netfilter, hairpin decisions
    "proxy",  # docker-proxy accepted and opened its own connection
    "deliver",  # reached a listening socket (or not)
    "drop",  # dropped outside the rules (martian, rp_filter, no route, no listener...)
    "note",  # anything else worth telling
]


@fast_init
@dataclass(frozen=True, slots=True)
class Step:
    kind: StepKind
    namespace: str  # which network namespace ("host", "container:web", "outside")
    hook: str | None = None  # PREROUTING, INPUT, FORWARD, OUTPUT, POSTROUTING
    table: str | None = None
    chain: str | None = None
    rule_index: int | None = None  # 1-based position in the chain, as `iptables -L --line-numbers`
    rule: Rule | None = None
    matched: bool | Unknown | None = None
    packet: Packet | None = None  # before the step
    packet_after: Packet | None = None  # after it, when the step changed the packet
    note: str = ""


@fast_init
@dataclass(frozen=True, slots=True)
class Leg:
    """One direction of the connection: the request, or the reply coming back."""

    direction: Literal["request", "reply"]
    steps: tuple[Step, ...]
    delivered: bool | Unknown  # did this leg reach its destination socket?
    deciding: Step | None = None  # the step that decided delivery or drop


@fast_init
@dataclass(frozen=True, slots=True)
class Outcome:
    """One possible end of a flow.  Several outcomes arise from ``-m statistic`` or unknown branches."""

    verdict: Verdict
    legs: tuple[Leg, ...]
    deciding: Step | None
    seen_source: IPAddress | None = None  # what the server's accept() reports as the peer
    seen_source_port: int | None = None
    destination: IPAddress | None = None  # where the request finally went (after DNAT / proxy)
    destination_port: int | None = None
    server: str | None = None  # namespace of the socket that answered ("container:db", "host")
    via_proxy: bool = False  # served by docker-proxy
    probability: float = 1.0
    conditions: tuple[str, ...] = ()  # e.g. ("statistic branch 1 of 3", "assuming ipset X contains ...")
    unknowns: tuple[Unknown, ...] = ()
    reason: str = ""  # one sentence: why reachable / blocked / unknown
    #: How the client's connect() ends, in the lab's words: connected, refused, timeout,
    #: unreachable (or unknown).  A DROP is a timeout; REJECT and no listener are refused.
    end: str = ""


@fast_init
@dataclass(frozen=True)
class FlowResult:
    """Every outcome of one flow, with the assumptions the topology made to get there."""

    description: str  # "outside -> host:8066/tcp"
    outcomes: tuple[Outcome, ...]
    assumptions: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def verdict(self) -> Verdict:
        verdicts = {o.verdict for o in self.outcomes}
        if len(verdicts) == 1:
            return next(iter(verdicts))
        return "unknown" if "unknown" in verdicts or len(verdicts) > 1 else "blocked"
