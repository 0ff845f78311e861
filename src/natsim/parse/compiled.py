"""A rule line's builder, compiled once per shape: the parser's hot path.

:func:`natsim.parse.rules.compile_rule` decides once per shape which word sets which
field; :meth:`Builder.rules <natsim.parse.rules.Builder.rules>` then walks those steps
for every line, dispatching on each step's kind.  Most of a big ruleset is a few shapes
repeated thousands of times, so this module turns a shape's recipe into straight-line
Python (generated source, compiled once per shape, like dataclasses' ``__init__``): each
value word is one dict lookup in the parse's caches, constant fields (the protocol, absent
options) are literals, the match tuple and the target come from caches keyed by the words
that decide them, and the Rule is built by the fast constructor of
:mod:`natsim.model.construct`.

Anything unusual goes back to the general path, which gives the same result or the
precise error: a cache miss calls the builder's converter (which fills the cache), and a
comma list (several rules from one line) or a bad value raises, after which the reader
runs :meth:`Builder.rules` on the line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import CodeType
from typing import TYPE_CHECKING, Any

from natsim.model.construct import fast_new
from natsim.model.ruleset import Rule
from natsim.parse.normalize import normalize

if TYPE_CHECKING:
    from natsim.parse.rules import Builder, MatchRecipe, RuleRecipe, TargetRecipe

#: "Not in the cache" where None is a cached value (a Rule field that is absent).
MISS: Any = object()


class Fallback(Exception):
    """Raised by a compiled builder for a line it leaves to :meth:`Builder.rules` (a comma list)."""


#: Compiled code per shape (recipes live as long as the reader's shape cache): None if not compiled.
_CODE: dict[object, CodeType | None] = {}

_new_rule = fast_new(Rule)

#: A compiled builder: (words, chains of the table, location, text) -> Rule.
Build = Callable[[list[str], dict[str, Any], Any, "str | None"], Rule]


def _key(indices: tuple[int, ...]) -> str:
    """Source of the cache key of some words, in the form ``operator.itemgetter`` gives it."""
    if not indices:
        return "()"
    if len(indices) == 1:
        return f"W[{indices[0]}]"
    return "(" + ", ".join(f"W[{i}]" for i in indices) + ")"


def source(recipe: RuleRecipe) -> str | None:
    """The Python source of ``build`` for a shape, or None when the general path should do it."""
    lines = ["def build(W, chains, location, text):"]
    fields = ["None"] * 9
    fields[6] = "()"
    for n, (pos, kind, index, negated) in enumerate(recipe.fast_basic):
        if kind in ("network", "interface"):
            lines += [f"    v{pos} = field{n}.get(W[{index}], MISS)",
                      f"    if v{pos} is MISS:",
                      f"        v{pos} = field({kind!r}, {negated}, W[{index}], {index})"]
            fields[pos] = f"v{pos}"
        elif kind in ("protocol", "flag"):
            fields[pos] = f"const{n}"  # fixed by the shape: computed when the shape is bound
        else:
            return None  # -c PKTS BYTES: rare, left to the general path
    if recipe.counters is not None:
        lines += [f"    cnt = counter_words.get(W[{recipe.counters}])",
                  "    if cnt is None:",
                  f"        cnt = counter_word(W[{recipe.counters}])"]
        fields[8] = "cnt"
    if recipe.matches:
        key = _key(tuple(i for mr in recipe.matches for i in mr.key_indices))
        lines += [f"    mt = match_tuples.get({key})",
                  "    if mt is None:",
                  f"        mt = match_tuple(W, {key})"]
        fields[6] = "mt"
    tr = recipe.target
    if tr is not None:
        fields[7] = "t"
        if tr.kind == "typed":
            key = _key(tr.key_indices)
            lines += [f"    t = targets.get({key})",
                      "    if t is None:",
                      "        t = target(W, chains)"]
        elif tr.kind == "goto":
            lines += [f"    t = gotos.get(W[{tr.name_index}])",
                      "    if t is None:",
                      f"        t = jump(W[{tr.name_index}], True)"]
        elif not tr.args:
            lines += [f"    name = W[{tr.name_index}]",
                      "    if name in chains:",
                      "        t = jumps.get(name)",
                      "        if t is None:",
                      "            t = jump(name, False)",
                      "    else:",
                      "        t = target(W, chains)"]
        else:
            lines += ["    t = target(W, chains)"]
    lines.append(f"    return new_rule({', '.join(fields)}, location, text)")
    return "\n".join(lines) + "\n"


def _code(recipe: Any, source: Callable[[Any], str | None]) -> CodeType | None:
    try:
        return _CODE[recipe]
    except KeyError:
        pass
    text = source(recipe)
    code = _CODE[recipe] = compile(text, f"<natsim shape builder {id(recipe):x}>", "exec") if text else None
    return code


def bind(recipe: RuleRecipe, builder: Builder, words: list[str]) -> Build | None:
    """The shape's builder for this parse (its caches and family); None: use the general path.

    ``words`` is the first line of the shape, for the values the shape fixes (the -p word:
    the shape key holds it).  Raises LineProblem when one is bad (e.g. ``-p foo``); the
    caller then leaves the line to the general path, which reports it in order.
    """
    code = _code(recipe, source)
    if code is None:
        return None
    ns: dict[str, Any] = {"MISS": MISS, "new_rule": _new_rule, "field": builder.field,
                          "counter_words": builder._counter_words, "counter_word": builder.counter_word}
    for n, (_pos, kind, index, negated) in enumerate(recipe.fast_basic):
        if kind in ("network", "interface"):
            ns[f"field{n}"] = builder.field_cache(kind, negated)
        elif kind == "flag":
            ns[f"const{n}"] = builder.neg(True, negated)
        elif kind == "protocol":
            ns[f"const{n}"] = builder.protocol_field(words[index], negated, index)
    if recipe.matches:
        tuples = builder.recipe_cache(recipe)
        matches = recipe.matches
        match = builder.match

        def match_tuple(words: list[str], key: Any) -> tuple[Any, ...]:
            got = tuples[key] = tuple([match(mr, words) for mr in matches])
            return got

        ns["match_tuples"], ns["match_tuple"] = tuples, match_tuple
    tr = recipe.target
    if tr is not None:
        ns["targets"] = builder.recipe_cache(tr)
        ns["target"] = _bound_target(builder, tr)
        ns["jumps"], ns["gotos"], ns["jump"] = builder.jump_cache(False), builder.jump_cache(True), builder.jump
    return _finish(ns, code)


def _bound_target(builder: Builder, recipe: Any) -> Callable[[list[str], dict[str, Any]], Any]:
    target = builder.target

    def bound(words: list[str], chains: dict[str, Any]) -> Any:
        return target(recipe, words, chains)

    return bound


def _finish(ns: dict[str, Any], code: CodeType) -> Build:
    exec(code, ns)  # noqa: S102 - source generated by source() from a recipe
    return ns.pop("build")  # type: ignore[no-any-return]


def maker_source(recipe: MatchRecipe | TargetRecipe) -> str | None:
    """Source of ``make(W)`` building a typed match or target from a line's words, one
    converter call per option in the line's order (so the first bad value is the one reported);
    None for what only the general path does (an option given twice, several value words)."""
    assert recipe.cls is not None
    lines = ["def make(W):"]
    args = {f.name: f"default_{f.name}" for f in dataclasses.fields(recipe.cls)}
    for n, step in enumerate(recipe.steps):
        if args[step.field] != f"default_{step.field}":
            return None  # nat_range options add up
        if step.kind in ("shorthand", "flag"):
            args[step.field] = f"const{n}"
        elif len(step.values) != 1:
            return None
        else:
            i = step.values[0]
            call = (f"neg_value({step.kind!r}, W[{i}], {step.negated}, {i})" if step.negatable
                    else f"value({step.kind!r}, W[{i}], {i})")
            lines.append(f"    v{n} = {call}")
            args[step.field] = f"v{n}"
    lines.append(f"    return normalize(new({', '.join(args.values())}), builder.family)")
    return "\n".join(lines) + "\n"


def maker(recipe: MatchRecipe | TargetRecipe, builder: Builder) -> Callable[[list[str]], Any] | None:
    """A compiled ``make(words)`` for a typed match or target recipe, or None."""
    cls = recipe.cls
    if cls is None:
        return None
    code = _code(recipe, maker_source)
    new = _CONSTRUCTORS.get(cls)
    if new is None:
        new = _CONSTRUCTORS[cls] = fast_new(cls)
    if code is None:
        return None
    ns: dict[str, Any] = {"new": new, "normalize": normalize, "builder": builder,
                          "neg_value": builder.neg_value, "value": builder.value}
    for f in dataclasses.fields(cls):
        ns[f"default_{f.name}"] = f.default
    for n, step in enumerate(recipe.steps):
        if step.kind in ("shorthand", "flag"):
            fixed = step.fixed if step.kind == "shorthand" else True
            ns[f"const{n}"] = builder.neg(fixed, step.negated) if step.negatable else fixed
    exec(code, ns)  # noqa: S102 - source generated by maker_source() from a recipe
    return ns.pop("make")  # type: ignore[no-any-return]


_CONSTRUCTORS: dict[type, Callable[..., Any]] = {}
