"""`natsim trace RULES_OR_SNAPSHOT --from A --to B`: every step of the request and of its reply."""

from __future__ import annotations

import argparse
import json

from natsim.cli._common import add_question_parser, ask_question


def run(args: argparse.Namespace) -> int:
    from natsim.explain.render_json import answer_json
    from natsim.explain.render_text import trace_text

    answer = ask_question(args, fixes=False)
    if args.json:
        print(json.dumps(answer_json(answer), indent=2))
    else:
        print(trace_text(answer), end="")
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = add_question_parser(
        subparsers, "trace",
        help="every hook, table, chain and rule the request and its reply pass, with the packet before and after NAT",
        description="Simulate one connection and print each step: namespace, hook, table, chain, rule, match, packet.",
    )
    p.set_defaults(func=run)
