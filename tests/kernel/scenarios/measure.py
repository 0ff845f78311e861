"""Probe every flow of some scenarios through the kernel, on both backends at once.

All hosts of a batch are built first, then every probe is sent to its agent in parallel (one
in flight per namespace), so a scenario costs about one build plus its slowest namespace's
probes. Flows that time out are probed again with a longer timeout before being recorded as
a timeout, so load on the machine cannot turn a slow answer into a false drop.
"""

from __future__ import annotations

from tests.lab import build
from tests.lab.netns import parallel

from .catalog import Flow, Scenario

BACKENDS = ("nft", "legacy")
FAST, CONFIRM = 0.25, 1.0  # seconds: first attempt, then confirmation of a timeout


def result_of(res: dict) -> dict:
    """The recorded part of a probe: outcome, who answered, the client address it saw."""
    return {"outcome": res["outcome"], "by": res.get("by"), "seen": res.get("seen")}


def _request(flow: Flow, timeout: float) -> dict:
    req = {"proto": flow.proto, "dst": flow.dst, "timeout": timeout}
    if flow.port is not None:
        req["port"] = flow.port
    return req


def measure(scenarios: list[Scenario], backends: tuple[str, ...] = BACKENDS,
            prefix: str = "kscen") -> dict[tuple[str, str], list[dict]]:
    """{(scenario name, backend): [result per flow, in the scenario's flow order]}."""
    hosts = {}
    try:
        for s in scenarios:
            for b in backends:
                hosts[(s.name, b)] = build(s.host(b), prefix=prefix)
        jobs = [(key, i, flow) for s in scenarios for b in backends
                for key in [(s.name, b)] for i, flow in enumerate(s.flows)]
        out: dict[tuple[str, str], list[dict]] = {key: [{}] * len(next(x for x in scenarios if x.name == key[0]).flows)
                                                 for key in hosts}
        for timeout, todo in ((FAST, jobs), (CONFIRM, None)):
            if todo is None:
                todo = [(key, i, flow) for key, i, flow in jobs if out[key][i]["outcome"] == "timeout"]
            calls = [(hosts[key].agents[flow.frm], "probe", _request(flow, timeout)) for key, _, flow in todo]
            for (key, i, _), res in zip(todo, parallel(calls)):
                out[key][i] = result_of(res)
        return out
    finally:
        for h in hosts.values():
            h.close()
