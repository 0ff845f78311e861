"""What a question is asked about: rules, ipsets and topology, from a file, a snapshot, or live.

``RULES_OR_SNAPSHOT`` is a rules file (``iptables-save``, ``-S`` output, restore input),
a snapshot directory (the files ``natsim snapshot`` writes), or ``live``.  Topology
comes from the snapshot, from ``--topology`` files (TOML, ``docker inspect`` JSON), and
last from inference over the rules; every fact that was not read is listed as an
assumption in the answer.  The readers themselves belong to the parse, topology and
live packages: this module only decides which to call and combines what they return.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from natsim.engine.flow import Flow
from natsim.engine.network import Network
from natsim.engine.result import FlowResult
from natsim.engine.simulation import simulate
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
    assumptions: tuple[str, ...] = ()  # facts inferred or assumed, not read
    notes: tuple[str, ...] = ()  # what was not given (missing snapshot files, ipsets) and warnings about inputs

    @cached_property
    def base_network(self) -> Network:
        """The engine's Network for these inputs, built (and compiled) once for every flow asked."""
        return Network(rulesets=dict(self.rulesets), ipsets=self.ipsets, topology=self.topology)

    def network(self, ruleset: Ruleset | None = None) -> Network:
        """The Network, or one where ``ruleset`` replaces its family's rules (a fix being verified)."""
        if ruleset is None:
            return self.base_network
        return Network(rulesets={**self.rulesets, ruleset.family: ruleset}, ipsets=self.ipsets, topology=self.topology)

    def simulate(self, flow: Flow, ruleset: Ruleset | None = None) -> FlowResult:
        return simulate(self.network(ruleset), flow)


def read_rules(
    path: Path, lenient: bool = False, left_out: list[str] | None = None, family: int | None = None
) -> Ruleset:
    """One rules file; with ``lenient`` bad lines are left out, each listed (the answer assumes them absent).

    ``family`` is known for a snapshot's files by their names; else the parser tells it from the content.
    """
    parsed = parse_file(path, lenient=lenient, family=family)
    if left_out is not None:
        left_out.extend(f"line left out (--lenient), as if absent: {d.headline()}" for d in parsed.diagnostics)
    return parsed.ruleset


def read_topology_file(path: Path) -> Topology:
    """``--topology``: a TOML topology, or ``docker inspect`` / ``docker network inspect`` JSON."""
    if path.suffix == ".toml":
        return load_toml(path)
    if path.suffix == ".json":
        return load_docker_json(path)
    raise UsageError(f"natsim: --topology {path}: expected a .toml topology or docker inspect .json file")


def _load_live(netns: str | None) -> tuple[dict[int, Ruleset], IpSets | None, Topology, tuple[str, ...]]:
    """The running kernel, read-only (natsim.live): rulesets, ipsets, topology and notes on what was read."""
    from natsim.live.inputs import load_live  # only live mode needs the kernel readers

    return load_live(netns)


def _existing(path: Path, what: str) -> Path:
    if not path.exists():
        raise UsageError(f"natsim: {what} {str(path)!r} does not exist")
    return path


def load_inputs(
    target: str, topology_files: Sequence[str] = (), netns: str | None = None, lenient: bool = False
) -> Inputs:
    """Read RULES_OR_SNAPSHOT and the ``--topology`` files into one set of inputs.

    ``netns`` names the network namespace live mode reads (None: natsim's own); ``lenient``
    leaves bad rule lines out instead of stopping (each is listed with the answer).
    """
    files: list[str] = []
    topologies: list[Topology] = []
    ipsets: IpSets | None = None
    notes: list[str] = []
    left_out: list[str] = []
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
                    rulesets[family] = read_rules(path / name, lenient, left_out, family)
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
            ruleset = read_rules(path, lenient, left_out)
            rulesets[ruleset.family] = ruleset
            files.append(str(path))
            notes.append("no ipset contents were given: a rule matching an ipset gives an unknown answer")
    for name in topology_files:
        topo_path = _existing(Path(name), "topology file")
        topologies.append(read_topology_file(topo_path))
        files.append(str(topo_path))
    if target != "live":  # a dump the kernel would not load is not what a host runs: say so (decision 0153)
        from natsim.validate import check_ruleset

        notes.extend(f"iptables-restore would refuse this ruleset ({err.render().splitlines()[0]}); natsim "
                     "answers for the rules as written" for rs in rulesets.values() for err in check_ruleset(rs))
    known = merge(*topologies) if topologies else Topology()
    topology = infer_topology(rulesets, known)
    assumptions = [*left_out, *topology.assumptions(), *(str(c) for c in topology.conflicts)]
    notes.extend(str(f) for f in topology.findings)
    return Inputs(
        rulesets, ipsets, topology, tuple(files), tuple(dict.fromkeys(assumptions)), tuple(dict.fromkeys(notes))
    )
