"""Everything a question needs, read from the running kernel: rules, ipsets, topology, notes.

This is the ``live`` input of ``natsim explain/trace/diff``.  It only combines the readers:
rules (:mod:`natsim.live.rules`), ipsets (:mod:`natsim.live.ipsets`) and the topology engineer's
live adapter (``natsim.topology.live``), each optionally inside a named network namespace.
"""

from __future__ import annotations

import importlib
from typing import Any

from natsim.live.ipsets import read_live_ipsets
from natsim.live.rules import BackendChoice, read_live_rules
from natsim.model.ruleset import IpSets, Ruleset
from natsim.topology.model import Namespace, Topology

#: The topology engineer's live adapters, preferred first: (module, function).
#: ``read_live_topology(netns) -> Topology`` (whole host, if it lands) or ``read_live(netns) -> Namespace``.
TOPOLOGY_READERS = (("natsim.topology.live", "read_live_topology"), ("natsim.topology.live", "read_live"))


def read_topology(netns: str | None) -> tuple[Topology, tuple[str, ...]]:
    """The live topology, or an empty one with a note when this build has no live adapter."""
    for module_name, func_name in TOPOLOGY_READERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name != module_name:
                raise
            continue
        func: Any = getattr(module, func_name, None)
        if func is None:
            continue
        result = func(netns)
        if isinstance(result, Namespace):
            return Topology(namespaces=(result,)), ()
        if isinstance(result, tuple):  # (topology, notes)
            return result[0], tuple(result[1]) if len(result) > 1 else ()
        return result, ()
    return Topology(), ("the live topology reader is not in this build: addresses, routes and "
                        "bridges are inferred from the rules",)


def load_live(
    netns: str | None = None, backend: BackendChoice = "auto", topology: bool = True
) -> tuple[dict[int, Ruleset], IpSets | None, Topology, tuple[str, ...]]:
    """Read rules, ipsets and topology of the running kernel (read-only); notes say what was read.

    ``topology=False`` skips the topology (an empty one is returned) when only the rules matter.
    """
    rules = read_live_rules(netns, backend)
    where = f" in network namespace {netns}" if netns else ""
    notes = [f"rules read live{where} from the {rules.backend} backend with {', '.join(rules.readers)}"]
    notes += rules.notes
    ipsets, ipset_notes = read_live_ipsets(netns)
    notes += ipset_notes
    topo, topo_notes = read_topology(netns) if topology else (Topology(), ())
    notes += topo_notes
    return {rs.family: rs for rs in rules.rulesets}, ipsets, topo, tuple(notes)
