"""What an audit reports: findings with a severity, the rules involved, why it matters, a fix.

Severities are ordered so that ``--fail-on`` can compare them; ``check`` is a stable
identifier (used as the SARIF rule id) so CI can suppress one kind of finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from natsim.audit.shadow import RuleAt
from natsim.errors import UsageError
from natsim.explain.ruletext import rule_text
from natsim.model.location import UNKNOWN_LOCATION


class Severity(IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> "Severity":
        try:
            return cls[text.upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise UsageError(f"unknown severity {text!r}; expected one of {names}") from None


@dataclass(frozen=True, slots=True)
class Cited:
    """A rule named by a finding, ready to print: where it is and how it is written."""

    file: str | None
    line: int | None
    text: str
    table: str | None = None
    chain: str | None = None
    index: int | None = None
    role: str = ""  # "this rule", "decides first", "would close it" ...

    @classmethod
    def of(cls, at: RuleAt, role: str = "") -> "Cited":
        loc = at.rule.location
        known = loc != UNKNOWN_LOCATION and loc.line > 0
        return cls(
            loc.file if known else None,
            loc.line if known else None,
            rule_text(at.rule, at.chain),
            at.table,
            at.chain,
            at.index,
            role,
        )

    def where(self) -> str:
        place = f"{self.file}:{self.line}" if self.file else "(no line)"
        if self.table:
            place += f" [-t {self.table} {self.chain} #{self.index}]"
        return place

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.file, "line": self.line, "text": self.text, "table": self.table,
            "chain": self.chain, "rule_number": self.index, "role": self.role,
        }


@dataclass(frozen=True, slots=True)
class Finding:
    check: str  # stable id, e.g. "docker-bypasses-input"
    severity: Severity
    title: str  # one line
    why: str  # why it matters
    fix: str  # what to do (may hold an iptables command)
    rules: tuple[Cited, ...] = ()
    details: tuple[str, ...] = field(default=())

    def sort_key(self) -> tuple:
        first = self.rules[0] if self.rules else None
        return (-self.severity, self.check, first.file or "" if first else "", first.line or 0 if first else 0)

    def as_json(self) -> dict[str, object]:
        return {
            "check": self.check,
            "severity": self.severity.label,
            "title": self.title,
            "why": self.why,
            "fix": self.fix,
            "rules": [c.as_json() for c in self.rules],
            "details": list(self.details),
        }


#: One line per check, for SARIF's reporting descriptors and ``--help`` style listings.
CHECKS: dict[str, str] = {
    "docker-bypasses-input": "A forwarded (published) port is reachable although INPUT denies it",
    "dead-forward": "A DNAT port forward that FORWARD never accepts",
    "published-on-all-addresses": "A local-only service published on every host address",
    "container-directly-reachable": "Container addresses reachable straight from another interface",
    "missing-hairpin-masquerade": "No hairpin MASQUERADE for a published port with userland-proxy=false",
    "isolation-needs-br-netfilter": "A rule isolating containers on one bridge that iptables may never see",
    "accept-both-ways": "Two interfaces accept new connections in both directions",
    "shadowed-rule": "A rule no packet reaches, because earlier rules decide differently",
    "redundant-rule": "A rule no packet reaches, because earlier rules decide the same way",
    "rule-same-as-policy": "A rule at the end of a chain that repeats the policy",
    "rule-matches-nothing": "A rule whose conditions contradict each other",
    "unreachable-chain": "A user chain no reachable rule jumps to",
    "unknown-module": "Matches or targets natsim does not model",
    "missing-ipset": "Rules matching ipsets whose contents are unknown",
    "unparsed-line": "A line the parser could not read",
    "partial-ruleset": "A table whose built-in chains are empty: part of a ruleset",
}
