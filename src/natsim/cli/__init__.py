"""The `natsim` command.  Each subcommand lives in its own module in this package.

A subcommand module defines ``add_parser(subparsers)`` which registers an
argparse sub-parser and sets ``func`` (a callable taking the parsed namespace and
returning an exit status).  Modules are discovered, so adding a command never
edits this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from natsim.errors import NatsimError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="natsim",
        description="Why is this published port (not) reachable? Simulates netfilter, NAT and conntrack.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        add = getattr(module, "add_parser", None)
        if add is not None:
            add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NatsimError as err:
        print(err.render(), file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # pragma: no cover - the last line of defence
        print(f"natsim: internal error: {type(err).__name__}: {err}", file=sys.stderr)
        print("natsim: this is a bug; please report it with the input that caused it.", file=sys.stderr)
        return 3


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
