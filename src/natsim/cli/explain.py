"""`natsim explain RULES_OR_SNAPSHOT --from A --to B`: the verdict first, then why, then a verified fix."""

from __future__ import annotations

import argparse

from natsim.explain.endpoints import DEST_FORMS, SOURCE_FORMS


def add_question_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments `explain` and `trace` share: what to read and which connection to follow."""
    p.add_argument("target", metavar="RULES_OR_SNAPSHOT", help="an iptables-save/-S/restore file, a snapshot directory, or 'live'")
    p.add_argument("--from", dest="source", required=True, metavar="A", help=f"who connects: {SOURCE_FORMS}")
    p.add_argument("--to", dest="destination", required=True, metavar="B", help=f"what it connects to: {DEST_FORMS}")
    p.add_argument(
        "--topology", action="append", default=[], metavar="FILE",
        help="topology facts: a .toml file or docker inspect / docker network inspect .json (repeatable)",
    )
    p.add_argument("--via", metavar="ADDR", help="with --to host:...: explain only this host address")
    p.add_argument("--netns", metavar="NAME", help="with live: read this network namespace instead of natsim's own")
    p.add_argument("--lenient", action="store_true", help="leave bad rule lines out (each is listed) instead of stopping")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def run(args: argparse.Namespace) -> int:
    from natsim.explain.ask import ask
    from natsim.explain.render_json import dumps
    from natsim.explain.render_text import explain_text

    answer = ask(
        args.target, args.source, args.destination, args.topology, args.via,
        fixes=not args.no_fix, netns=args.netns, lenient=args.lenient,
    )
    print(dumps(answer) if args.json else explain_text(answer), end="" if not args.json else "\n")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "explain",
        help="why is B (not) reachable from A: verdict, deciding rule, NAT, what the server sees, a verified fix",
        description="Simulate one connection through netfilter, routing, conntrack and Docker's proxy, and explain it.",
    )
    add_question_arguments(p)
    p.add_argument("--no-fix", action="store_true", help="do not search for a rule change that flips the verdict")
    p.set_defaults(func=run)
