"""Probe every flow of some scenarios through the kernel, on both backends at once.

All hosts of a batch are built first, then every probe is sent to its agent in parallel (one
in flight per namespace), so a scenario costs about one build plus its slowest namespace's
probes. Flows that time out are probed again with a longer timeout before being recorded as
a timeout, so load on the machine cannot turn a slow answer into a false drop.
"""

from __future__ import annotations

from tests.lab import build
from tests.lab.host import probe_batches

from .catalog import Flow, Scenario

BACKENDS = ("nft", "legacy")
FAST, CONFIRM = 0.25, 1.5  # seconds: first attempt, then confirmation of a timeout (past TCP's 1 s SYN retry)


def result_of(res: dict) -> dict:
    """The recorded part of a probe: outcome, who answered, the client address it saw."""
    return {"outcome": res["outcome"], "by": res.get("by"), "seen": res.get("seen")}


def _request(flow: Flow, timeout: float) -> dict:
    req = {"frm": flow.frm, "proto": flow.proto, "dst": flow.dst, "timeout": timeout}
    if flow.port is not None:
        req["port"] = flow.port
    return req


def measure(scenarios: list[Scenario], backends: tuple[str, ...] = BACKENDS,
            prefix: str = "kscen") -> dict[tuple[str, str], list[dict]]:
    """{(scenario name, backend): [result per flow, in the scenario's flow order]}."""
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must be unique in one measurement: {names}")
    hosts = {}
    try:
        for s in scenarios:
            for b in backends:
                hosts[(s.name, b)] = build(s.host(b), prefix=prefix)
        jobs = [((s.name, b), i, flow) for s in scenarios for b in backends for i, flow in enumerate(s.flows)]
        out: dict[tuple[str, str], dict[int, dict]] = {key: {} for key in hosts}
        todo = jobs
        for timeout in (FAST, CONFIRM):
            answers = probe_batches([(hosts[key], _request(flow, timeout)) for key, _, flow in todo])
            for (key, i, _), res in zip(todo, answers):
                out[key][i] = result_of(res)
            todo = [(key, i, flow) for key, i, flow in jobs if out[key][i]["outcome"] == "timeout"]
        return {key: [v[i] for i in sorted(v)] for key, v in out.items()}
    finally:
        for h in hosts.values():
            h.close()
