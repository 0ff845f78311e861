"""Read a whole dump line by line into a :class:`natsim.model.Ruleset`.

Formats, detected per file:
  * iptables-save (with or without ``-c`` counters) and iptables-restore input:
    ``*table`` ... ``COMMIT`` blocks of ``:CHAIN`` declarations and ``-A/-I/-N/-P``.
  * ``iptables -S`` output (``-P/-N/-A`` lines without ``*table``), several tables
    concatenated: a ``# table: NAME`` (or ``... -t NAME -S``) comment starts a table's
    block; lines before any such comment belong to filter.

Per line: split into words (lexer), look up the shape's plan (grammar, cached),
then its recipe (rules, cached) and run it.  Errors become InputError with the
column of the offending word; with ``lenient`` they are collected and the line
is left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from natsim.errors import InputError
from natsim.gcpause import cyclic_gc_paused
from natsim.model.construct import fast_new
from natsim.model.location import Location
from natsim.model.ruleset import BUILTIN_CHAINS, TABLE_ORDER, Chain, Counters, Rule, Ruleset, Table
from natsim.parse.grammar import LinePlan, ShapeError, plan_of
from natsim.parse.lexer import (
    UnterminatedQuote,
    counters_of,
    line_key,
    remember,
    shape_key,
    split_located,
    split_words,
)
from natsim.parse.compiled import MISS, Build, Fallback, bind
from natsim.parse.rules import Builder, LineProblem, RuleRecipe, compile_rule

_TABLE_COMMENT = re.compile(r"#\s*table:\s*([A-Za-z_]+)|#.*\s-t\s+([A-Za-z_]+)\s+-S\b")
_POLICIES = ("ACCEPT", "DROP")
#: Names libiptc refuses to create a chain with (iptcc_create_chain: they are verdicts).
_VERDICTS = frozenset({"ACCEPT", "DROP", "QUEUE", "RETURN"})
_new_location = fast_new(Location)
_NOT_RULES = frozenset({"TABLE", "CHAIN_DECL", "COMMIT"})

#: Shapes already seen, across parses: shape key -> (LinePlan, RuleRecipe | None) | ShapeError | LineProblem.
_LINES: dict[tuple[str, ...], Any] = {}
#: The same entries, by :func:`natsim.parse.lexer.line_key` (cheaper to compute per line):
#: key -> (entry, word positions that must not be flags).
_FAST: dict[Any, tuple[Any, tuple[int, ...]]] = {}


@dataclass(frozen=True, slots=True)
class ChainNote:
    """Where a chain was declared, or first used without a declaration."""

    table: str
    chain: str
    location: Location
    declared: bool


@dataclass(frozen=True)
class ParsedFile:
    """What a file held: the ruleset, how it was written, and problems found on the way."""

    ruleset: Ruleset
    format: str  # "save" (iptables-save / -restore input) or "commands" (iptables -S)
    diagnostics: tuple[InputError, ...] = ()
    #: Chains used in a rule (``-A``) but never declared (``:CHAIN`` / ``-N``), first use.
    undeclared: tuple[ChainNote, ...] = ()
    #: Second and later declarations of the same chain in the same table.
    duplicates: tuple[ChainNote, ...] = ()


@dataclass(slots=True)
class _Chain:
    name: str
    policy: str | None
    counters: Counters | None
    location: Location
    rules: list[Rule] = field(default_factory=list)


def _compile(key: tuple[str, ...]) -> Any:
    """(plan, recipe or None) for a shape, or the ShapeError/LineProblem it raises."""
    try:
        plan = plan_of(key)
    except ShapeError as err:
        return err
    if plan.kind not in ("append", "insert"):
        return (plan, None)
    try:
        return (plan, compile_rule(plan, key))
    except LineProblem as err:
        return err


class Reader:
    """One parse of one text."""

    def __init__(self, filename: str, lenient: bool, family: int | None, keep_text: bool = True) -> None:
        self.filename = filename
        self.lenient = lenient
        self.keep_text = keep_text
        self.builder = Builder(family)
        self.builds: dict[RuleRecipe, Build | None] = {}  # compiled builders bound to this parse
        self.format: str | None = None
        self.tables: dict[str, dict[str, _Chain]] = {}
        self.table: str | None = None  # the open table
        self.table_location: Location | None = None
        self.diagnostics: list[InputError] = []
        self.undeclared: list[ChainNote] = []
        self.duplicates: list[ChainNote] = []
        self.declared: set[tuple[str, str]] = set()
        self.lineno = 0
        self.column = 1
        self.line = ""

    # -- errors -----------------------------------------------------------------------------
    def error(self, index: int, expected: str, found: str | None = None) -> InputError:
        try:
            words = split_located(self.line)
        except UnterminatedQuote:
            words = []
        if 0 <= index < len(words):
            column, found_word = words[index].column, words[index].text
        else:
            column, found_word = len(self.line.rstrip()) + 1, None
        if found is None:
            found = f"found '{found_word}'" if found_word is not None else "found end of line"
        elif not found.startswith("found"):
            found = f"found '{found}'"
        return InputError(self.filename, self.lineno, column, found, expected, self.line)

    def fail(self, err: InputError) -> None:
        if not self.lenient:
            raise err
        self.diagnostics.append(err)

    # -- lines ------------------------------------------------------------------------------
    def feed(self, text: str) -> ParsedFile:
        # The model is acyclic, so the cyclic garbage collector finds nothing to free while a
        # dump is read, yet its passes over the growing heap cost a fifth of the parse time.
        with cyclic_gc_paused():
            return self._feed(text)

    def _feed(self, text: str) -> ParsedFile:
        for lineno, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line:
                continue
            if line[0] == "#":
                self._comment(line)
                continue
            self.lineno, self.line = lineno, raw
            self.column = 1 if raw[0] == line[0] else len(raw) - len(raw.lstrip()) + 1
            try:
                self._line(line, raw)
            except InputError as err:
                self.fail(err)
        if self.format == "save" and self.table is not None:
            self.lineno, self.line = self.lineno + 1, ""
            self.fail(InputError(self.filename, self.lineno, 1, "found end of input",
                                 f"expected COMMIT to end table {self.table} (opened at line "
                                 f"{self.table_location.line if self.table_location else '?'})"))
        return self.result()

    def _comment(self, line: str) -> None:
        if "ip6tables-save" in line and line.startswith("# Generated by") and self.builder.family is None:
            self.builder.family = 6
        if self.format != "save":
            m = _TABLE_COMMENT.match(line)
            if m:
                name = m.group(1) or m.group(2)
                if name in BUILTIN_CHAINS:
                    self.format = "commands"
                    self.table = name
                    self.tables.setdefault(name, {})

    def _line(self, line: str, raw: str) -> None:
        if '"' in line:
            try:
                words, quoted = split_words(line)
            except UnterminatedQuote as err:
                offset = len(raw) - len(raw.lstrip())
                raise InputError(self.filename, self.lineno, err.column + offset, "found an unterminated '\"'",
                                 'expected a closing \'"\' on the same line', raw) from None
        else:
            words, quoted = line.split(), None
        fast = line_key(words, quoted)
        got = _FAST.get(fast) if fast is not None else None
        if got is not None:
            entry, checks = got
            for i in checks:
                w = words[i]
                if w[0] == "-" and len(w) > 1 and not w[1].isdigit():
                    got = None  # a flag never seen before: not this key's shape
                    break
        if got is None:
            key = shape_key(words, quoted)
            entry = _LINES.get(key)
            if entry is None:
                entry = _LINES[key] = _compile(key)
            if key[0] not in _NOT_RULES:
                known = remember(words, quoted, key)
                if known is not None:
                    _FAST[known[0]] = (entry, known[1])
        if entry.__class__ is not tuple:
            raise self.error(entry.index, entry.expected, getattr(entry, "found", None))
        plan, recipe = entry
        try:
            if recipe is not None:
                self._rule(words, recipe, line)
                return
            kind = plan.kind
            if kind == "chain_decl":
                self._chain_decl(words, plan)
            elif kind == "table_header":
                self._table_header(words)
            elif kind == "commit":
                self._commit()
            elif kind == "new_chain":
                self._new_chain(words, plan)
            elif kind == "policy":
                self._policy(words, plan)
        except LineProblem as err:
            raise self.error(err.index, err.expected, err.found) from None

    def _open_table(self) -> dict[str, _Chain]:
        if self.table is None:
            if self.format == "save":
                raise LineProblem(0, "expected *TABLE first: this line is outside a table (after COMMIT)")
            self.format = "commands"
            self.table = "filter"
        return self.tables.setdefault(self.table, {})

    def _table_header(self, words: list[str]) -> None:
        name = words[0][1:]
        if self.format == "commands":
            raise LineProblem(0, "expected -P/-N/-A lines: this file is in `iptables -S` form")
        if self.format == "save" and self.table is not None:
            raise LineProblem(0, f"expected COMMIT before a new table (table {self.table} is open)")
        if name not in BUILTIN_CHAINS:
            raise LineProblem(0, "expected one of the tables " + ", ".join(f"*{t}" for t in TABLE_ORDER))
        self.format = "save"
        if name in self.tables:
            raise LineProblem(0, f"expected each table once per file (*{name} appeared before); "
                                 "give iptables and ip6tables dumps as separate files")
        self.table = name
        self.table_location = Location(self.filename, self.lineno)
        self.tables[name] = {}

    def _commit(self) -> None:
        if self.table is None or self.format != "save":
            raise LineProblem(0, "expected *TABLE before COMMIT")
        self.table = None

    def _declare(self, name: str, policy: str | None, counters: Counters | None, index: int) -> None:
        chains = self._open_table()
        assert self.table is not None
        builtin = name in BUILTIN_CHAINS[self.table]
        location = Location(self.filename, self.lineno)
        if builtin and policy is None:
            raise LineProblem(index + 1 if index >= 0 else 0,
                              f"expected a policy (ACCEPT or DROP) for built-in chain {name}")
        if not builtin and policy is not None:
            raise LineProblem(index + 1, f"expected '-': {name} is not a built-in chain of {self.table}, "
                                         "so it has no policy")
        if (self.table, name) in self.declared:
            self.duplicates.append(ChainNote(self.table, name, location, True))
            if self.format == "save" and not builtin:
                chain = chains[name]
                chain.counters = counters if counters is not None else chain.counters
                return
        self.declared.add((self.table, name))
        existing = chains.get(name)
        if existing is None:
            chains[name] = _Chain(name, policy, counters, location)
        else:
            existing.policy = policy if policy is not None else existing.policy
            existing.counters = counters if counters is not None else existing.counters

    def _chain_decl(self, words: list[str], plan: LinePlan) -> None:
        if self.format != "save" or self.table is None:
            raise LineProblem(0, "expected *TABLE before chain declarations")
        name = words[0][1:]
        if not name:
            raise LineProblem(0, "expected a chain name after ':'")
        policy_word = words[plan.values[0]]
        counters = None
        if plan.counters is not None:
            c = counters_of(words[plan.counters])
            assert c is not None
            counters = self.builder.counters(*c)
        if policy_word == "-":
            policy = None
        elif policy_word in _POLICIES:
            policy = policy_word
        else:
            raise LineProblem(1, "expected ACCEPT, DROP or '-' as the chain's policy")
        self._check_chain_name(name, 0)
        self._declare(name, policy, counters, 0)

    def _check_chain_name(self, name: str, index: int) -> None:
        if not name:
            raise LineProblem(index, "expected a chain name")
        if len(name) > 28:
            raise LineProblem(index, "expected a chain name of at most 28 characters")
        if name.startswith("-") or name == "!":
            raise LineProblem(index, "expected a chain name not starting with '-' or '!'")
        if name in _VERDICTS:
            raise LineProblem(index, f"expected a chain name other than {name}, which iptables reserves "
                                     "for its verdict")
        if any(c in name for c in " \t\n\v\f\r"):
            raise LineProblem(index, "expected a chain name without blanks")

    def _new_chain(self, words: list[str], plan: LinePlan) -> None:
        index = plan.values[0]
        name = words[index]
        self._open_table()
        assert self.table is not None
        if name in BUILTIN_CHAINS[self.table]:
            raise LineProblem(index, f"expected a new chain name: {name} is built in")
        self._check_chain_name(name, index)
        self._declare(name, None, None, -1)

    def _policy(self, words: list[str], plan: LinePlan) -> None:
        chain_i, policy_i = plan.values
        counters = None
        for opt in plan.options:
            if words[opt.flag] not in ("-c", "--set-counters") or len(opt.values) != 2 or opt.bang is not None:
                raise LineProblem(opt.flag, "expected only -c PKTS BYTES after -P CHAIN POLICY")
            a, b = (words[i] for i in opt.values)
            if not (a.isdigit() and b.isdigit()):
                raise LineProblem(opt.values[0], "expected two counters (numbers) after -c")
            counters = self.builder.counters(int(a), int(b))
        self._open_table()
        assert self.table is not None
        name, policy = words[chain_i], words[policy_i]
        if name not in BUILTIN_CHAINS[self.table]:
            raise LineProblem(chain_i, f"expected a built-in chain of {self.table} (only they have policies)")
        if policy not in _POLICIES:
            raise LineProblem(policy_i, "expected ACCEPT or DROP as the policy")
        self._declare(name, policy, counters, chain_i - 1)

    def _rule(self, words: list[str], recipe: RuleRecipe, line: str) -> None:
        table = self.table
        chains = self.tables[table] if table is not None else self._open_table()
        table = self.table
        assert table is not None
        name = words[recipe.chain]
        location = _new_location(self.filename, self.lineno, self.column)
        chain = chains.get(name)
        if chain is None:
            if name in BUILTIN_CHAINS[table]:
                chain = chains[name] = _Chain(name, "ACCEPT", None, location)
            else:
                self._check_chain_name(name, recipe.chain)
                self.undeclared.append(ChainNote(table, name, location, False))
                chain = chains[name] = _Chain(name, None, None, location)
        text = line if self.keep_text else None
        build = self.builds.get(recipe, MISS)
        if build is MISS:
            build = self._bind(recipe, words)
        rules = None
        if build is not None:
            try:
                rule = build(words, chains, location, text)
            except (LineProblem, Fallback):
                pass  # the general path gives the rules of a comma list, or the located error
            else:
                if not recipe.insert:
                    chain.rules.append(rule)
                    return
                rules = [rule]
        if rules is None:
            rules = self.builder.rules(recipe, words, chains, location, text)
        if not recipe.insert:
            chain.rules.extend(rules)
            return
        pos = 1
        if recipe.position is not None:
            pos_word = words[recipe.position]
            if not pos_word.isdigit() or int(pos_word) < 1:
                raise LineProblem(recipe.position, "expected a rule position (1, 2, ...)")
            pos = int(pos_word)
        if pos > len(chain.rules) + 1:
            raise LineProblem(recipe.position,
                              f"expected a position of at most {len(chain.rules) + 1} (chain {name} has "
                              f"{len(chain.rules)} rules)")
        chain.rules[pos - 1:pos - 1] = rules

    def _bind(self, recipe: RuleRecipe, words: list[str]) -> Build | None:
        try:
            build = bind(recipe, self.builder, words)
        except LineProblem:
            return None  # a bad value the shape fixes (-p foo): the general path reports it, in order
        self.builds[recipe] = build
        return build

    # -- result -----------------------------------------------------------------------------
    def result(self) -> ParsedFile:
        self.builds.clear()  # compiled builders refer to the builder: no cycle outlives the parse
        self.builder.finish()
        family = self.builder.family or self.builder.family_hint or 4
        tables = []
        for tname in TABLE_ORDER:
            chains = self.tables.get(tname)
            if chains is None:
                continue
            out = []
            for cname in BUILTIN_CHAINS[tname]:
                c = chains.get(cname)
                if c is None:
                    out.append(Chain(cname, "ACCEPT"))
                else:
                    out.append(Chain(cname, c.policy or "ACCEPT", c.counters, tuple(c.rules), c.location))
            for cname in sorted(n for n in chains if n not in BUILTIN_CHAINS[tname]):
                c = chains[cname]
                out.append(Chain(cname, None, c.counters, tuple(c.rules), c.location))
            tables.append(Table(tname, tuple(out)))
        ruleset = Ruleset(family, tuple(tables), self.filename)
        return ParsedFile(ruleset, self.format or "save", tuple(self.diagnostics),
                          tuple(self.undeclared), tuple(self.duplicates))
