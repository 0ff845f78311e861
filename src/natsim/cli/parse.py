"""``natsim parse FILE...``: read dumps, print the canonical form (or JSON), report problems.

Output: the canonical text (iptables-save form) or JSON on stdout; on stderr one
summary line per file (``FILE: FORMAT, IPvN, T tables, C chains, R rules``) and each
problem as ``FILE:LINE:COL: found; expected`` with the line and a caret.

Exit status: 0 when every file parsed (with ``--lenient``: also when bad lines were
skipped and reported, since the model of the rest is complete); 2 on the first error
without ``--lenient`` or when a file cannot be read, and 2 when every line reads but
iptables-restore would still refuse the ruleset (natsim.validate: undefined chains, loops,
targets or matches where the kernel refuses them), each refusal reported with its location.
"""

from __future__ import annotations

import argparse
import json
import sys

from pathlib import Path

from natsim.errors import UsageError
from natsim.parse import is_ipset_text, parse_ipset_text, parse_text
from natsim.render import json as render_json
from natsim.render.save import render_ruleset
from natsim.validate import validate


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "parse",
        help="parse iptables dumps and print them in canonical form",
        description="Parse iptables-save / iptables -S / iptables-restore input and print the canonical "
        "iptables-save form (or JSON). Summaries and problems go to stderr.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="dump files ('-' for stdin)")
    p.add_argument("--format", choices=("save", "json"), default="save", help="output format (default save)")
    p.add_argument("--lenient", action="store_true",
                   help="report bad lines and leave them out instead of stopping at the first (exit 0)")
    p.add_argument("--family", type=int, choices=(4, 6), default=None, help="force the address family")
    p.add_argument("--no-counters", action="store_true", help="leave counters out of the save output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    documents = []
    status = 0
    for name in args.files:
        text = _read(name)
        if is_ipset_text(text):
            sets = parse_ipset_text(text, name if name != "-" else "<stdin>")
            entries = sum(len(s.entries) for s in sets.sets)
            print(f"{sets.source}: ipset save, {len(sets.sets)} sets, {entries} entries", file=sys.stderr)
            if args.format == "json":
                documents.append({"source": sets.source, "ipsets": [
                    {"name": s.name, "type": s.type, "options": list(s.options),
                     "entries": [e.element for e in s.entries]} for s in sets.sets]})
            else:
                for s in sets.sets:
                    print(" ".join(["create", s.name, s.type, *s.options]))
                    for e in s.entries:
                        print(" ".join(["add", s.name, e.element, *e.options]))
            continue
        parsed = parse_text(text, name if name != "-" else "<stdin>", args.lenient, args.family)
        for diag in parsed.diagnostics:
            print(diag.render(), file=sys.stderr)
        refused = validate(parsed)  # what iptables-restore would refuse although every line reads
        for err in refused:
            print(err.render(), file=sys.stderr)
        if refused and not args.lenient:
            status = 2
        rs = parsed.ruleset
        chains = sum(len(t.chains) for t in rs.tables)
        skipped = f", {len(parsed.diagnostics)} bad lines skipped" if parsed.diagnostics else ""
        print(f"{rs.source}: {parsed.format}, IPv{rs.family}, {len(rs.tables)} tables, {chains} chains, "
              f"{rs.rule_count()} rules{skipped}", file=sys.stderr)
        if args.format == "json":
            documents.append(render_json.ruleset(rs))
        else:
            sys.stdout.write(render_ruleset(rs, counters=not args.no_counters))
    if args.format == "json" and documents:
        json.dump(documents[0] if len(documents) == 1 else documents, sys.stdout, indent=2)
        sys.stdout.write("\n")
    return status


def _read(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    try:
        return Path(name).read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as err:
        raise UsageError(f"{name}: cannot read: {err.strerror or err}") from None
