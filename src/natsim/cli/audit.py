"""`natsim audit RULES_OR_SNAPSHOT`: findings with severity, rules involved, why, and a fix."""

from __future__ import annotations

import argparse

from natsim.cli._common import add_report_parser, add_topology, write_output


def run(args: argparse.Namespace) -> int:
    from natsim.audit.findings import Severity
    from natsim.audit.load import load, problem_findings
    from natsim.audit.render_findings import RENDERERS
    from natsim.audit.run import audit_ruleset

    fail_on = Severity.parse(args.fail_on) if args.fail_on else None
    loaded = load(args.target, tuple(args.topology), netns=args.netns)
    findings = problem_findings(loaded)
    for family in sorted(loaded.rulesets):
        findings.extend(audit_ruleset(
            loaded.rulesets[family], loaded.ipsets, loaded.topology, loaded.tables_complete
        ))
    if args.min_severity:
        floor = Severity.parse(args.min_severity)
        findings = [f for f in findings if f.severity >= floor]
    text = RENDERERS[args.format](findings, loaded.source)
    write_output(text, args.output)
    if fail_on is not None and any(f.severity >= fail_on for f in findings):
        return 1
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = add_report_parser(
        subparsers, "audit",
        help="findings: Docker bypassing the firewall, dead ports, shadowed rules, uncertainty ...",
        description="Audit a ruleset offline: each finding has a severity, the rules involved (file:line), "
        "why it matters and a fix.",
        formats=("text", "json", "sarif"), output_help="write the report to FILE instead of stdout",
    )
    p.add_argument(
        "--fail-on", metavar="SEVERITY",
        help="exit with status 1 when a finding is at or above SEVERITY (info, low, medium, high, critical)",
    )
    p.add_argument("--min-severity", metavar="SEVERITY", help="report only findings at or above SEVERITY")
    add_topology(p)
    p.set_defaults(func=run)
