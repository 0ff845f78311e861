"""Turn a rule line's plan into model objects, once per shape.

:func:`compile_rule` decides, for one shape, which option belongs to which match or
target the way iptables' getopt does it (basic options first, then the most recently
loaded extension that knows the option, unique prefixes allowed, then the protocol's
implicit match), and returns a :class:`RuleRecipe`.  Running a recipe on a line's
words only converts values; equal values, matches and targets are interned.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from natsim.model.construct import fast_new
from natsim.model.matches import MATCHES, Match, Tcp, TcpFlags, UnknownMatch
from natsim.model.options import OptionSpec, option_fields
from natsim.model.ruleset import Counters, Rule
from natsim.model.targets import TARGETS, Jump, Target, UnknownTarget
from natsim.model.values import Neg
from natsim.parse import kinds
from natsim.parse.compiled import MISS, Fallback, maker
from natsim.parse.grammar import LinePlan
from natsim.parse.names import IMPLICIT_MODULES, PROTOCOL_ALIASES, PROTOCOL_NAMES, PROTOCOL_NUMBERS
from natsim.parse.normalize import normalize


class LineProblem(Exception):
    """Something wrong at word ``index`` of a line; ``expected`` completes the message."""

    def __init__(self, index: int, expected: str, found: str | None = None) -> None:
        super().__init__(index, expected)
        self.index = index
        self.expected = expected
        self.found = found


#: The basic options of every rule: flag -> (Rule field, value kind).
BASIC: dict[str, tuple[str, str]] = {}
for _flags, _field, _kind in (
    (("-s", "--source", "--src"), "source", "network"),
    (("-d", "--destination", "--dst"), "destination", "network"),
    (("-i", "--in-interface"), "in_interface", "interface"),
    (("-o", "--out-interface"), "out_interface", "interface"),
    (("-p", "--protocol"), "protocol", "protocol"),
    (("-f", "--fragment"), "fragment", "flag"),
    (("-c", "--set-counters"), "counters", "counters"),
):
    for _flag in _flags:
        BASIC[_flag] = (_field, _kind)

#: Options that are shorthands for a field value: (class, flag) -> (field, value).
_SYN = TcpFlags(frozenset({"FIN", "SYN", "RST", "ACK"}), frozenset({"SYN"}))
SHORTHANDS: dict[tuple[type, str], tuple[str, object]] = {(Tcp, "--syn"): ("flags", _SYN)}


@dataclass(frozen=True, slots=True)
class Step:
    """Set one field from the words at ``values`` (converted by ``kind``)."""

    field: str
    kind: str
    values: tuple[int, ...]
    negated: bool
    negatable: bool
    fixed: object = None  # for shorthands: the value itself


@dataclass(slots=True)
class Owner:
    """A loaded extension while a line is being read: a match or the target."""

    role: str  # "match" | "target"
    name: str
    cls: type | None  # None: unknown to natsim (args kept verbatim) or a jump
    flags: dict[str, tuple[str, OptionSpec]]
    index: int  # word index of the name
    steps: list[Step] = dataclasses.field(default_factory=list)
    args: list[int] = dataclasses.field(default_factory=list)  # word indices, unknown extensions
    seen: dict[str, int] = dataclasses.field(default_factory=dict)


def _flag_table(cls: type) -> dict[str, tuple[str, OptionSpec]]:
    table: dict[str, tuple[str, OptionSpec]] = {}
    for name, spec in option_fields(cls):
        for flag in spec.flags:
            table[flag] = (name, spec)
    return table


_FLAG_TABLES: dict[type, dict[str, tuple[str, OptionSpec]]] = {}


def flag_table(cls: type) -> dict[str, tuple[str, OptionSpec]]:
    table = _FLAG_TABLES.get(cls)
    if table is None:
        table = _FLAG_TABLES[cls] = _flag_table(cls)
        for (owner_cls, flag), (fname, _v) in SHORTHANDS.items():
            if owner_cls is cls:
                table[flag] = (fname, OptionSpec((flag,), "shorthand", True, 0))
    return table


def protocol_name(word: str) -> str | None:
    """``TCP``/``6`` -> ``tcp``; ``all``/``0`` -> None (no protocol match); raises ValueProblem."""
    w = word.lower()
    if w in ("all", "0"):
        return None
    if w.isdigit():
        num = int(w)
        if num > 255:
            raise kinds.ValueProblem("expected a protocol number between 0 and 255")
        return PROTOCOL_NAMES.get(num, w)
    w = PROTOCOL_ALIASES.get(w, w)
    if w in PROTOCOL_NUMBERS:
        return w
    raise kinds.ValueProblem("expected a protocol name (tcp, udp, icmp, ...) or number")


def _words_getter(indices: tuple[int, ...]) -> Callable[[list[str]], Any]:
    """A fast ``words -> the words at indices`` (a hashable key for interning)."""
    if not indices:
        return lambda words: ()
    return operator.itemgetter(*indices)


# Recipes compare by identity (eq=False): they are interning keys, hashed per line.
@dataclass(frozen=True, slots=True, eq=False)
class MatchRecipe:
    """How to build one ``-m`` match (or, as TargetRecipe, the target) from a line's words."""

    name_index: int
    cls: type | None
    steps: tuple[Step, ...]
    args: tuple[int, ...]
    key_words: Callable[[list[str]], Any] = dataclasses.field(default=lambda words: ())
    key_indices: tuple[int, ...] = ()  # the words key_words picks


@dataclass(frozen=True, slots=True, eq=False)
class TargetRecipe(MatchRecipe):
    kind: str = "typed"  # "typed" | "named" (a chain or an unknown target, decided per line) | "goto"


#: Positions of the Rule fields a basic option sets (Rule's positional order).
RULE_POSITION = {"source": 0, "destination": 1, "in_interface": 2, "out_interface": 3, "protocol": 4,
                 "fragment": 5, "counters": 8}


@dataclass(frozen=True, slots=True, eq=False)
class RuleRecipe:
    chain: int
    position: int | None
    counters: int | None  # word index of a ``[p:b]`` prefix
    basic: tuple[Step, ...]
    matches: tuple[MatchRecipe, ...]
    target: TargetRecipe | None
    #: (Rule position, kind, word index or indices, negated) per basic option: the hot loop's form.
    fast_basic: tuple[tuple[int, str, Any, bool], ...] = ()
    insert: bool = False  # -I: at ``position`` (a word index) or at the head


#: What iptables accepts as a match, target or chain name after -m/-j/-g: 1 to 28 characters
#: (XT_EXTENSION_MAXNAMELEN - 1), no blank (libxtables' parse_target, xtables_find_match).
_EXTENSION_NAME = re.compile(r"[^ \t\n\v\f\r]{1,28}\Z")


def _name_problem(name: str, what: str) -> str:
    if not name:
        return f"expected a {what} (iptables refuses an empty one)"
    if len(name) > 28:
        return f"expected a {what} of at most 28 characters"
    return f"expected a {what} without blanks"


def _find_owner(owners: list[Owner], flag: str) -> tuple[Owner, str, OptionSpec] | None:
    for owner in reversed(owners):
        hit = owner.flags.get(flag)
        if hit is not None:
            return owner, hit[0], hit[1]
    if flag.startswith("--") and len(flag) > 2:
        found = [
            (owner, name, spec)
            for owner in reversed(owners)
            for f, (name, spec) in owner.flags.items()
            if f.startswith(flag) and f.startswith("--")
        ]
        distinct = {(id(o), name) for o, name, _s in found}
        if len(distinct) == 1:
            return found[0]
        if len(distinct) > 1:
            names = ", ".join(sorted({spec.canonical for _o, _n, spec in found}))
            raise LineProblem(-1, f"expected an unambiguous option ({flag} could be {names})")
    return None


def _owner_for(cls: type | None, role: str, name: str, index: int) -> Owner:
    return Owner(role, name, cls, flag_table(cls) if cls is not None else {}, index)


def _recipe(cls: type[MatchRecipe], owner: Owner, **extra: Any) -> Any:
    """The recipe of one option owner (a match or the target): its words, steps and interning key."""
    keys = _key_indices(owner)
    return cls(owner.index, owner.cls, tuple(owner.steps), tuple(owner.args), _words_getter(keys), keys, **extra)


def compile_rule(plan: LinePlan, key: tuple[str, ...]) -> RuleRecipe:
    """Decide what every word of this shape means (raises LineProblem)."""
    chain = plan.values[0]
    position = plan.values[1] if len(plan.values) > 1 else None
    basic: list[Step] = []
    basic_seen: dict[str, int] = {}
    owners: list[Owner] = []
    target: Owner | None = None
    target_kind = ""
    protocol: str | None = None
    protocol_negated = False
    for opt in plan.options:
        flag = key[opt.flag]
        if opt.kind == "match":
            name = key[opt.values[0]][2:]
            if not _EXTENSION_NAME.match(name):
                raise LineProblem(opt.values[0], _name_problem(name, "match module name"))
            owners.append(_owner_for(MATCHES.get(name), "match", name, opt.values[0]))
            continue
        if opt.kind in ("jump", "goto"):
            if target is not None:
                raise LineProblem(opt.flag, "expected one -j or -g per rule", found=flag)
            item = key[opt.values[0]]
            if opt.kind == "goto":
                target_kind, cls = "goto", None
            elif item.startswith("t:"):
                target_kind, cls = "typed", TARGETS[item[2:]]
            else:
                target_kind, cls = "named", None
            target = _owner_for(cls, "target", item, opt.values[0])
            owners.append(target)
            continue
        # A flag option: basic first, then the extensions, then the implicit protocol match.
        if flag in ("-t", "--table"):
            raise LineProblem(opt.flag, "expected no -t here: the table is given by *TABLE lines", found=flag)
        if flag in BASIC:
            field, kind = BASIC[flag]
            nargs = 0 if kind == "flag" else 2 if kind == "counters" else 1
            _check_nargs(opt, nargs, flag)
            if field in basic_seen:
                raise LineProblem(opt.flag, f"expected {flag} only once per rule", found=flag)
            if opt.bang is not None and field == "counters":
                raise LineProblem(opt.bang, f"expected no '!' before {flag}", found="!")
            basic_seen[field] = opt.flag
            basic.append(Step(field, kind, opt.values, opt.bang is not None, True))
            if field == "protocol":
                protocol = key[opt.values[0]][2:]
                protocol_negated = opt.bang is not None
            continue
        try:
            hit = _find_owner(owners, flag)
        except LineProblem as err:
            raise LineProblem(opt.flag, err.expected, found=flag) from None
        if hit is None:
            # The protocol's implicit match, if it knows the option (iptables' load_proto), comes
            # before an unknown extension, whose options natsim cannot know.
            implicit = _implicit(protocol, protocol_negated)
            if implicit is not None and not any(o.cls is MATCHES[implicit] for o in owners):
                candidate = _owner_for(MATCHES[implicit], "match", implicit, -1)
                try:
                    hit = _find_owner([candidate], flag)
                except LineProblem as err:
                    raise LineProblem(opt.flag, err.expected, found=flag) from None
                if hit is not None:
                    owners.append(candidate)
        if hit is None:
            unknown = [o for o in owners if o.cls is None and not (o.role == "target" and target_kind == "goto")]
            if unknown:
                owner = unknown[-1]
                owner.args.extend(([opt.bang] if opt.bang is not None else []) + [opt.flag, *opt.values])
                continue
            loaded = ", ".join(o.name for o in owners if o.role == "match")
            where = f" (loaded: -m {loaded})" if loaded else ""
            raise LineProblem(
                opt.flag, f"expected an option of -p, -m or -j{where}; natsim knows no such option", found=flag
            )
        owner, field, spec = hit
        if spec.kind == "shorthand":
            _check_nargs(opt, 0, flag)
            step = Step(field, "shorthand", (), opt.bang is not None, True, SHORTHANDS[(owner.cls, flag)][1])
        else:
            _check_nargs(opt, spec.nargs, flag)
            if opt.bang is not None and not spec.negatable:
                raise LineProblem(opt.bang, f"expected no '!' before {flag}: it cannot be negated", found="!")
            step = Step(field, spec.reader, opt.values, opt.bang is not None, spec.negatable)
        if field in owner.seen and spec.kind != "nat_range":
            raise LineProblem(opt.flag, f"expected {spec.canonical} only once in -m {owner.name}", found=flag)
        owner.seen[field] = opt.flag
        owner.steps.append(step)
    matches = tuple(_recipe(MatchRecipe, o) for o in owners if o.role == "match")
    target_recipe = None if target is None else _recipe(TargetRecipe, target, kind=target_kind)
    fast = tuple(
        (RULE_POSITION[s.field], s.kind, s.values if s.kind == "counters" else (s.values[0] if s.values else -1),
         s.negated)
        for s in basic
    )
    return RuleRecipe(chain, position, plan.counters, tuple(basic), matches, target_recipe, fast,
                      plan.kind == "insert")


def _key_indices(owner: Owner) -> tuple[int, ...]:
    """The words that decide what an owner builds: its values (and name and args if unknown)."""
    values = [i for s in owner.steps for i in s.values]
    if owner.cls is None:
        return (owner.index, *values, *owner.args)
    return tuple(values)


def _implicit(protocol: str | None, negated: bool) -> str | None:
    if protocol is None or negated:
        return None
    try:
        name = protocol_name(protocol)
    except kinds.ValueProblem:
        return None
    return IMPLICIT_MODULES.get(name or "")


def _check_nargs(opt: Any, nargs: int, flag: str) -> None:
    got = len(opt.values)
    if got == nargs:
        return
    if got > nargs:
        raise LineProblem(opt.values[nargs], f"expected {_count(nargs)} after {flag}")
    raise LineProblem(opt.flag, f"expected {_count(nargs)} after {flag}", found=flag)


def _count(n: int) -> str:
    return "no value" if n == 0 else "one value" if n == 1 else f"{n} values"


_new_neg = fast_new(Neg)
_new_counters = fast_new(Counters)


class Builder:
    """Runs recipes on words, sharing equal values; one per parse (it holds the family).

    Caches are keyed by the words themselves (one dict per value kind, per match or
    target recipe), so that a line whose values were all seen before costs a few dict
    lookups; :mod:`natsim.parse.compiled` reads the same caches.
    """

    def __init__(self, family: int | None) -> None:
        self.family = family
        self.family_hint: int | None = None
        self._values: dict[str, dict[str, Any]] = {}  # kind -> word -> value
        self._negs: dict[tuple[str, bool], dict[str, Neg[Any]]] = {}  # (kind, negated) -> word -> Neg
        self._fields: dict[tuple[str, bool], dict[str, Neg[Any] | None]] = {}  # Rule fields: None for -s 0/0
        self._objs: dict[Any, Any] = {}  # Neg of computed values, by (type name, value, negated)
        self._protocols: dict[tuple[str, bool], Neg[str] | None] = {}
        self._by_recipe: dict[object, dict[Any, Any]] = {}  # match/target/rule recipe -> key words -> object
        self._jumps: tuple[dict[str, Jump], dict[str, Jump]] = ({}, {})  # by goto: chain -> Jump
        self._counters: dict[tuple[int, int], Counters] = {}
        self._counter_words: dict[str, Counters] = {}  # "[p:b]" -> Counters
        self._makers: dict[object, Callable[[list[str]], Any]] = {}  # typed match/target recipe -> maker

    def finish(self) -> None:
        """Drop what refers back to this builder (compiled makers), so no cycle outlives a parse."""
        self._makers.clear()

    # -- values -------------------------------------------------------------------------
    def _convert(self, kind: str, word: str, index: int) -> Any:
        try:
            family_converter = kinds.FAMILY_CONVERTERS.get(kind)
            if family_converter is not None:
                value = family_converter(word, self.family)
            else:
                value = kinds.CONVERTERS[kind](word)
        except kinds.ValueProblem as err:
            raise LineProblem(index, err.expected) from None
        if kind in kinds.FAMILY_KINDS:
            fam = kinds.family_of(kind, value)
            if fam is not None:
                if self.family is None:
                    self.family = fam
                elif fam != self.family:
                    what = "address" if kind in kinds.ADDRESS_KINDS else "value"
                    raise LineProblem(index, f"expected an IPv{self.family} {what}: this ruleset is IPv{self.family}")
        return value

    def value(self, kind: str, word: str, index: int) -> Any:
        cache = self._values.get(kind)
        if cache is None:
            cache = self._values[kind] = {}
        got = cache.get(word, MISS)
        if got is MISS:
            got = cache[word] = self._convert(kind, word, index)
        return got

    def neg_cache(self, kind: str, negated: bool) -> dict[str, Neg[Any]]:
        cache = self._negs.get((kind, negated))
        if cache is None:
            cache = self._negs[(kind, negated)] = {}
        return cache

    def neg_value(self, kind: str, word: str, negated: bool, index: int) -> Neg[Any]:
        """``Neg(convert(word), negated)``, one shared object per distinct (kind, word, negated)."""
        cache = self.neg_cache(kind, negated)
        got = cache.get(word)
        if got is None:
            got = cache[word] = _new_neg(self._convert(kind, word, index), negated)
        return got

    def field_cache(self, kind: str, negated: bool) -> dict[str, Neg[Any] | None]:
        cache = self._fields.get((kind, negated))
        if cache is None:
            cache = self._fields[(kind, negated)] = {}
        return cache

    def field(self, kind: str, negated: bool, word: str, index: int) -> Neg[Any] | None:
        """A Rule's -s/-d/-i/-o field for one word; None for an unnegated 0.0.0.0/0 (no match)."""
        if kind == "network" and "," in word:
            raise Fallback
        if not word and kind == "interface":  # iptables: "Empty interface is likely to be undesired"
            raise LineProblem(index, "expected an interface name (iptables refuses an empty -i/-o)")
        got: Neg[Any] | None = self.neg_value(kind, word, negated, index)
        if kind == "network" and not negated and got.value.prefixlen == 0:  # type: ignore[union-attr]
            got = None  # -s 0.0.0.0/0 matches everything: the kernel keeps no address match
        self.field_cache(kind, negated)[word] = got
        return got

    def neg(self, value: Any, negated: bool) -> Neg[Any]:
        key = (type(value).__name__, value, negated)
        got = self._objs.get(key)
        if got is None:
            got = self._objs[key] = _new_neg(value, negated)
        return got

    def counters(self, packets: int, bytes_: int) -> Counters:
        key = (packets, bytes_)
        got = self._counters.get(key)
        if got is None:
            got = self._counters[key] = _new_counters(packets, bytes_)
        return got

    def counter_word(self, word: str) -> Counters:
        """Counters of a ``[PKTS:BYTES]`` word (the lexer has checked its form)."""
        a, _, b = word[1:-1].partition(":")
        got = self._counter_words[word] = self.counters(int(a), int(b))
        return got

    def protocol_field(self, word: str, negated: bool, index: int) -> Neg[str] | None:
        """A Rule's -p field: None for an unnegated ``all``/``0``."""
        key = (word, negated)
        got = self._protocols.get(key, MISS)
        if got is MISS:
            try:
                proto = protocol_name(word)
            except kinds.ValueProblem as err:
                raise LineProblem(index, err.expected) from None
            got = None if proto is None and not negated else self.neg(proto if proto is not None else "all", negated)
            self._protocols[key] = got
        if got is not None and got.value == "ipv6-icmp" and self.family_hint is None:
            self.family_hint = 6
        return got

    def _step_value(self, step: Step, words: list[str]) -> Any:
        if step.kind == "shorthand":
            value = step.fixed
        elif step.kind == "flag":
            value = True
        elif len(step.values) == 1:
            if step.negatable:
                return self.neg_value(step.kind, words[step.values[0]], step.negated, step.values[0])
            value = self.value(step.kind, words[step.values[0]], step.values[0])
        else:
            try:
                value = kinds.CONVERTERS[step.kind](*(words[i] for i in step.values))
            except kinds.ValueProblem as err:
                raise LineProblem(step.values[err.offset], err.expected) from None
        if step.negatable:
            return self.neg(value, step.negated)
        return value

    # -- matches and targets -------------------------------------------------------------
    def recipe_cache(self, recipe: object) -> dict[Any, Any]:
        """The objects built by one recipe (per shape), by the words that decide them."""
        cache = self._by_recipe.get(recipe)
        if cache is None:
            cache = self._by_recipe[recipe] = {}
        return cache

    def _fields_of(self, steps: tuple[Step, ...], words: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for step in steps:
            value = self._step_value(step, words)
            if step.kind == "nat_range" and step.field in out:
                value = out[step.field] + value
            out[step.field] = value
        return out

    def make(self, recipe: MatchRecipe | TargetRecipe, words: list[str]) -> Any:
        """A new typed match or target object from a line (the general path)."""
        assert recipe.cls is not None
        return normalize(recipe.cls(**self._fields_of(recipe.steps, words)), self.family)

    def _maker(self, recipe: MatchRecipe | TargetRecipe) -> Callable[[list[str]], Any]:
        got = self._makers.get(recipe)
        if got is None:
            got = self._makers[recipe] = maker(recipe, self) or (lambda words: self.make(recipe, words))
        return got

    def match(self, recipe: MatchRecipe, words: list[str]) -> Match:
        cache = self.recipe_cache(recipe)
        key = recipe.key_words(words)
        got = cache.get(key)
        if got is None:
            if recipe.cls is None:
                got = UnknownMatch(words[recipe.name_index], tuple(words[i] for i in recipe.args))
            else:
                got = self._maker(recipe)(words)
            cache[key] = got
        return got

    def target(self, recipe: TargetRecipe, words: list[str], chains: dict[str, Any]) -> Target:
        """The rule's target; ``-j NAME`` is a Jump when NAME is a chain of the table (now)."""
        kind = recipe.kind
        if kind == "typed":
            cache = self.recipe_cache(recipe)
            key = recipe.key_words(words)
            got = cache.get(key)
            if got is None:
                got = cache[key] = self._maker(recipe)(words)
            return got
        name = words[recipe.name_index]
        if not _EXTENSION_NAME.match(name):
            raise LineProblem(recipe.name_index, _name_problem(name, "target or chain name"))
        if kind == "goto":
            return self.jump(name, True)
        if not recipe.args and name in chains:
            return self.jump(name, False)
        args = tuple(words[i] for i in recipe.args)
        key2 = ("unknown-target", name, args)
        got = self._objs.get(key2)
        if got is None:
            got = self._objs[key2] = UnknownTarget(name, args)
        return got

    def jump_cache(self, goto: bool) -> dict[str, Jump]:
        return self._jumps[goto]

    def jump(self, chain: str, goto: bool) -> Jump:
        cache = self._jumps[goto]
        got = cache.get(chain)
        if got is None:
            if not _EXTENSION_NAME.match(chain):
                raise LineProblem(-1, _name_problem(chain, "chain name"))  # the general path locates it
            got = cache[chain] = Jump(chain, goto)
        return got

    # -- rules ----------------------------------------------------------------------------
    def rules(self, recipe: RuleRecipe, words: list[str], chains: dict[str, Any], location: Any,
              text: str | None) -> list[Rule]:
        """The rule(s) of one line, step by step (the general path; see :meth:`compiled`)."""
        vals: list[Any] = [None, None, None, None, None, None, (), None, None]
        expand: list[tuple[int, list[Any]]] | None = None
        for pos, kind, index, negated in recipe.fast_basic:
            if kind == "network" or kind == "interface":
                word = words[index]
                got = self.field_cache(kind, negated).get(word, MISS)
                if got is MISS:
                    if kind == "network" and "," in word:
                        if expand is None:
                            expand = []
                        expand.append((pos, self._comma_list(word, negated, index)))
                        continue
                    got = self.field(kind, negated, word, index)
                vals[pos] = got
            elif kind == "protocol":
                vals[4] = self.protocol_field(words[index], negated, index)
            elif kind == "flag":
                vals[pos] = self.neg(True, negated)
            else:  # counters: -c PKTS BYTES
                a, b = (words[i] for i in index)
                if not (a.isdigit() and b.isdigit()):
                    raise LineProblem(index[0] if not a.isdigit() else index[1], "expected a counter (a number)")
                vals[8] = self.counters(int(a), int(b))
        if recipe.counters is not None:
            vals[8] = self.counter_word(words[recipe.counters])
        if recipe.matches:
            vals[6] = tuple([self.match(mr, words) for mr in recipe.matches])
        if recipe.target is not None:
            vals[7] = self.target(recipe.target, words, chains)
        if expand is None:
            return [Rule(*vals, location, text)]  # type: ignore[arg-type]
        out = []
        for combo in itertools.product(*(v for _p, v in expand)):
            for (pos, _v), value in zip(expand, combo):
                vals[pos] = value
            out.append(Rule(*vals, location, text))  # type: ignore[arg-type]
        return out

    def _comma_list(self, word: str, negated: bool, index: int) -> list[Any]:
        """``-s a,b``: iptables makes one rule per address (a '!' cannot negate a list)."""
        if negated:
            raise LineProblem(index, "expected a single address: '!' cannot negate a comma list")
        nets = []
        for part in word.split(","):
            if not part:
                raise LineProblem(index, "expected a comma list of addresses without empty items")
            nets.append(self.neg_value("network", part, False, index))
        return nets
