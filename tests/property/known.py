"""Kernel disagreements found by the differential suite that are not fixed yet.

Each entry is a narrow predicate over (host, flow, disagreement) with the regression fixture
that records it; the differential suite skips exactly these, so it stays green while they are
open and catches every new one.  When the engine is fixed, the regression test's strict xfail
turns into a failure: then delete the entry here and the xfail there.
"""

from __future__ import annotations

from collections.abc import Callable

from natsim.testing.docker import DockerHost
from natsim.testing.topology import FlowSpec
from natsim.testing.verdicts import Disagreement

Predicate = Callable[[DockerHost, FlowSpec, Disagreement], bool]

#: fixture name -> predicate.  Empty: diff-0002 (CT --notrack skips DNAT) was fixed in the engine.
KNOWN: dict[str, Predicate] = {}


def known_disagreement(host: DockerHost, flow: FlowSpec, d: Disagreement) -> str | None:
    """The regression fixture that records this disagreement, or None when it is new."""
    for name, predicate in KNOWN.items():
        if predicate(host, flow, d):
            return name
    return None
