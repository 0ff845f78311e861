"""One side of a diff: a rules file, a snapshot directory, or the live kernel (``live``, ``live:NETNS``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from natsim.errors import UsageError
from natsim.model.ruleset import IpSets, Ruleset
from natsim.topology.model import Topology



@dataclass(frozen=True)
class Side:
    """What one side holds.  ``topology`` is what was *read* (snapshot/live), before inference."""

    label: str  # as the user wrote it, or "live (netns X)"
    rulesets: dict[int, Ruleset]
    ipsets: IpSets | None = None
    topology: Topology | None = None
    notes: tuple[str, ...] = field(default=())


def parse_live_spec(spec: str, netns: str | None) -> str | None | bool:
    """``live`` -> the --netns value (None: natsim's own namespace); ``live:NAME`` -> NAME; else False."""
    if spec == "live":
        return netns
    if spec.startswith("live:") and len(spec) > 5:
        return spec[5:]
    return False


def _read_snapshot(path: Path) -> Side:
    """The snapshot's rules and sets, and the topology it records (not yet completed by inference)."""
    from natsim.explain.inputs import IPSET_FILE as SNAPSHOT_IPSETS
    from natsim.explain.inputs import RULES_FILES as SNAPSHOT_RULES
    from natsim.parse import parse_file, parse_ipset_file
    from natsim.topology.snapshot import read_snapshot

    rulesets = {
        family: parse_file(path / name, family=family).ruleset
        for family, name in SNAPSHOT_RULES.items()
        if (path / name).is_file()
    }
    if not rulesets:
        raise UsageError(
            f"natsim: snapshot directory {str(path)!r} holds neither {SNAPSHOT_RULES[4]} nor {SNAPSHOT_RULES[6]}."
        )
    ipsets = parse_ipset_file(path / SNAPSHOT_IPSETS) if (path / SNAPSHOT_IPSETS).is_file() else None
    snapshot = read_snapshot(str(path))
    notes = () if ipsets is not None else (f"no {SNAPSHOT_IPSETS} in {path}: ipset contents unknown",)
    return Side(str(path), rulesets, ipsets, snapshot.topology, notes)


def load_side(spec: str, netns: str | None = None, backend: str = "auto", topology: bool = True) -> Side:
    """Read one diff operand (its topology only when ``topology``); errors are one sentence, exit 2."""
    live_ns = parse_live_spec(spec, netns)
    if live_ns is not False:
        from natsim.live.inputs import load_live

        ns = live_ns if isinstance(live_ns, str) else None
        rulesets, ipsets, topo, notes = load_live(ns, backend, topology)  # type: ignore[arg-type]
        label = f"live (netns {ns})" if ns else "live"
        return Side(label, rulesets, ipsets, topo if topology else None, notes)
    path = Path(spec)
    if not path.exists():
        raise UsageError(f"natsim: {spec!r} is not a rules file, a snapshot directory or 'live'.")
    if path.is_dir():
        return _read_snapshot(path)
    from natsim.parse import parse_file

    ruleset = parse_file(path).ruleset
    return Side(spec, {ruleset.family: ruleset})
