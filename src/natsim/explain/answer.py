"""What `natsim explain` and `natsim trace` answer: one or more simulated flows, with fixes.

A question such as ``--from outside --to host:8066/tcp`` may become several flows
(one per host address that matters), so an :class:`Answer` holds a
:class:`FlowAnswer` per concrete flow.  Renderers read only these values.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from natsim.engine.result import FlowResult, Outcome, Verdict
from natsim.explain.endpoints import Destination, Source
from natsim.model.location import Location

FixPurpose = Literal["open", "close"]


@dataclass(frozen=True, slots=True)
class Fix:
    """A change to the rules, as iptables commands, that was applied to the model and re-simulated.

    ``verdict_after`` is what the simulation answered with the change in place; a fix
    is only offered when it flipped the verdict the way ``purpose`` says.
    """

    purpose: FixPurpose
    commands: tuple[str, ...]
    why: str
    verdict_after: Verdict


@dataclass(frozen=True, slots=True)
class FlowAnswer:
    """One concrete flow (source address, destination address and port) and its simulation."""

    label: str  # "outside (198.51.100.7) -> 203.0.113.10:8066/tcp"
    result: FlowResult
    fixes: tuple[Fix, ...] = ()
    assumptions: tuple[str, ...] = ()  # made while resolving the endpoints

    @property
    def verdict(self) -> Verdict:
        return self.result.verdict

    @property
    def primary(self) -> Outcome | None:
        """The outcome to headline: the most probable one (the first on ties)."""
        outcomes = self.result.outcomes
        return max(outcomes, key=lambda o: o.probability) if outcomes else None


@dataclass(frozen=True, slots=True)
class Answer:
    source: Source
    destination: Destination
    flows: tuple[FlowAnswer, ...]
    assumptions: tuple[str, ...] = ()  # made while loading the inputs (inferred topology ...)
    inputs: tuple[str, ...] = ()  # files read
    notes: tuple[str, ...] = ()  # inputs not given, warnings about them
    #: Where each built-in chain was declared, so a policy verdict cites file:line: (family, table, chain).
    chain_sites: Mapping[tuple[int, str, str], Location] = field(default_factory=dict)

    def chain_site(self, family: int, table: str, chain: str) -> Location | None:
        return self.chain_sites.get((family, table, chain))

    @property
    def verdict(self) -> Verdict:
        """All flows agree, or the answer depends on which address is used: then *unknown*."""
        verdicts = {f.verdict for f in self.flows}
        return next(iter(verdicts)) if len(verdicts) == 1 else "unknown"
