"""Load grammars/iptables.lark and turn a line's shape into a :class:`LinePlan`.

The grammar file is found as package data (``natsim/grammars``, a symlink to the
repository's ``grammars/`` in a checkout, a copy in a wheel) and, failing that, in the
repository root; see :func:`grammar_path`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedInput, UnexpectedToken
from lark.lexer import Lexer

from natsim.parse.lexer import terminal_of

GRAMMAR_NAME = "iptables.lark"

#: How errors name the grammar's terminals.
TERMINAL_WORDS = {
    "TABLE": "a table header (*filter)",
    "CHAIN_DECL": "a chain declaration (:NAME POLICY)",
    "COMMIT": "COMMIT",
    "COUNTERS": "counters [PKTS:BYTES]",
    "APPEND": "-A",
    "INSERT": "-I",
    "NEW_CHAIN": "-N",
    "POLICY": "-P",
    "MATCH": "-m MODULE",
    "JUMP": "-j TARGET",
    "GOTO": "-g CHAIN",
    "BANG": "'!'",
    "INTRA_BANG": "'!'",
    "FLAG": "an option",
    "VALUE": "a value",
    "$END": "end of line",
}


def grammar_path(name: str = GRAMMAR_NAME) -> Path:
    """Where a grammar file is: package data first, then the source checkout."""
    try:
        candidate = resources.files("natsim") / "grammars" / name
        if candidate.is_file():
            return Path(str(candidate))
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover
        pass
    checkout = Path(__file__).resolve().parents[3] / "grammars" / name
    if checkout.is_file():
        return checkout
    raise FileNotFoundError(f"natsim grammar {name} not found (looked in the natsim package and {checkout})")


class _ShapeLexer(Lexer):
    """Feeds lark the terminal types of a shape key; a token's value is the word index."""

    def __init__(self, lexer_conf) -> None:  # noqa: D401 - lark's signature
        pass

    def lex(self, data):  # type: ignore[override]
        for i, item in enumerate(data):
            yield Token(terminal_of(item, i), i, start_pos=i)


@lru_cache(maxsize=1)
def line_parser() -> Lark:
    return Lark(grammar_path().read_text(), parser="lalr", lexer=_ShapeLexer, start="line")


@dataclass(frozen=True, slots=True)
class OptionPlan:
    """One option of a line: ``[!] FLAG VALUE...``, ``-m NAME``, ``-j NAME`` or ``-g NAME``."""

    kind: str  # "flag" | "match" | "jump" | "goto"
    flag: int  # word index of the flag
    values: tuple[int, ...]  # word indices of the values
    bang: int | None = None  # word index of a '!' in front


@dataclass(frozen=True, slots=True)
class LinePlan:
    """What a line is and where its parts are (word indices)."""

    kind: str  # table_header | chain_decl | commit | append | insert | new_chain | policy
    values: tuple[int, ...] = ()  # positional values: chain, policy/position ...
    counters: int | None = None
    options: tuple[OptionPlan, ...] = ()


class ShapeError(Exception):
    """The shape is not a line of the grammar: at word ``index``, ``expected`` instead."""

    def __init__(self, index: int, expected: str) -> None:
        super().__init__(index, expected)
        self.index = index
        self.expected = expected


def _expected(err: UnexpectedInput) -> str:
    names = sorted(getattr(err, "expected", None) or getattr(err, "accepts", None) or ())
    words = [TERMINAL_WORDS.get(n, n) for n in names]
    if not words:
        return "expected nothing more"
    if len(words) == 1:
        return f"expected {words[0]}"
    return "expected " + ", ".join(words[:-1]) + " or " + words[-1]


def plan_of(shape: tuple[str, ...]) -> LinePlan:
    """Parse a shape key with the grammar (once per distinct shape; callers cache)."""
    try:
        tree = line_parser().parse(shape)
    except UnexpectedToken as err:
        index = err.token.start_pos if err.token.type != "$END" else len(shape)
        raise ShapeError(index if isinstance(index, int) else len(shape), _expected(err)) from None
    except UnexpectedInput as err:  # pragma: no cover - the shape lexer never fails
        raise ShapeError(len(shape), _expected(err)) from None
    line = tree.children[0]
    assert isinstance(line, Tree)
    values: list[int] = []
    counters: int | None = None
    options: list[OptionPlan] = []
    for child in line.children:
        if isinstance(child, Token):
            if child.type == "COUNTERS":
                counters = child.value
            elif child.type == "VALUE":
                values.append(child.value)
            continue
        toks = [t for t in child.children if isinstance(t, Token)]
        bang = toks[0].value if toks[0].type == "BANG" else None
        if bang is not None:
            toks = toks[1:]
        elif len(toks) > 1 and toks[1].type == "INTRA_BANG":
            bang = toks[1].value
            toks = toks[:1] + toks[2:]
        kind = child.data.removesuffix("_option")
        options.append(OptionPlan(kind, toks[0].value, tuple(t.value for t in toks[1:]), bang))
    return LinePlan(str(line.data), tuple(values), counters, tuple(options))
