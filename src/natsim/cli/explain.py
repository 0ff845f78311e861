"""`natsim explain RULES_OR_SNAPSHOT --from A --to B`: the verdict first, then why, then a verified fix."""

from __future__ import annotations

import argparse

from natsim.cli._common import add_question_parser, ask_question


def run(args: argparse.Namespace) -> int:
    from natsim.explain.render_json import dumps
    from natsim.explain.render_text import explain_text

    answer = ask_question(args, fixes=not args.no_fix)
    print(dumps(answer) if args.json else explain_text(answer), end="" if not args.json else "\n")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = add_question_parser(
        subparsers, "explain",
        help="why is B (not) reachable from A: verdict, deciding rule, NAT, what the server sees, a verified fix",
        description="Simulate one connection through netfilter, routing, conntrack and Docker's proxy, and explain it.",
    )
    p.add_argument("--no-fix", action="store_true", help="do not search for a rule change that flips the verdict")
    p.set_defaults(func=run)
