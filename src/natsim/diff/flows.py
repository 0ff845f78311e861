"""Which flows a semantic diff compares: the questions a reviewer would ask of a Docker host.

Stopgap until the audit's exposure-matrix enumeration lands (see docs/notes/requests.md): the
questions are written in the explain layer's endpoint words and resolved by it, so "host" means
the same addresses here as in ``natsim explain``.  The services come from the audit's port
forward discovery (``natsim.audit.services.forwards``) over *both* sides' rules, so a port
published on one side only is asked about on both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from natsim.engine.flow import Flow
from natsim.errors import UsageError
from natsim.model.ruleset import Ruleset
from natsim.topology.model import Topology

#: Bound on the questions asked, so a diff of a 2,000-port host stays quick.
MAX_QUESTIONS = 5000


@dataclass(frozen=True, slots=True)
class Question:
    zone: str  # "outside", "host", "container:web"
    service: str  # "host:8080/tcp", "container:db:5432/tcp"


@dataclass(frozen=True, slots=True)
class LabeledFlow:
    question: Question
    label: str  # the resolved flow in words: "outside -> 192.0.2.1:8080/tcp"
    flow: Flow


def _dest_word(host_ip: object, port: int, proto: str) -> str:
    if host_ip is None:
        return f"host:{port}/{proto}"
    text = str(host_ip)
    return f"[{text}]:{port}/{proto}" if ":" in text else f"{text}:{port}/{proto}"


def questions(rulesets: Iterable[Ruleset], topology: Topology) -> tuple[list[Question], list[str]]:
    """outside/host/containers -> every published port; container <-> container on served ports."""
    from natsim.audit.services import forwards

    notes: list[str] = []
    containers = [c for c in topology.containers or () if c.name]
    zones = ["outside", "host", *(f"container:{c.name}" for c in containers)]
    services: dict[str, None] = {}
    served: dict[str, set[tuple[int, str]]] = {}  # container name -> (port, proto) its forwards lead to
    for rs in rulesets:
        for f in forwards(rs, topology):
            if f.host_port is None or f.proto not in ("tcp", "udp", "sctp"):
                continue
            services[_dest_word(f.host_ip, f.host_port, f.proto)] = None
            target = topology.container_at(f.to_addr) if containers else None
            if target is not None and f.to_port is not None:
                served.setdefault(target.name, set()).add((f.to_port, f.proto))
    out = [Question(z, s) for s in services for z in zones]
    for b, ports in sorted(served.items()):
        for a in containers:
            if a.name != b:
                out += [Question(f"container:{a.name}", f"container:{b}:{p}/{proto}") for p, proto in sorted(ports)]
    if not containers:
        notes.append("no containers are known (no docker inspect / snapshot): container flows were not compared")
    if len(out) > MAX_QUESTIONS:
        notes.append(f"compared the first {MAX_QUESTIONS} of {len(out)} flows")
        out = out[:MAX_QUESTIONS]
    return out, notes


def resolve_questions(qs: Iterable[Question], topology: Topology) -> tuple[list[LabeledFlow], list[str]]:
    """Concrete flows for each question (``host`` may stand for several addresses)."""
    from natsim.explain.endpoints import parse_destination, parse_source
    from natsim.explain.resolve import resolve

    flows: list[LabeledFlow] = []
    notes: dict[str, None] = {}
    for q in qs:
        try:
            resolved = resolve(parse_source(q.zone), parse_destination(q.service), topology)
        except UsageError as err:
            notes[f"not compared: {q.zone} -> {q.service}: {str(err).removeprefix('natsim: ')}"] = None
            continue
        flows += [LabeledFlow(q, r.label, r.flow) for r in resolved]
    return flows, list(notes)
