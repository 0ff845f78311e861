"""``natsim diff A B``: what changed between two rulesets, in rules and in reachability."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from natsim.cli._common import add_netns
from natsim.diff.report import DiffReport, render_json, render_text
from natsim.diff.sides import Side, load_side
from natsim.diff.structural import ipset_diff, structural_diff
from natsim.errors import NatsimError, UsageError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "diff",
        help="compare two rulesets: rules added/removed/moved/changed, and the flows whose outcome changed",
        description=(
            "Compare A and B, each a rules file, a snapshot directory, 'live' or 'live:NETNS'. "
            "Exit status: 0 equal or equivalent, 1 different, 2 error."
        ),
    )
    p.add_argument("a", metavar="A", help="old: a rules file, a snapshot directory, 'live' or 'live:NETNS'")
    p.add_argument("b", metavar="B", help="new: a rules file, a snapshot directory, 'live' or 'live:NETNS'")
    add_netns(p)
    p.add_argument("--backend", choices=("auto", "legacy", "nft"), default="auto",
                   help="which iptables backend 'live' reads (default: the one that holds rules)")
    p.add_argument("--counters", action="store_true", help="also report packet/byte counter changes")
    p.add_argument("--structural", action="store_true", help="compare rules only, not flows")
    p.add_argument("--topology", metavar="FILE", action="append", default=[],
                   help="topology facts for the flow comparison (.toml, docker inspect .json); repeatable")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def _extra_topologies(files: list[str]) -> list[object]:
    from pathlib import Path

    from natsim.explain.inputs import read_topology_file

    out = []
    for name in files:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"natsim: topology file {name!r} does not exist.")
        out.append(read_topology_file(path))
    return out


def _families(side: Side) -> str:
    return "/".join(f"IPv{f}" for f in sorted(side.rulesets)) or "no"


def build_report(args: argparse.Namespace) -> DiffReport:
    old = load_side(args.a, args.netns, args.backend, topology=not args.structural)
    new = load_side(args.b, args.netns, args.backend, topology=not args.structural)
    if not set(old.rulesets) & set(new.rulesets):
        raise UsageError(f"natsim: A holds {_families(old)} rules and B {_families(new)} rules: "
                         "there is nothing to compare.")
    old_rs = [old.rulesets[f] for f in sorted(old.rulesets) if f in new.rulesets]
    new_rs = [new.rulesets[f] for f in sorted(new.rulesets) if f in old.rulesets]
    structural = structural_diff(old_rs, new_rs, counters=args.counters)
    structural = dataclasses.replace(structural, ipsets=ipset_diff(old.ipsets, new.ipsets))
    notes = [*(f"A: {n}" for n in old.notes), *(f"B: {n}" for n in new.notes)]
    if (old.ipsets is None) != (new.ipsets is None):
        notes.append(f"ipset contents are known for {'B' if old.ipsets is None else 'A'} only; sets were not compared")
    for fam in sorted(set(old.rulesets) ^ set(new.rulesets)):
        only = "A" if fam in old.rulesets else "B"
        notes.append(f"IPv{fam} rules were given for {only} only; they were not compared")
    semantic = None
    if structural.equal and (old.ipsets is None) == (new.ipsets is None):
        pass  # same rules, same sets: every flow agrees without simulating one
    elif not args.structural:
        from natsim.diff.semantic import semantic_diff

        try:
            semantic = semantic_diff(old, new, _extra_topologies(args.topology))  # type: ignore[arg-type]
        except NatsimError:
            raise
        except Exception as err:  # noqa: BLE001 - the engine failed: keep the (correct) structural answer
            notes.append(f"flows were not compared: the simulation failed ({type(err).__name__}: {err}); "
                         "this is a bug, please report it")
    return DiffReport(old.label, new.label, structural, semantic, tuple(notes), (*old_rs, *new_rs))


def run(args: argparse.Namespace) -> int:
    report = build_report(args)
    sys.stdout.write(render_json(report) if args.json else render_text(report))
    return report.exit_status
