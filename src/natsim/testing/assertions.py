"""Assertions about reachability, for tests of your own firewall rules.

Each assertion asks the same question ``natsim explain`` answers and, when it fails,
raises :class:`AssertionError` with natsim's explanation and the packet's trace, so the
test report says *which rule* decided, not just that something differed::

    from natsim.testing import load, assert_reachable, assert_not_reachable
    net = load("iptables.rules", topology=["host.toml"])
    assert_reachable(net, "outside", "host:443/tcp")
    assert_not_reachable(net, "outside", "host:5432/tcp")

``net`` is what :func:`load` returns (the inputs of one question: rules, ipsets,
topology), or a path that is loaded on the spot.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from os import PathLike
from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:  # pragma: no cover
    from natsim.explain.answer import Answer
    from natsim.explain.inputs import Inputs

__all__ = [
    "Exposure", "NetLike", "assert_not_reachable", "assert_only_published_ports_exposed", "assert_reachable",
    "exposures", "load", "reachability",
]

NetLike = Union["Inputs", str, PathLike]


def load(rules: str | PathLike, topology: Sequence[str | PathLike] = ()) -> "Inputs":
    """Load a rules file (or snapshot directory, or ``live``) and topology files, as ``natsim explain`` does."""
    from natsim.explain.inputs import load_inputs

    return load_inputs(str(rules), [str(t) for t in topology])


def _inputs(net: NetLike) -> "Inputs":
    from natsim.explain.inputs import Inputs

    return net if isinstance(net, Inputs) else load(net)


def reachability(net: NetLike, source: str, destination: str, via: str | None = None) -> "Answer":
    """natsim's answer for ``source`` -> ``destination`` (endpoint syntax of ``natsim explain``)."""
    from natsim.explain.answer import Answer, FlowAnswer
    from natsim.explain.ask import parse_via
    from natsim.explain.endpoints import parse_destination, parse_source
    from natsim.explain.resolve import resolve

    inputs = _inputs(net)
    src, dst = parse_source(source), parse_destination(destination)
    flows = resolve(src, dst, inputs.topology, parse_via(via))
    answers = tuple(FlowAnswer(rf.label, inputs.simulate(rf.flow), (), rf.assumptions) for rf in flows)
    return Answer(src, dst, answers, inputs.assumptions, inputs.files)


def _report(answer: "Answer", wanted: str) -> str:
    from natsim.explain.render_text import explain_text, trace_text

    verdicts = ", ".join(f"{f.label}: {f.verdict}" for f in answer.flows) or "no flow"
    return (
        f"expected {answer.source} -> {answer.destination} to be {wanted}, natsim says: {verdicts}\n\n"
        f"{explain_text(answer)}\n\n--- trace ---\n{trace_text(answer)}"
    )


def _expect_all(net: NetLike, source: str, destination: str, via: str | None, wanted: str) -> "Answer":
    """The answer, when every flow to ``destination`` has the verdict ``wanted`` (else AssertionError with the trace)."""
    __tracebackhide__ = True  # pytest: show the test's line and natsim's report, not this frame
    answer = reachability(net, source, destination, via)
    if not answer.flows or any(f.verdict != wanted for f in answer.flows):
        raise AssertionError(_report(answer, wanted))
    return answer


def assert_reachable(net: NetLike, source: str, destination: str, via: str | None = None) -> "Answer":
    """Every address ``destination`` resolves to is reachable from ``source`` (else AssertionError with the trace)."""
    __tracebackhide__ = True  # pytest: show the test's line and natsim's report, not this frame
    return _expect_all(net, source, destination, via, "reachable")


def assert_not_reachable(net: NetLike, source: str, destination: str, via: str | None = None) -> "Answer":
    """No address ``destination`` resolves to is reachable from ``source``; *unknown* fails too, saying why."""
    __tracebackhide__ = True  # pytest: show the test's line and natsim's report, not this frame
    return _expect_all(net, source, destination, via, "blocked")


@dataclass(frozen=True)
class Exposure:
    """A container port reachable from ``source`` although it is not published (or unknown)."""

    container: str
    port: int
    proto: str
    destination: str  # as asked: "host:8080/tcp" or "172.17.0.2:80/tcp"
    verdict: str
    report: str

    def __str__(self) -> str:
        return f"container {self.container} port {self.port}/{self.proto} via {self.destination}: {self.verdict}"


def _candidate_ports(inputs: "Inputs") -> set[tuple[int, str]]:
    """Every (port, proto) the rules or topology mention: what an exposure could be on."""
    from natsim.model.matches import Multiport, Tcp, Udp
    from natsim.model.targets import Dnat, Redirect

    found: set[tuple[int, str]] = set()
    for rs in inputs.rulesets.values():
        for table in rs.tables:
            for chain in table.chains:
                for rule in chain.rules:
                    proto = rule.protocol.value if rule.protocol is not None and not rule.protocol.negated else None
                    for m in rule.matches:
                        if isinstance(m, (Tcp, Udp)) and m.dport is not None and m.dport.value.hi - m.dport.value.lo < 16:
                            found |= {(p, m.module) for p in range(m.dport.value.lo, m.dport.value.hi + 1)}
                        if isinstance(m, Multiport) and m.dports is not None and proto in ("tcp", "udp"):
                            for pr in m.dports.value:
                                if pr.hi - pr.lo < 16:
                                    found |= {(p, proto) for p in range(pr.lo, pr.hi + 1)}
                    t = rule.target
                    if isinstance(t, Dnat) and proto in ("tcp", "udp"):
                        for r in t.to_destination or ():
                            if r.ports is not None and r.ports.hi - r.ports.lo < 16:
                                found |= {(p, proto) for p in range(r.ports.lo, r.ports.hi + 1)}
                    if isinstance(t, Redirect) and t.to_ports is not None and proto in ("tcp", "udp"):
                        found.add((t.to_ports.lo, proto))
    for c in inputs.topology.containers or ():
        for p in c.ports or ():
            found.add((p.container_port, p.proto))
            if p.host_port is not None:
                found.add((p.host_port, p.proto))
    for ns in inputs.topology.namespaces:
        if ns.role == "container":
            found |= {(l.port, l.proto) for l in ns.listeners or () if l.proto in ("tcp", "udp")}
    return found


def exposures(net: NetLike, source: str = "outside", ports: Iterable[tuple[int, str]] | None = None) -> list[Exposure]:
    """Container ports reachable from ``source`` that no ``-p`` publishes (verdict *unknown* counts too).

    Tried: every host address at every candidate port (the ports the rules and topology mention,
    or ``ports``), and every container address directly (routed access).  A reachable flow whose
    server is a container, at a port that container does not publish, is an exposure.
    """
    inputs = _inputs(net)
    topo = inputs.topology
    published: dict[str, set[tuple[int | None, int, str]]] = {
        c.name: {(p.host_port, p.container_port, p.proto) for p in c.ports or ()} for c in topo.containers or ()
    }
    candidates = sorted(set(ports) if ports is not None else _candidate_ports(inputs))
    out: list[Exposure] = []

    def check(dest: str, port: int, proto: str, direct_container: str | None) -> None:
        answer = reachability(inputs, source, dest)
        for fa in answer.flows:
            for o in fa.result.outcomes:
                if o.verdict == "blocked":
                    continue
                server = o.server or ""
                name = server.split(":", 1)[1] if server.startswith("container:") else direct_container
                if name is None or name not in published:
                    continue
                if direct_container is not None:
                    ok = any(cp == port and pr == proto for _, cp, pr in published[name])
                else:
                    ok = any(hp == port and pr == proto for hp, _, pr in published[name])
                if not ok or o.verdict == "unknown":
                    out.append(Exposure(name, o.destination_port or port, proto, dest, o.verdict, _report(answer, "blocked")))
                    return

    for port, proto in candidates:
        check(f"host:{port}/{proto}", port, proto, None)
    for c in topo.containers or ():
        for addr in c.addresses():
            where = f"[{addr}]" if isinstance(addr, ipaddress.IPv6Address) else str(addr)
            for port, proto in candidates:
                check(f"{where}:{port}/{proto}", port, proto, c.name)
    return out


def assert_only_published_ports_exposed(
    net: NetLike, source: str = "outside", ports: Iterable[tuple[int, str]] | None = None
) -> None:
    """No container port is reachable from ``source`` unless it is published (see :func:`exposures`)."""
    __tracebackhide__ = True  # pytest: show the test's line and natsim's report, not this frame
    found = exposures(net, source, ports)
    if found:
        lines = "\n".join(f"  {e}" for e in found)
        raise AssertionError(f"{len(found)} unpublished container port(s) reachable from {source}:\n{lines}\n\n{found[0].report}")
