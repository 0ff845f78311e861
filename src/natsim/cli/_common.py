"""Arguments and output the subcommands share, defined once so their help and behaviour stay alike.

The leading underscore keeps this module out of subcommand discovery (see natsim.cli).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

TARGET_HELP = "an iptables-save/-S/restore file, a snapshot directory, or 'live'"
TOPOLOGY_HELP = "topology facts: a .toml file or docker inspect JSON (repeatable)"


def add_target(p: argparse.ArgumentParser) -> None:
    """The positional RULES_OR_SNAPSHOT every reading subcommand takes."""
    p.add_argument("target", metavar="RULES_OR_SNAPSHOT", help=TARGET_HELP)


def add_topology(p: argparse.ArgumentParser, help: str = TOPOLOGY_HELP) -> None:
    """The repeatable ``--topology FILE`` (a list, empty when not given)."""
    p.add_argument("--topology", action="append", default=[], metavar="FILE", help=help)


def add_output(p: argparse.ArgumentParser, help: str) -> None:
    """``-o/--output FILE``: where :func:`write_output` puts the report."""
    p.add_argument("-o", "--output", metavar="FILE", help=help)


def write_output(text: str, output: str | None) -> None:
    """Write ``text`` to the ``--output`` file, or to stdout when none was given."""
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)


def add_netns(p: argparse.ArgumentParser) -> None:
    """``--netns NAME``: the network namespace ``live`` reads (read-only, like everything live)."""
    p.add_argument("--netns", metavar="NAME", help="with live: read this network namespace instead of natsim's own")


def add_question_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments `explain` and `trace` share: what to read and which connection to follow."""
    from natsim.explain.endpoints import DEST_FORMS, SOURCE_FORMS

    add_target(p)
    p.add_argument("--from", dest="source", required=True, metavar="A", help=f"who connects: {SOURCE_FORMS}")
    p.add_argument("--to", dest="destination", required=True, metavar="B", help=f"what it connects to: {DEST_FORMS}")
    add_topology(p, "topology facts: a .toml file or docker inspect / docker network inspect .json (repeatable)")
    p.add_argument("--via", metavar="ADDR", help="with --to host:...: explain only this host address")
    add_netns(p)
    p.add_argument("--lenient", action="store_true", help="leave bad rule lines out (each is listed) instead of stopping")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")


def add_question_parser(subparsers: argparse._SubParsersAction, name: str, help: str,
                        description: str) -> argparse.ArgumentParser:
    """A subcommand that asks about one connection (`explain`, `trace`), with the question's arguments."""
    p = subparsers.add_parser(name, help=help, description=description)
    add_question_arguments(p)
    return p


def add_report_parser(subparsers: argparse._SubParsersAction, name: str, help: str, description: str,
                      formats: tuple[str, ...], output_help: str) -> argparse.ArgumentParser:
    """A subcommand that reads RULES_OR_SNAPSHOT and writes a report (`audit`, `matrix`) in one of ``formats``."""
    p = subparsers.add_parser(name, help=help, description=description)
    add_target(p)
    p.add_argument("--format", choices=formats, default=formats[0])
    add_output(p, output_help)
    add_netns(p)
    return p


def ask_question(args: argparse.Namespace, *, fixes: bool) -> Any:
    """The answer to the connection question parsed by :func:`add_question_arguments`."""
    from natsim.explain.ask import ask

    return ask(
        args.target, args.source, args.destination, args.topology, args.via,
        fixes=fixes, netns=args.netns, lenient=args.lenient,
    )
