"""Comparing natsim's answer for a flow with what the kernel did for the same connection.

The kernel's side is a probe result (tests/lab's ``Probe``, or anything with ``outcome`` and
``seen``): ``connected`` means a server answered, every other outcome (timeout, refused,
unreachable, closed) means the connection did not get through.  natsim's side is a
:class:`~natsim.engine.result.FlowResult`.  They agree when the verdicts match and, for a
reachable flow (TCP/UDP), the server saw the same client address.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from natsim.engine.result import FlowResult

__all__ = ["Disagreement", "KernelProbe", "compare", "kernel_verdict", "natsim_summary"]


class KernelProbe(Protocol):
    outcome: str
    seen: str | None


@dataclass(frozen=True)
class Disagreement:
    flow: str
    kind: str  # "verdict" or "seen-address"
    kernel: str  # "reachable (seen 172.17.0.1)" / "blocked (timeout)"
    natsim: str
    natsim_reason: str

    def __str__(self) -> str:
        return f"{self.flow}: kernel {self.kernel}, natsim {self.natsim} -- {self.natsim_reason}"


def kernel_verdict(probe: KernelProbe) -> str:
    return "reachable" if probe.outcome == "connected" else "blocked"


def natsim_summary(result: FlowResult) -> tuple[str, str | None, str]:
    """(verdict, seen source of the most probable outcome, its reason)."""
    outcomes = result.outcomes
    if not outcomes:
        return result.verdict, None, "no outcome"
    best = max(outcomes, key=lambda o: o.probability)
    seen = str(best.seen_source) if best.seen_source is not None else None
    return result.verdict, seen, best.reason


def compare(flow: Any, probe: KernelProbe, result: FlowResult) -> Disagreement | None:
    """None when natsim and the kernel agree on ``flow``; else what differs."""
    kv = kernel_verdict(probe)
    nv, seen, reason = natsim_summary(result)
    kernel = f"reachable (seen {probe.seen})" if kv == "reachable" else f"blocked ({probe.outcome})"
    mine = f"reachable (seen {seen})" if nv == "reachable" else nv
    if nv != kv:
        return Disagreement(str(flow), "verdict", kernel, mine, reason)
    # An ICMP probe reports who answered the echo, not how the target saw the client: verdict only.
    icmp = getattr(flow, "proto", None) in ("icmp", "icmpv6")
    if kv == "reachable" and not icmp and seen != probe.seen:
        return Disagreement(str(flow), "seen-address", kernel, mine, reason)
    return None
