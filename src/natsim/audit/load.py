"""Load what ``natsim audit``/``matrix`` read: the explain loader, made lenient for plain files.

An audit should report a malformed line and go on with the rest of the file (the
lines it could read still deserve findings), so a single rules file is parsed with
``lenient=True`` and every diagnostic becomes a finding.  Snapshot directories and
``live`` go through :func:`natsim.explain.inputs.load_inputs` unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from natsim.audit.assume import with_assumed_uplinks
from natsim.audit.findings import Cited, Finding, Severity
from natsim.errors import InputError, UsageError
from natsim.model.ruleset import IpSets, Ruleset
from natsim.topology.model import Topology


@dataclass(frozen=True)
class Loaded:
    rulesets: dict[int, Ruleset]
    ipsets: IpSets | None
    topology: Topology
    source: str
    tables_complete: bool = True  # False for ``iptables -S`` dumps of some tables
    problems: tuple[InputError, ...] = ()
    inputs: object | None = None  # the explain layer's Inputs, when it loaded them

    def network(self, assume_uplinks: bool = False):
        """The engine's Network for these inputs; with ``assume_uplinks``, see :mod:`natsim.audit.assume`."""
        from natsim.engine import Network

        topology = self.topology
        if assume_uplinks:
            topology, _ = with_assumed_uplinks(topology, self.rulesets)
        if self.inputs is not None and topology is self.topology:
            return self.inputs.network()
        return Network(rulesets=dict(self.rulesets), ipsets=self.ipsets, topology=topology)

    def assumptions(self, assume_uplinks: bool = False) -> tuple[str, ...]:
        notes = tuple(getattr(self.inputs, "assumptions", ()) or ())
        if not notes:
            notes = tuple(self.topology.assumptions())
        if assume_uplinks:
            notes += with_assumed_uplinks(self.topology, self.rulesets)[1]
        return notes


def load(target: str, topology_files: tuple[str, ...] = (), netns: str | None = None) -> Loaded:
    """Rules, ipsets and topology of ``target``: a rules file, a snapshot directory, or ``live``
    (natsim's own network namespace, or ``netns``)."""
    from natsim.explain import inputs as ex

    if netns is not None and target != "live":
        raise UsageError(f"natsim: --netns {netns} reads a live namespace; give 'live' instead of {target!r}")
    path = Path(target)
    if target != "live" and path.is_file() and not topology_files:
        from natsim.parse import parse_file

        parsed = parse_file(path, lenient=True)
        rs = getattr(parsed, "ruleset", parsed)
        topology = ex.infer_topology({rs.family: rs}, Topology())
        return Loaded(
            {rs.family: rs}, None, topology, target, getattr(parsed, "format", "save") == "save",
            tuple(getattr(parsed, "diagnostics", ())),
        )
    if target != "live" and not path.exists():
        raise UsageError(f"natsim: rules file or snapshot directory {target!r} does not exist")
    got = ex.load_inputs(target, list(topology_files), netns=netns)
    return Loaded(dict(got.rulesets), got.ipsets, got.topology, target, True, (), got)


def problem_findings(loaded: Loaded) -> list[Finding]:
    """Lines the parser could not read (their rules are missing from every answer), and what the kernel
    would refuse to load (then the dump is not a running ruleset; natsim answers for it as written)."""
    from natsim.validate import check_ruleset

    out = []
    for family in sorted(loaded.rulesets):
        for err in check_ruleset(loaded.rulesets[family]):
            out.append(Finding(
                "kernel-refuses", Severity.MEDIUM,
                f"iptables-restore would refuse line {err.line}",
                f"{err.found}; {err.expected}. The kernel loads a ruleset whole or not at all, so this file "
                "cannot be what a host runs; natsim answers for the rules as written.",
                "Fix the rule (iptables-restore --test FILE shows the same refusal) and run the audit again.",
                (Cited(err.file, err.line, (err.source_line or "").strip()),),
            ))
    for err in loaded.problems:
        out.append(Finding(
            "unparsed-line", Severity.LOW,
            f"line {err.line} could not be read and was left out",
            f"{err.found}; {err.expected}. The rule on this line takes no part in the analysis, so answers "
            "about the packets it would match may be wrong.",
            "Fix the line (iptables-restore would reject it too) and run the audit again.",
            (Cited(err.file, err.line, (err.source_line or "").strip()),),
        ))
    return out
