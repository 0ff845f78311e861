"""How an answer cites a rule: ``file:line`` and the rule as iptables writes it.

The text as the user wrote it is preferred (it is what they will search their file
for); a rule built by natsim itself (a fix) has none, and is rendered canonically by
:mod:`natsim.render.save`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from natsim.engine.result import Step
from natsim.model.construct import fast_init
from natsim.model.location import UNKNOWN_LOCATION, Location
from natsim.model.ruleset import Rule
from natsim.render.save import render_rule

#: Finds where a built-in chain (and so its policy) was declared: (family, table, chain) -> Location.
ChainSite = Callable[[int, str, str], "Location | None"]


def rule_text(rule: Rule, chain: str | None = None) -> str:
    """The rule as an ``-A CHAIN ...`` line."""
    if rule.text:
        return rule.text.strip()
    return render_rule(rule, chain or "?", counters=False)


@fast_init
@dataclass(frozen=True, slots=True)
class RuleRef:
    """A rule as cited in an answer (JSON ``deciding_rule``)."""

    file: str | None
    line: int | None
    text: str
    table: str | None = None
    chain: str | None = None
    number: int | None = None  # 1-based position in the chain

    def where(self) -> str:
        place = f"{self.file}:{self.line}" if self.file else "(no file)"
        pos = f"{self.table} {self.chain}" if self.table else (self.chain or "")
        if self.number is not None:
            pos += f" rule {self.number}"
        return f"{place} ({pos.strip()})" if pos.strip() else place

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "text": self.text,
            "table": self.table,
            "chain": self.chain,
            "rule_number": self.number,
        }


def step_rule_ref(step: Step | None, chain_site: ChainSite | None = None) -> RuleRef | None:
    """The rule a step cites; a policy step cites its chain's declaration (``:INPUT DROP``) as ``-P INPUT DROP``."""
    if step is None:
        return None
    if step.rule is not None:
        loc = step.rule.location
        known = loc != UNKNOWN_LOCATION
        return RuleRef(
            file=loc.file if known else None,
            line=loc.line if known else None,
            text=rule_text(step.rule, step.chain),
            table=step.table,
            chain=step.chain,
            number=step.rule_index,
        )
    if step.kind == "policy" and step.chain and step.table:
        words = step.note.split()
        policy = words[1] if len(words) > 1 and words[0] == "policy" else (words[0] if words else "?")
        loc = None
        if chain_site is not None and step.packet is not None:
            loc = chain_site(step.packet.family, step.table, step.chain)
        known = loc is not None and loc != UNKNOWN_LOCATION
        return RuleRef(
            file=loc.file if known and loc is not None else None,
            line=loc.line if known and loc is not None else None,
            text=f"-P {step.chain} {policy}" if policy in ("ACCEPT", "DROP") else f"(chain {step.chain} ends: {policy})",
            table=step.table,
            chain=step.chain,
            number=None,
        )
    return None
