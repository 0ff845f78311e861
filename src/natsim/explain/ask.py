"""One question, answered: parse the endpoints, load the inputs, simulate each flow, verify fixes.

The endpoints are parsed before any file is read, so a typo costs nothing; they are
resolved after, because only the topology knows which container ``web`` is.
"""

from __future__ import annotations

from collections.abc import Sequence

from natsim.engine.result import FlowResult
from natsim.errors import UsageError
from natsim.explain.answer import Answer, Fix, FlowAnswer
from natsim.explain.endpoints import parse_address, parse_destination, parse_source
from natsim.explain.fixes import suggest_close, suggest_open
from natsim.explain.inputs import Inputs, load_inputs
from natsim.explain.partial import partial_notes
from natsim.explain.resolve import ResolvedFlow, resolve
from natsim.model.location import UNKNOWN_LOCATION, Location
from natsim.model.ruleset import Ruleset
from natsim.model.values import IPAddress


def parse_via(text: str | None) -> IPAddress | None:
    if text is None:
        return None
    addr = parse_address(text.strip())
    if addr is None:
        raise UsageError(f"natsim: --via {text!r} is not an IP address (write --via 192.0.2.10)")
    return addr


def _fixes(inputs: Inputs, rf: ResolvedFlow, result: FlowResult) -> tuple[Fix, ...]:
    """Verified fixes: open a blocked flow; close a reachable one from outside (an exposure)."""
    ruleset = inputs.rulesets.get(rf.flow.family)
    if ruleset is None:
        return ()

    def resimulate(changed: Ruleset) -> FlowResult:
        return inputs.simulate(rf.flow, changed)

    outside = rf.flow.source == "outside"
    fix: Fix | None = None
    if result.verdict == "blocked":
        fix = suggest_open(result, ruleset, resimulate, any_client=outside and rf.flow.source_address is None)
    elif result.verdict == "reachable" and outside:
        fix = suggest_close(result, ruleset, resimulate)
    return (fix,) if fix is not None else ()


def engine_uplinks(inputs: Inputs) -> tuple[IPAddress, ...]:
    """The host's uplink addresses in the engine's world (read, or assumed when the topology has none)."""
    world = inputs.network().world
    host = world.ns(world.topology.host)
    if host is None:
        return ()
    return tuple(a.ip for up in world.uplinks() for a in host.ifaces[up].addrs if not a.ip.is_link_local)


def chain_sites(rulesets: dict[int, Ruleset]) -> dict[tuple[int, str, str], Location]:
    """Where each built-in chain was declared, so that a policy verdict cites its line."""
    return {
        (family, table.name, chain.name): chain.location
        for family, rs in rulesets.items()
        for table in rs.tables
        for chain in table.chains
        if chain.builtin and chain.location != UNKNOWN_LOCATION
    }


def ask(
    target: str,
    source: str,
    destination: str,
    topology_files: Sequence[str] = (),
    via: str | None = None,
    fixes: bool = True,
    netns: str | None = None,
    lenient: bool = False,
) -> Answer:
    """Answer "can SOURCE reach DESTINATION?" on TARGET (rules file, snapshot directory or ``live``).

    Raises :class:`natsim.errors.NatsimError` subclasses for bad endpoints and inputs.
    """
    src = parse_source(source)
    dst = parse_destination(destination)
    via_addr = parse_via(via)
    inputs = load_inputs(target, topology_files, netns, lenient)
    host = inputs.topology.host_namespace
    uplinks = engine_uplinks(inputs) if dst.kind == "host" and (host is None or host.links is None) else ()
    families = tuple(sorted(inputs.rulesets)) or (4,)
    flows = resolve(src, dst, inputs.topology, via_addr, uplinks, families)
    if any(rf.flow.source == "outside" for rf in flows) and not inputs.network().world.ways_in():
        raise UsageError(
            "natsim: the host's interfaces are not known, so there is no way in from outside to simulate;"
            " give a snapshot directory (ip-addr.json) or --topology FILE naming the host's uplink"
        )
    answers = []
    for rf in flows:
        result = inputs.simulate(rf.flow)
        found = _fixes(inputs, rf, result) if fixes else ()
        answers.append(FlowAnswer(rf.label, result, found, rf.assumptions))
    notes = tuple(dict.fromkeys((*inputs.notes, *partial_notes(inputs.rulesets))))
    return Answer(src, dst, tuple(answers), inputs.assumptions, inputs.files, notes, chain_sites(inputs.rulesets))
