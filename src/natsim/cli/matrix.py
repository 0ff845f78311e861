"""`natsim matrix RULES_OR_SNAPSHOT`: who reaches what — zones × services with verdict, NAT and rule."""

from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    from natsim.audit.load import load
    from natsim.audit.matrix import build_matrix
    from natsim.audit.render_matrix import RENDERERS

    loaded = load(args.target, tuple(args.topology))
    matrix = build_matrix(loaded.network(assume_uplinks=True), loaded.source,
                          assumptions=loaded.assumptions(assume_uplinks=True))
    text = RENDERERS[args.format](matrix)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "matrix",
        help="the exposure matrix: every source zone against every published port, host port and container port",
        description="Simulate one flow per source zone, destination service and source-address class, and show "
        "which are reachable, with the NAT done and the deciding rule.",
    )
    p.add_argument("target", metavar="RULES_OR_SNAPSHOT", help="an iptables-save/-S/restore file, a snapshot directory, or 'live'")
    p.add_argument("--format", choices=("table", "json", "html", "svg"), default="table")
    p.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    p.add_argument(
        "--topology", action="append", default=[], metavar="FILE",
        help="topology facts: a .toml file or docker inspect JSON (repeatable)",
    )
    p.set_defaults(func=run)
