"""Ask one chain what it would do with one header: the audit's "what if" question.

The engine answers "what happens to this connection"; an audit also needs
counterfactuals such as "what would INPUT say to this packet had Docker not DNAT'ed
it" (the classic "Docker bypasses ufw").  A probe walks a single built-in chain (and
the user chains it jumps to) for a concrete header, using the same rule regions as the
shadowing analysis; a rule with an opaque match makes the answer *unknown* unless an
earlier rule already decided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from natsim.audit.memo import per_object
from natsim.audit.regions import region_of
from natsim.audit.shadow import RuleAt
from natsim.audit.space import CT_POINTS, Constraint, Dim
from natsim.model import targets as t
from natsim.model.ruleset import Rule, Ruleset

Value = Union[int, str]

#: A header: a value per dimension (ints for addresses/ports/protocol/icmp, interface names,
#: and point indices for the enumerated dimensions).  Missing dimensions are "any".
Header = dict[Dim, Value]


def ct_point(state: str, snat: bool = False, dnat: bool = False) -> int:
    return CT_POINTS.index((state, snat, dnat))


def holds(c: Constraint, value: Value) -> bool:
    """Does a concrete value satisfy one constraint?"""
    if c.dim in (Dim.IIF, Dim.OIF):
        hit = any(
            (str(value).startswith(name) if prefix else value == name) for name, prefix in c.values
        )
    elif isinstance(c.values[0], tuple):
        hit = any(lo <= int(value) <= hi for lo, hi in c.values)
    else:
        hit = value in c.values
    return hit != c.negated


def rule_matches(rule: Rule, header: Header) -> bool | None:
    """True/False, or None when the answer depends on something the header does not fix."""
    region = region_of(rule)
    if region.never:
        return False
    unknown = bool(region.opaque)
    for c in region.constraints:
        if c.dim not in header:
            unknown = True
            continue
        if not holds(c, header[c.dim]):
            return False
    return None if unknown else True


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """``verdict``: the deciding target's name (ACCEPT, DROP, REJECT, DNAT ...), or "unknown"."""

    verdict: str
    deciding: RuleAt | None  # None: the chain's policy decided (or unknown)
    uncertain: tuple[RuleAt, ...] = ()  # rules whose match could not be decided before the verdict
    policy_chain: str | None = None
    if_unmatched: str = ""  # the verdict should none of the uncertain rules match


    @property
    def blocks(self) -> bool:
        return self.verdict in ("DROP", "REJECT")

    @property
    def accepts(self) -> bool:
        return self.verdict == "ACCEPT"


def probe(
    ruleset: Ruleset, table: str, chain: str, header: Header, max_depth: int = 64, tables_complete: bool = True
) -> ProbeResult:
    """Walk ``table``/``chain`` for ``header``: the first deciding rule, or the policy.

    A table absent from an ``iptables-save`` dump is not loaded, so its hook accepts; from
    a partial dump (``iptables -t X -S`` of some tables) it is unknown (``tables_complete=False``).
    """
    tbl = ruleset.table(table)
    start = ruleset.chain(table, chain)
    if tbl is None or start is None:
        absent = "ACCEPT" if tables_complete or tbl is not None else "unknown"
        return ProbeResult(absent, None, (), chain, "ACCEPT")
    uncertain: list[RuleAt] = []

    def walk(name: str, depth: int) -> tuple[str, RuleAt | None] | None:
        c = tbl.chain(name)
        if c is None or depth > max_depth:
            return None
        for idx in _index(c).candidates(header):
            rule = c.rules[idx - 1]
            hit = rule_matches(rule, header)
            if hit is False:
                continue
            at = RuleAt(table, name, idx, rule)
            tgt = rule.target
            if hit is None:
                if isinstance(tgt, t.Jump) or tgt is None or not _deciding(tgt):
                    # an unknown non-deciding rule (LOG, MARK ...) changes no verdict we model
                    if isinstance(tgt, t.Jump):
                        uncertain.append(at)
                    continue
                uncertain.append(at)
                continue
            if isinstance(tgt, t.Return):
                return None
            if isinstance(tgt, t.Jump):
                inner = walk(tgt.chain, depth + 1)
                if inner is not None:
                    return inner
                if tgt.goto:
                    return None
                continue
            if tgt is None or not _deciding(tgt):
                continue
            return (tgt.name, at)
        return None

    got = walk(chain, 0)
    if got is None:
        verdict, deciding = start.policy or "ACCEPT", None
    else:
        verdict, deciding = got
    if uncertain:
        return ProbeResult("unknown", deciding, tuple(uncertain), chain, verdict)
    return ProbeResult(verdict, deciding, (), chain, verdict)


class _ChainIndex:
    """Rules of one chain bucketed by the single destination address or port they require.

    Docker's chains hold one rule per published port (``-d C/32 --dport P``); a probe for
    one header only needs the rules of its own address and port plus the unbucketed ones,
    in chain order, which keeps probing a host with thousands of ports linear.
    """

    def __init__(self, chain) -> None:
        self.size = len(chain.rules)
        self.generic: list[int] = []
        self.by_dst: dict[int, list[int]] = {}
        self.by_port: dict[int, list[int]] = {}
        for idx, rule in enumerate(chain.rules, start=1):
            region = region_of(rule)
            key = None
            for c in region.constraints:
                if c.negated or len(c.values) != 1 or not isinstance(c.values[0], tuple):
                    continue
                lo, hi = c.values[0]
                if lo == hi and c.dim is Dim.DST:
                    key = ("dst", lo)
                    break
                if lo == hi and c.dim is Dim.DPORT and key is None:
                    key = ("port", lo)
            if key is None:
                self.generic.append(idx)
            else:
                (self.by_dst if key[0] == "dst" else self.by_port).setdefault(key[1], []).append(idx)

    def candidates(self, header: Header) -> list[int] | range:
        if not self.by_dst and not self.by_port:
            return range(1, self.size + 1)
        if (self.by_dst and Dim.DST not in header) or (self.by_port and Dim.DPORT not in header):
            return range(1, self.size + 1)
        picked = self.by_dst.get(int(header[Dim.DST]), []) if self.by_dst else []
        ports = self.by_port.get(int(header[Dim.DPORT]), []) if self.by_port else []
        return sorted(self.generic + picked + ports)


def _index(chain) -> _ChainIndex:
    return per_object("chain-index", chain, lambda: _ChainIndex(chain))


def _deciding(tgt: t.Target) -> bool:
    from natsim.audit.shadow import DECIDING

    return isinstance(tgt, DECIDING)
