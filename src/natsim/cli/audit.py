"""`natsim audit RULES_OR_SNAPSHOT`: findings with severity, rules involved, why, and a fix."""

from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    from natsim.audit.findings import Severity
    from natsim.audit.load import load, problem_findings
    from natsim.audit.render_findings import RENDERERS
    from natsim.audit.run import audit_ruleset

    fail_on = Severity.parse(args.fail_on) if args.fail_on else None
    loaded = load(args.target, tuple(args.topology))
    findings = problem_findings(loaded)
    for family in sorted(loaded.rulesets):
        findings.extend(audit_ruleset(
            loaded.rulesets[family], loaded.ipsets, loaded.topology, loaded.tables_complete
        ))
    if args.min_severity:
        floor = Severity.parse(args.min_severity)
        findings = [f for f in findings if f.severity >= floor]
    text = RENDERERS[args.format](findings, loaded.source)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        sys.stdout.write(text)
    if fail_on is not None and any(f.severity >= fail_on for f in findings):
        return 1
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "audit",
        help="findings: Docker bypassing the firewall, dead ports, shadowed rules, uncertainty ...",
        description="Audit a ruleset offline: each finding has a severity, the rules involved (file:line), "
        "why it matters and a fix.",
    )
    p.add_argument("target", metavar="RULES_OR_SNAPSHOT", help="an iptables-save/-S/restore file, a snapshot directory, or 'live'")
    p.add_argument("--format", choices=("text", "json", "sarif"), default="text")
    p.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    p.add_argument(
        "--fail-on", metavar="SEVERITY",
        help="exit with status 1 when a finding is at or above SEVERITY (info, low, medium, high, critical)",
    )
    p.add_argument("--min-severity", metavar="SEVERITY", help="report only findings at or above SEVERITY")
    p.add_argument(
        "--topology", action="append", default=[], metavar="FILE",
        help="topology facts: a .toml file or docker inspect JSON (repeatable)",
    )
    p.set_defaults(func=run)
