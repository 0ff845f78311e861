"""Structural diff of two rulesets: tables, chains and rules added, removed, moved or changed.

A rule's identity is its model value without counters (``Rule`` equality already ignores where
and how it was written), so ``-p tcp --dport 80`` and ``-p tcp -m tcp --dport 80`` are the same
rule and renumbering (an insert above) changes nothing.  Per chain the two rule lists are
aligned on that identity with difflib's longest-matching-blocks (an LCS in practice, linear on
the near-identical lists that diffs mostly see); identical rules left over on both sides are
*moved*, and the remaining removed/added pairs that share most of their options are *changed*.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from natsim.model.options import option_fields
from natsim.model.ruleset import TABLE_ORDER, Chain, IpSets, Rule, Ruleset, SetEntry, Table

RuleChangeKind = Literal["added", "removed", "moved", "changed", "counters"]
ChainChangeKind = Literal["added", "removed", "policy", "counters"]

#: Below this share of common options a removed and an added rule are reported apart.
SIMILARITY_THRESHOLD = 0.5


@dataclass(frozen=True, slots=True)
class Place:
    family: int
    table: str
    chain: str

    def __str__(self) -> str:
        fam = "ip6tables" if self.family == 6 else "iptables"
        return f"{fam} -t {self.table} {self.chain}"


@dataclass(frozen=True, slots=True)
class RuleChange:
    kind: RuleChangeKind
    place: Place
    old_index: int | None  # 1-based position in the old chain
    new_index: int | None
    old: Rule | None
    new: Rule | None
    similarity: float | None = None  # for "changed"
    differs: tuple[str, ...] = ()  # for "changed": the options that differ ("-m tcp --dport", "-j ACCEPT")


@dataclass(frozen=True, slots=True)
class ChainChange:
    kind: ChainChangeKind
    place: Place
    old: Chain | None
    new: Chain | None


@dataclass(frozen=True, slots=True)
class TableChange:
    kind: Literal["added", "removed"]
    family: int
    table: str
    rules: int  # how many rules the table holds


@dataclass(frozen=True, slots=True)
class IpSetChange:
    """A set added or removed, its type/options changed, or entries added/removed (``ipset save``)."""

    kind: Literal["added", "removed", "changed"]
    name: str
    added: tuple[str, ...] = ()  # entries (element and options, as ipset save writes them)
    removed: tuple[str, ...] = ()
    header_changed: bool = False  # type or create options differ


@dataclass(frozen=True)
class StructuralDiff:
    tables: tuple[TableChange, ...] = ()
    chains: tuple[ChainChange, ...] = ()
    rules: tuple[RuleChange, ...] = ()
    ipsets: tuple[IpSetChange, ...] = ()

    @property
    def equal(self) -> bool:
        return not (self.tables or self.chains or self.rules or self.ipsets)

    def count(self, kind: str) -> int:
        return sum(1 for r in self.rules if r.kind == kind)


def rule_identity(rule: Rule) -> Rule:
    """What makes two rules the same rule: everything but counters (location/text never compare)."""
    return dataclasses.replace(rule, counters=None) if rule.counters is not None else rule


_HEADER_FLAGS = {"source": "-s", "destination": "-d", "in_interface": "-i", "out_interface": "-o",
                 "protocol": "-p", "fragment": "-f"}


def _features(obj: object, prefix: str) -> Iterable[tuple[str, object]]:
    fields = option_fields(type(obj))
    if fields:
        for name, spec in fields:
            value = getattr(obj, name)
            if value is not None:
                yield (f"{prefix} {spec.canonical}", value)
    elif dataclasses.is_dataclass(obj):
        for f in dataclasses.fields(obj):
            yield (f"{prefix} {f.name}", getattr(obj, f.name))
    yield (prefix, None)  # the module/target itself


def rule_features(rule: Rule) -> frozenset[tuple[str, object]]:
    """The options of a rule as (where, value) pairs; two rules' overlap measures their similarity."""
    out: set[tuple[str, object]] = set()
    for name, flag in _HEADER_FLAGS.items():
        value = getattr(rule, name)
        if value is not None:
            out.add((flag, value))
    for i, match in enumerate(rule.matches):
        name = getattr(match, "module", type(match).__name__)
        nth = sum(1 for m in rule.matches[:i] if getattr(m, "module", None) == name)
        out.update(_features(match, f"-m {name}" + (f"#{nth + 1}" if nth else "")))
    if rule.target is not None:
        out.update(_features(rule.target, f"-j {rule.target.name}"))
    return frozenset(out)


def differing_options(a: Rule, b: Rule) -> tuple[str, ...]:
    """Which options two rules disagree on, by where they sit (``-m tcp --dport``, ``-j``, ``-s``)."""
    fa, fb = rule_features(a), rule_features(b)
    keys = {k for k, _v in fa ^ fb}
    return tuple(sorted(k for k in keys if not any(other != k and other.startswith(k + " ") for other in keys)))


def similarity(a: Rule, b: Rule) -> float:
    fa, fb = rule_features(a), rule_features(b)
    union = fa | fb
    return len(fa & fb) / len(union) if union else 1.0


#: Above this many removed x added pairs, a removed rule is only compared with added rules near its position.
FULL_PAIRING_LIMIT = 2500
PAIRING_WINDOW = 16


def _candidate_pairs(old: Sequence[Rule], new: Sequence[Rule], removed: list[int], added: list[int]
                     ) -> list[tuple[float, int, int]]:
    """(similarity, old index, new index) for the removed/added pairs worth comparing: all of them when few,
    else each removed rule against the added rules around the same relative position (linear, not quadratic)."""
    if not removed or not added:
        return []
    feats_old = {i: rule_features(old[i]) for i in removed}
    feats_new = {j: rule_features(new[j]) for j in added}

    def sim(i: int, j: int) -> float:
        fa, fb = feats_old[i], feats_new[j]
        union = len(fa | fb)
        return len(fa & fb) / union if union else 1.0

    if len(removed) * len(added) <= FULL_PAIRING_LIMIT:
        return [(sim(i, j), i, j) for i in removed for j in added]
    out = []
    scale = len(added) / len(removed)
    for k, i in enumerate(removed):
        centre = int(k * scale)
        for j in added[max(0, centre - PAIRING_WINDOW): centre + PAIRING_WINDOW + 1]:
            out.append((sim(i, j), i, j))
    return out


def _counted(a: object, b: object) -> bool:
    """Counters differ, and both sides have them (a file without ``-c`` says nothing about counters)."""
    return a is not None and b is not None and a != b


def _chain_rules(place: Place, old: Sequence[Rule], new: Sequence[Rule], counters: bool) -> list[RuleChange]:
    a = [rule_identity(r) for r in old]
    b = [rule_identity(r) for r in new]
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    matched_old: set[int] = set()
    matched_new: set[int] = set()
    out: list[RuleChange] = []
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            i, j = block.a + k, block.b + k
            matched_old.add(i)
            matched_new.add(j)
            if counters and _counted(old[i].counters, new[j].counters):
                out.append(RuleChange("counters", place, i + 1, j + 1, old[i], new[j]))
    removed = [i for i in range(len(old)) if i not in matched_old]
    added = [j for j in range(len(new)) if j not in matched_new]
    # Moved: the same rule, out of order relative to the aligned rest.
    by_identity: dict[Rule, list[int]] = {}
    for j in added:
        by_identity.setdefault(b[j], []).append(j)
    still_removed: list[int] = []
    for i in removed:
        candidates = by_identity.get(a[i])
        if candidates:
            j = candidates.pop(0)
            added.remove(j)
            out.append(RuleChange("moved", place, i + 1, j + 1, old[i], new[j]))
        else:
            still_removed.append(i)
    # Changed: greedily pair the most similar removed/added rules (near each other when there are many).
    pairs = sorted(_candidate_pairs(old, new, still_removed, added), key=lambda t: (-t[0], abs(t[1] - t[2]), t[1], t[2]))
    paired_old: set[int] = set()
    paired_new: set[int] = set()
    for score, i, j in pairs:
        if score < SIMILARITY_THRESHOLD:
            break
        if i in paired_old or j in paired_new:
            continue
        paired_old.add(i)
        paired_new.add(j)
        out.append(RuleChange("changed", place, i + 1, j + 1, old[i], new[j], round(score, 3),
                              differing_options(old[i], new[j])))
    out += [RuleChange("removed", place, i + 1, None, old[i], None) for i in still_removed if i not in paired_old]
    out += [RuleChange("added", place, None, j + 1, None, new[j]) for j in added if j not in paired_new]
    out.sort(key=lambda c: (c.old_index or c.new_index or 0, c.new_index or 0))
    return out


def _table_diff(family: int, old: Table, new: Table, counters: bool) -> tuple[list[ChainChange], list[RuleChange]]:
    chains: list[ChainChange] = []
    rules: list[RuleChange] = []
    names = [c.name for c in old.chains] + [c.name for c in new.chains if old.chain(c.name) is None]
    for name in names:
        place = Place(family, old.name, name)
        a, b = old.chain(name), new.chain(name)
        if a is None or b is None:
            chains.append(ChainChange("added" if a is None else "removed", place, a, b))
            continue
        if a.policy != b.policy:
            chains.append(ChainChange("policy", place, a, b))
        elif counters and _counted(a.counters, b.counters):
            chains.append(ChainChange("counters", place, a, b))
        rules += _chain_rules(place, a.rules, b.rules, counters)
    return chains, rules


def _by_family(rulesets: Iterable[Ruleset]) -> dict[int, Ruleset]:
    out: dict[int, Ruleset] = {}
    for rs in rulesets:
        if rs.family in out:
            merged = out[rs.family].tables + tuple(t for t in rs.tables if out[rs.family].table(t.name) is None)
            out[rs.family] = Ruleset(rs.family, merged, out[rs.family].source)
        else:
            out[rs.family] = rs
    return out


def _order(name: str) -> tuple[int, str]:
    return (TABLE_ORDER.index(name) if name in TABLE_ORDER else len(TABLE_ORDER), name)


def structural_diff(old: Iterable[Ruleset], new: Iterable[Ruleset], *, counters: bool = False) -> StructuralDiff:
    """Compare two sets of rulesets (one per address family); counters only when asked."""
    a, b = _by_family(old), _by_family(new)
    tables: list[TableChange] = []
    chains: list[ChainChange] = []
    rules: list[RuleChange] = []
    for family in sorted(set(a) | set(b)):
        ra = a.get(family, Ruleset(family))
        rb = b.get(family, Ruleset(family))
        for name in sorted({t.name for t in ra.tables} | {t.name for t in rb.tables}, key=_order):
            ta, tb = ra.table(name), rb.table(name)
            if ta is None or tb is None:
                present = tb if ta is None else ta
                assert present is not None
                if _is_empty(present):
                    continue  # an empty table with ACCEPT policies is the same as no table
                n = sum(len(c.rules) for c in present.chains)
                tables.append(TableChange("added" if ta is None else "removed", family, name, n))
                continue
            c, r = _table_diff(family, ta, tb, counters)
            chains += c
            rules += r
    return StructuralDiff(tuple(tables), tuple(chains), tuple(rules))


def _entry_text(entry: SetEntry) -> str:
    return " ".join((entry.element, *entry.options))


def ipset_diff(old: IpSets | None, new: IpSets | None) -> tuple[IpSetChange, ...]:
    """Sets and entries that differ; nothing when either side's sets are unknown (None)."""
    if old is None or new is None:
        return ()
    out: list[IpSetChange] = []
    for name in dict.fromkeys([s.name for s in old.sets] + [s.name for s in new.sets]):
        a, b = old.get(name), new.get(name)
        if a is None or b is None:
            present = b if a is None else a
            assert present is not None
            entries = tuple(_entry_text(e) for e in present.entries)
            out.append(IpSetChange("added", name, added=entries) if a is None
                       else IpSetChange("removed", name, removed=entries))
            continue
        ea = {_entry_text(e) for e in a.entries}
        eb = {_entry_text(e) for e in b.entries}
        header = (a.type, a.options) != (b.type, b.options)
        if header or ea != eb:
            out.append(IpSetChange("changed", name, tuple(sorted(eb - ea)), tuple(sorted(ea - eb)), header))
    return tuple(out)


def _is_empty(table: Table) -> bool:
    """A table that filters nothing: only built-in chains, no rules, ACCEPT policies."""
    return all(c.builtin and not c.rules and c.policy == "ACCEPT" for c in table.chains)


__all__ = [
    "ChainChange", "IpSetChange", "Place", "RuleChange", "StructuralDiff", "TableChange",
    "ipset_diff", "rule_features", "rule_identity", "similarity", "structural_diff",
]
