"""`natsim matrix RULES_OR_SNAPSHOT`: who reaches what — zones × services with verdict, NAT and rule."""

from __future__ import annotations

import argparse
import fnmatch

from natsim.cli._common import add_report_parser, add_topology, write_output


def zone_filter(words: list[str]):
    """``--from`` words as a zone filter: a zone key (``outside:eth0``, ``host``, ``container:web``), a kind
    (``outside``, ``container``), or a container that a class of alike containers speaks for."""
    if not words:
        return None

    def wanted(zone) -> bool:
        return any(w == zone.key or w == zone.kind or zone.key.startswith(w + ":")
                   or (w.startswith("container:") and w.split(":", 1)[1] in zone.members) for w in words)
    return wanted


def service_filter(patterns: list[str]):
    """``--service`` patterns: shell wildcards on the service's row name (``published*``, ``*:22/tcp*``),
    or a plain word it contains."""
    if not patterns:
        return None

    def wanted(service) -> bool:
        return any(fnmatch.fnmatchcase(service.key, p) if any(c in p for c in "*?[") else p in service.key
                   for p in patterns)
    return wanted


def run(args: argparse.Namespace) -> int:
    from natsim.audit.flows import cell_flows
    from natsim.audit.load import load
    from natsim.audit.matrix import build_matrix
    from natsim.audit.render_matrix import RENDERERS
    from natsim.errors import UsageError

    loaded = load(args.target, tuple(args.topology), netns=args.netns)
    network = loaded.network(assume_uplinks=True)
    flows = cell_flows(network, zone_filter(args.zones), service_filter(args.services))
    if not flows and (args.zones or args.services):
        raise UsageError("natsim: no zone and service of this matrix match --from "
                         f"{' '.join(args.zones) or '(any)'} --service {' '.join(args.services) or '(any)'}")
    notes = loaded.assumptions(assume_uplinks=True)
    if args.zones or args.services:
        notes += (f"only zones {', '.join(args.zones) or 'all'} and services {', '.join(args.services) or 'all'} "
                  "were asked (--from/--service)",)
    matrix = build_matrix(network, loaded.source, flows=flows, assumptions=notes)
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
    p.add_argument("--from", dest="zones", action="append", default=[], metavar="ZONE",
                   help="only this source zone: outside, outside:eth0, host, container:NAME (repeatable)")
    p.add_argument("--service", dest="services", action="append", default=[], metavar="PATTERN",
                   help="only services whose row name matches: 'published*', '*:22/tcp*', or a word (repeatable)")
    p.set_defaults(func=run)
