"""Run every audit check over the loaded inputs."""

from __future__ import annotations

from natsim.audit.checks_docker import DOCKER_CHECKS
from natsim.audit.checks_rules import RULE_CHECKS, Context
from natsim.audit.findings import Finding
from natsim.model.ruleset import IpSets, Ruleset
from natsim.topology.model import Topology

CHECKS = RULE_CHECKS + DOCKER_CHECKS


def audit_ruleset(
    ruleset: Ruleset, ipsets: IpSets | None = None, topology: Topology | None = None, tables_complete: bool = True
) -> list[Finding]:
    """All findings for one address family's ruleset, worst first."""
    ctx = Context(ruleset, ipsets, topology, tables_complete)
    found: list[Finding] = []
    for check in CHECKS:
        found.extend(check(ruleset, ctx))
    return sorted(found, key=Finding.sort_key)


def audit_inputs(inputs) -> list[Finding]:
    """Findings for every family of an :class:`natsim.explain.inputs.Inputs`."""
    out: list[Finding] = []
    for family in sorted(inputs.rulesets):
        out.extend(audit_ruleset(inputs.rulesets[family], inputs.ipsets, inputs.topology))
    return sorted(out, key=Finding.sort_key)
