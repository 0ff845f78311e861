"""The exposure matrix: for each source zone and destination service, what the engine says.

Each cell holds one entry per flow asked (source-address class, host address), each
with its verdict, the NAT done and the deciding rule, all read from the engine's
:class:`~natsim.engine.result.FlowResult`; the cell's verdict is their agreement
(``partial`` when some are reachable and some are not).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from natsim.audit.flows import CellFlow, Service, Zone, cell_flows, is_large
from natsim.engine.flow import Flow
from natsim.engine.result import FlowResult
from natsim.explain.ruletext import RuleRef, step_rule_ref
from natsim.explain.summary import nat_changes
from natsim.gcpause import cyclic_gc_paused
from natsim.model.construct import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class Entry:
    """One flow of a cell and its answer."""

    flow: Flow
    source_class: str | None
    verdict: str  # reachable, blocked, unknown
    nat: tuple[str, ...]  # "DNAT 203.0.113.1:8080 -> 172.17.0.2:80", ...
    deciding: RuleRef | None
    reason: str
    via_proxy: bool = False
    server: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "flow": str(self.flow),
            "source_address": str(self.flow.source_address) if self.flow.source_address else None,
            "source_class": self.source_class,
            "destination": str(self.flow.destination),
            "verdict": self.verdict,
            "nat": list(self.nat),
            "deciding_rule": self.deciding.as_json() if self.deciding else None,
            "reason": self.reason,
            "via_proxy": self.via_proxy,
            "server": self.server,
        }


@fast_init
@dataclass(frozen=True, slots=True)
class Cell:
    zone: Zone
    service: Service
    entries: tuple[Entry, ...]

    @property
    def verdict(self) -> str:
        seen = {e.verdict for e in self.entries}
        if len(seen) == 1:
            return next(iter(seen))
        if "reachable" in seen:
            return "partial"
        return "unknown" if "unknown" in seen else "blocked"

    def summary(self) -> str:
        """One line for a tooltip or a table note: the verdict, NAT and deciding rule of the first entry."""
        if not self.entries:
            return "not asked"
        e = next((x for x in self.entries if x.verdict == "reachable"), self.entries[0])
        parts = [f"{self.zone.label} -> {self.service.key}: {self.verdict}"]
        if e.nat:
            parts.append("; ".join(e.nat))
        if e.via_proxy:
            parts.append("served by docker-proxy")
        if e.deciding is not None:
            parts.append(f"decided by {e.deciding.where()}: {e.deciding.text}")
        if e.reason:
            parts.append(e.reason)
        return " | ".join(parts)


@dataclass(frozen=True)
class Matrix:
    source: str
    zones: tuple[Zone, ...]
    services: tuple[Service, ...]
    cells: dict[tuple[str, str], Cell]
    assumptions: tuple[str, ...] = ()

    def cell(self, zone: str, service: str) -> Cell | None:
        return self.cells.get((zone, service))

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.cells.values():
            out[c.verdict] = out.get(c.verdict, 0) + 1
        return out


def entry_of(cf: CellFlow, result: FlowResult) -> Entry:
    outcome = next((o for o in result.outcomes if o.verdict == result.verdict), None)
    if outcome is None and result.outcomes:
        # the outcomes disagree (the verdict is unknown): cite the one that is not reachable
        outcome = next((o for o in result.outcomes if o.verdict != "reachable"), result.outcomes[0])
    nat: tuple[str, ...] = ()
    deciding = None
    reason = ""
    via_proxy = False
    server = None
    if outcome is not None:
        try:
            nat = tuple(f"{c.what} {c.before} => {c.after}" for c in nat_changes(outcome) if c.direction == "request")
        except Exception:  # the summary helper is the explain engineer's; never let it sink a matrix
            nat = ()
        deciding = step_rule_ref(outcome.deciding)
        reason = outcome.reason if result.verdict != "unknown" else unknown_reason(result)
        via_proxy = outcome.via_proxy
        server = outcome.server
    return Entry(cf.flow, cf.source_class, result.verdict, nat, deciding, reason, via_proxy, server)


def unknown_reason(result: FlowResult) -> str:
    """Why a flow's answer is unknown: the facts natsim lacks, and what happens when they go the bad way."""
    lacking = dict.fromkeys(u.reason for o in result.outcomes for u in o.unknowns)
    parts = [f"depends on what natsim does not know: {'; '.join(lacking)}"] if lacking else []
    for o in result.outcomes:
        if o.verdict == "reachable":
            continue
        # "assuming hairpin off for bridge port X (why it is unknown)": the assumption without its why
        conds = ", ".join(dict.fromkeys(c.split(" (")[0] for c in o.conditions))
        parts.append(f"{o.verdict} {conds}: {o.reason}" if conds else f"{o.verdict}: {o.reason}")
    return "; ".join(parts) or next((o.reason for o in result.outcomes), "")


def build_matrix(
    network, source: str = "", simulate: Callable[[object, Flow], FlowResult] | None = None,
    flows: list[CellFlow] | None = None, assumptions: tuple[str, ...] = (),
) -> Matrix:
    """Simulate every labelled flow of ``network`` and gather the answers into cells."""
    if simulate is None:
        from natsim.engine import simulate as engine_simulate

        simulate = engine_simulate
    flows = cell_flows(network) if flows is None else flows
    zones: dict[str, Zone] = {}
    services: dict[str, Service] = {}
    entries: dict[tuple[str, str], list[Entry]] = {}
    # Thousands of simulations make only acyclic garbage (reference counting frees it); the cyclic
    # collector's passes over the rulesets and the growing matrix would cost more than the walks.
    with cyclic_gc_paused():
        for cf in flows:
            zones.setdefault(cf.zone.key, cf.zone)
            services.setdefault(cf.service.key, cf.service)
            entries.setdefault((cf.zone.key, cf.service.key), []).append(entry_of(cf, simulate(network, cf.flow)))
    cells = {
        key: Cell(zones[key[0]], services[key[1]], tuple(es)) for key, es in entries.items()
    }
    notes = tuple(assumptions)
    if is_large(len(zones), len(services)):
        notes += (f"{len(zones)} zones x {len(services)} services: host and container cells ask about the host's "
                  "first address only",)
    return Matrix(source, tuple(zones.values()), tuple(services.values()), cells, notes)
