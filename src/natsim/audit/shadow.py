"""Shadowed and redundant rules: rules no packet reaches, or whose removal changes nothing.

The analysis walks each chain keeping ``reach``, an over-approximation (a list of
boxes) of the headers that can arrive at the current rule.  A rule that decides its
packets (ACCEPT, DROP, RETURN, NAT, ``-g`` ...) and whose matches are all exact
removes its box from ``reach``; opaque or non-deciding rules never do.  A rule whose
region does not meet ``reach`` is unreachable.  Because ``reach`` only ever
over-approximates, natsim never claims shadowing it cannot prove; when the box list
would grow past a bound it stops cutting (losing precision, never soundness).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from natsim.audit.regions import Region, region_of
from natsim.audit.space import Box, Dim, Space, contains, intersects, is_empty, subtract
from natsim.model import targets as t
from natsim.model.ruleset import Chain, Rule, Ruleset, Table

#: Targets after which the rest of the chain is not evaluated for the matched packet.
DECIDING = (
    t.Accept, t.Drop, t.Reject, t.Return, t.Queue, t.Dnat, t.Snat, t.Masquerade, t.Redirect,
    t.Netmap, t.Tproxy,
)

#: Non-deciding targets that change a dimension the analysis tracks, and which ones.
#: NOTRACK/CT set the untracked state; an unknown target might rewrite flags (ECN) or state.
_WIDENS: dict[type, tuple[Dim, ...]] = {
    t.Ct: (Dim.CTSTATE,),
    t.Notrack: (Dim.CTSTATE,),
    t.UnknownTarget: (Dim.CTSTATE, Dim.TCPFLAGS),
}

MAX_BOXES = 64

Kind = Literal["shadowed", "redundant", "never-matches", "same-as-policy"]


@dataclass(frozen=True, slots=True)
class RuleAt:
    """A rule and where it sits: ``table``/``chain``/1-based ``index``."""

    table: str
    chain: str
    index: int
    rule: Rule

    def __str__(self) -> str:
        loc = self.rule.location
        where = f"{loc.file}:{loc.line}" if loc.line else "?"
        return f"{where} (-t {self.table} {self.chain} #{self.index})"


@dataclass(frozen=True, slots=True)
class DeadRule:
    """A rule that never takes effect, and the earlier rules that take its packets first."""

    kind: Kind
    ref: RuleAt
    culprits: tuple[RuleAt, ...] = ()
    covered_by_one: bool = False  # one earlier rule alone matches all of its packets


def is_deciding(rule: Rule) -> bool:
    tgt = rule.target
    if isinstance(tgt, t.Jump):
        return tgt.goto
    return isinstance(tgt, DECIDING)


class _Purity:
    """Whether jumping into a user chain may come back with tracked dimensions changed."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.memo: dict[str, tuple[Dim, ...]] = {}

    def widens(self, rule: Rule) -> tuple[Dim, ...]:
        tgt = rule.target
        if isinstance(tgt, t.Jump) and not tgt.goto:
            return self.chain_widens(tgt.chain, frozenset())
        return _WIDENS.get(type(tgt), ())

    def chain_widens(self, name: str, stack: frozenset[str]) -> tuple[Dim, ...]:
        if name in self.memo:
            return self.memo[name]
        chain = self.table.chain(name)
        if chain is None or name in stack:
            return ()
        dims: set[Dim] = set()
        for rule in chain.rules:
            tgt = rule.target
            if isinstance(tgt, t.Jump):
                dims.update(self.chain_widens(tgt.chain, stack | {name}))
            else:
                dims.update(_WIDENS.get(type(tgt), ()))
        self.memo[name] = tuple(sorted(dims))
        return self.memo[name]


def _widen(reach: list[Box], space: Space, dims: tuple[Dim, ...]) -> list[Box]:
    out = []
    for b in reach:
        nb = list(b)
        for d in dims:
            nb[d] = space.full[d]
        out.append(tuple(nb))
    return out


def chain_space(family: int, chain: Chain) -> Space:
    """The partition of the header space by what this chain's rules mention."""
    return Space(family, (c for r in chain.rules for c in region_of(r).constraints))


def analyse_chain(family: int, table: Table, chain: Chain, purity: _Purity | None = None) -> list[DeadRule]:
    """Rules of one chain that no packet reaches; see the module docstring for soundness."""
    purity = purity or _Purity(table)
    space = chain_space(family, chain)
    reach: list[Box] = [space.full]
    deciders: list[tuple[int, Rule, Box]] = []
    dead: list[DeadRule] = []
    for idx, rule in enumerate(chain.rules, start=1):
        region: Region = region_of(rule)
        box = space.box(region.constraints)
        ref = RuleAt(table.name, chain.name, idx, rule)
        if region.never or is_empty(box):
            dead.append(DeadRule("never-matches", ref))
            continue
        if not any(intersects(r, box) for r in reach):
            dead.append(_classify(ref, box, deciders))
            continue
        if is_deciding(rule):
            if region.exact:
                reach = _cut(reach, box)
                deciders.append((idx, rule, box))
        else:
            dims = purity.widens(rule)
            if dims:
                reach = _widen(reach, space, dims)
    return dead


def _cut(reach: list[Box], box: Box) -> list[Box]:
    out: list[Box] = []
    for r in reach:
        out.extend(subtract(r, box))
    if len(out) <= MAX_BOXES:
        return out
    # too fragmented: only drop what the rule covers entirely (still an over-approximation)
    return [r for r in reach if not contains(box, r)]


def _classify(ref: RuleAt, box: Box, deciders: list[tuple[int, Rule, Box]]) -> DeadRule:
    culprits = [(i, r, b) for i, r, b in deciders if intersects(b, box)]
    one = any(contains(b, box) for _, _, b in culprits)
    if one:  # prefer naming the single covering rule
        culprits = [c for c in culprits if contains(c[2], box)][:1]
    same = all(r.target == ref.rule.target for _, r, _ in culprits)
    refs = tuple(RuleAt(ref.table, ref.chain, i, r) for i, r, _ in culprits[:8])
    return DeadRule("redundant" if same else "shadowed", ref, refs, one)


def analyse_policy_tail(family: int, table: Table, chain: Chain, budget: int = 400) -> list[DeadRule]:
    """Rules at the end of a built-in chain that do what the policy would do anyway.

    A deciding ACCEPT/DROP rule whose packets no later rule could match ends at the
    policy if removed; when the policy is the same verdict the rule changes nothing.
    """
    if chain.policy not in ("ACCEPT", "DROP"):
        return []
    want = t.Accept if chain.policy == "ACCEPT" else t.Drop
    space = chain_space(family, chain)
    out = []
    rules = chain.rules
    start = max(0, len(rules) - budget)
    boxes = [space.box(region_of(r).constraints) for r in rules[start:]]
    for k in range(len(rules) - 1, start - 1, -1):
        rule = rules[k]
        if type(rule.target) is not want:
            continue
        box = boxes[k - start]
        if all(not intersects(box, later) for later in boxes[k - start + 1:]):
            out.append(DeadRule("same-as-policy", RuleAt(table.name, chain.name, k + 1, rule)))
    return out


def analyse_ruleset(ruleset: Ruleset) -> list[DeadRule]:
    """Unreachable and redundant rules of every chain of every table."""
    out: list[DeadRule] = []
    for table in ruleset.tables:
        purity = _Purity(table)
        for chain in table.chains:
            out.extend(analyse_chain(ruleset.family, table, chain, purity))
            if chain.builtin:
                dead = {d.ref.index for d in out if d.ref.table == table.name and d.ref.chain == chain.name}
                out.extend(d for d in analyse_policy_tail(ruleset.family, table, chain) if d.ref.index not in dead)
    return out
