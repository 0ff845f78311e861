"""What a question is asked about: rules, ipsets and topology, from a file, a snapshot, or live.

``RULES_OR_SNAPSHOT`` is a rules file (``iptables-save``, ``-S`` output, restore input),
a snapshot directory (the files ``natsim snapshot`` writes), or ``live``.  Topology
comes from the snapshot, from ``--topology`` files (TOML, ``docker inspect`` JSON), and
last from inference over the rules; every fact that was not read is listed as an
assumption in the answer.  The readers themselves belong to the parse, topology and
live packages: this module only decides which to call and combines what they return.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from natsim.engine.flow import Flow
from natsim.engine.result import FlowResult
from natsim.errors import UsageError
from natsim.model.ruleset import IpSets, Ruleset
from natsim.parse import parse_file, parse_ipset_file
from natsim.topology.docker_inspect import load_docker_json
from natsim.topology.infer import infer_topology
from natsim.topology.merge import merge
from natsim.topology.model import Topology
from natsim.topology.snapshot import read_snapshot
from natsim.topology.toml_file import load_toml

#: Snapshot file names (issue 3): rules per family and ipset contents.
RULES_FILES = {4: "iptables.rules", 6: "ip6tables.rules"}
IPSET_FILE = "ipset.txt"


@dataclass(frozen=True)
class Inputs:
    """Everything loaded for one question; ``simulate`` builds the engine's Network from it."""

    rulesets: dict[int, Ruleset]
    ipsets: IpSets | None
    topology: Topology
    files: tuple[str, ...] = ()
    assumptions: tuple[str, ...] = ()
    _networks: dict[int, Any] = field(default_factory=dict, compare=False, repr=False)

    def network(self, family: int | None = None, ruleset: Ruleset | None = None) -> Any:
        """The engine's Network; ``ruleset`` replaces the one of ``family`` (a fix being verified)."""
        from natsim.engine import Network

        if ruleset is None:
            cached = self._networks.get(0)
            if cached is None:
                cached = self._networks[0] = Network(rulesets=dict(self.rulesets), ipsets=self.ipsets, topology=self.topology)
            return cached
        rulesets = dict(self.rulesets)
        rulesets[family if family is not None else ruleset.family] = ruleset
        return Network(rulesets=rulesets, ipsets=self.ipsets, topology=self.topology)

    def simulate(self, flow: Flow, ruleset: Ruleset | None = None) -> FlowResult:
        from natsim.engine import simulate

        return simulate(self.network(flow.family, ruleset), flow)


def read_rules(path: Path) -> Ruleset:
    return parse_file(path).ruleset


def read_topology_file(path: Path) -> Topology:
    """``--topology``: a TOML topology, or ``docker inspect`` / ``docker network inspect`` JSON."""
    if path.suffix == ".toml":
        return load_toml(path)
    if path.suffix == ".json":
        return load_docker_json(path)
    raise UsageError(f"natsim: --topology {path}: expected a .toml topology or docker inspect .json file")


def _module(name: str) -> Any | None:
    """A module that may not be part of this build (live mode is optional)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name != name:
            raise
        return None


def _load_live(netns: str | None) -> tuple[dict[int, Ruleset], IpSets | None, Topology, tuple[str, ...]]:
    """The running kernel, read-only (natsim.live): rulesets, ipsets, topology and notes on what was read."""
    live = _module("natsim.live.inputs")
    if live is None:
        raise UsageError("natsim: live mode is not available in this build; save a snapshot and pass its directory")
    return live.load_live(netns)


def _existing(path: Path, what: str) -> Path:
    if not path.exists():
        raise UsageError(f"natsim: {what} {str(path)!r} does not exist")
    return path


def load_inputs(target: str, topology_files: Sequence[str] = (), netns: str | None = None) -> Inputs:
    """Read RULES_OR_SNAPSHOT and the ``--topology`` files into one set of inputs.

    ``netns`` names the network namespace live mode reads (None: natsim's own).
    """
    files: list[str] = []
    topologies: list[Topology] = []
    ipsets: IpSets | None = None
    notes: list[str] = []
    if netns is not None and target != "live":
        raise UsageError("natsim: --netns applies to live mode only (RULES_OR_SNAPSHOT = live)")
    if target == "live":
        rulesets, ipsets, live_topo, live_notes = _load_live(netns)
        topologies.append(live_topo)
        files.append("live" if netns is None else f"live:netns {netns}")
        notes.extend(live_notes)
    else:
        path = _existing(Path(target), "rules file or snapshot directory")
        rulesets = {}
        if path.is_dir():
            for family, name in RULES_FILES.items():
                if (path / name).is_file():
                    rulesets[family] = read_rules(path / name)
                    files.append(str(path / name))
            if not rulesets:
                raise UsageError(
                    f"natsim: snapshot directory {target!r} holds neither {RULES_FILES[4]} nor {RULES_FILES[6]}"
                )
            if (path / IPSET_FILE).is_file():
                ipsets = parse_ipset_file(path / IPSET_FILE)
                files.append(str(path / IPSET_FILE))
            else:
                notes.append(f"no {IPSET_FILE} in the snapshot: the contents of any ipset are unknown")
            snapshot = read_snapshot(path)
            topologies.append(snapshot.topology)
            files.extend(str(path / name) for name in snapshot.present if name not in (*RULES_FILES.values(), IPSET_FILE))
            notes.extend(f"not in the snapshot: {m}" for m in snapshot.missing if not m.startswith(RULES_FILES[6]))
        else:
            ruleset = read_rules(path)
            rulesets[ruleset.family] = ruleset
            files.append(str(path))
            notes.append("no ipset contents were given: a rule matching an ipset gives an unknown answer")
    for name in topology_files:
        topo_path = _existing(Path(name), "topology file")
        topologies.append(read_topology_file(topo_path))
        files.append(str(topo_path))
    known = merge(*topologies) if topologies else Topology()
    topology = infer_topology(rulesets, known)
    assumptions = [*topology.assumptions(), *(str(c) for c in topology.conflicts), *notes]
    assumptions.extend(str(f) for f in topology.findings)
    return Inputs(rulesets, ipsets, topology, tuple(files), tuple(dict.fromkeys(assumptions)))
