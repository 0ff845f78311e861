"""`natsim matrix RULES_OR_SNAPSHOT`: who reaches what — zones × services with verdict, NAT and rule."""

from __future__ import annotations

import argparse

from natsim.cli._common import add_report_parser, add_topology, write_output


def run(args: argparse.Namespace) -> int:
    from natsim.audit.load import load
    from natsim.audit.matrix import build_matrix
    from natsim.audit.render_matrix import RENDERERS

    loaded = load(args.target, tuple(args.topology), netns=args.netns)
    matrix = build_matrix(loaded.network(assume_uplinks=True), loaded.source,
                          assumptions=loaded.assumptions(assume_uplinks=True))
    text = RENDERERS[args.format](matrix)
    write_output(text, args.output)
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = add_report_parser(
        subparsers, "matrix",
        help="the exposure matrix: every source zone against every published port, host port and container port",
        description="Simulate one flow per source zone, destination service and source-address class, and show "
        "which are reachable, with the NAT done and the deciding rule.",
        formats=("table", "json", "html", "svg"), output_help="write to FILE instead of stdout",
    )
    add_topology(p)
    p.set_defaults(func=run)
