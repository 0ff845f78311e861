"""Split a line into words as iptables-restore does, and classify them for the grammar.

Splitting: blanks separate words; a double quote opens a group that ends at the next
unescaped double quote, and inside it a backslash takes the next character literally
(iptables' ``add_param_to_argv``).  Single quotes are ordinary characters.  The fast
path (no double quote on the line) is ``str.split``; columns are only computed when
an error needs them.

Classification gives each word a terminal type of grammars/iptables.lark.  The
*shape key* of a line is the tuple of those types where words that decide how the
rest is read stay literal: option flags, ``-m`` module names, the ``-p`` protocol and
the names of typed ``-j`` targets.  Lines with the same shape key are built the same
way, so the grammar runs once per shape, not once per line.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from natsim.model.matches import MATCHES
from natsim.model.options import option_fields
from natsim.model.targets import TARGETS

#: Terminal types for literal words (first word or anywhere).
COMMANDS = {
    "-A": "APPEND", "--append": "APPEND",
    "-I": "INSERT", "--insert": "INSERT",
    "-N": "NEW_CHAIN", "--new-chain": "NEW_CHAIN",
    "-P": "POLICY", "--policy": "POLICY",
}
SPECIAL = {
    "-m": "MATCH", "--match": "MATCH",
    "-j": "JUMP", "--jump": "JUMP",
    "-g": "GOTO", "--goto": "GOTO",
    "!": "BANG",
}
_KEEP_NEXT = {"-m": "m", "--match": "m", "-p": "p", "--protocol": "p", "-j": "j", "--jump": "j"}
_COUNTERS = re.compile(r"\[(\d+):(\d+)\]\Z")


def _argument_flags() -> frozenset[str]:
    """Flags whose next word is always their value (getopt's required argument), even ``-A``."""
    takes: set[str] = {"-s", "--source", "--src", "-d", "--destination", "--dst", "-i", "--in-interface",
                       "-o", "--out-interface", "-p", "--protocol", "-m", "--match", "-j", "--jump", "-g", "--goto"}
    never: set[str] = set()
    for cls in (*MATCHES.values(), *TARGETS.values()):
        for _name, spec in option_fields(cls):
            (takes if spec.nargs >= 1 else never).update(spec.flags)
    return frozenset(takes - never)


#: ``--comment -A`` is a comment "-A": after these flags a word starting with '-' is a value.
ARGUMENT_FLAGS = _argument_flags()


class UnterminatedQuote(Exception):
    def __init__(self, column: int) -> None:
        super().__init__(column)
        self.column = column


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    column: int  # 1-based column of the word's first character
    quoted: bool = False


def split_located(line: str) -> list[Word]:
    """The words of ``line`` with their columns (the slow, exact path)."""
    words: list[Word] = []
    buf: list[str] = []
    start = -1
    quoted = False
    in_quote = False
    escaped = False
    quote_col = 0
    for i, ch in enumerate(line):
        if in_quote:
            if escaped:
                buf.append(ch)
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_quote = False
            else:
                buf.append(ch)
            continue
        if ch == '"':
            if start < 0:
                start = i
            in_quote = quoted = True
            quote_col = i + 1
        elif ch in " \t\r\n\f\v":
            if start >= 0:
                words.append(Word("".join(buf), start + 1, quoted))
                buf, start, quoted = [], -1, False
        else:
            if start < 0:
                start = i
            buf.append(ch)
    if in_quote:
        raise UnterminatedQuote(quote_col)
    if start >= 0:
        words.append(Word("".join(buf), start + 1, quoted))
    return words


_WORD = re.compile(r'(?:[^\s"]+|"(?:[^"\\]|\\.)*")+|"')
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(.)")


def _unquote(match: re.Match[str]) -> str:
    return _ESCAPE.sub(r"\1", match.group(1))


def split_words(line: str) -> tuple[list[str], list[bool] | None]:
    """Words of a line, and which of them were quoted (None: no quotes on the line).

    Same words as :func:`split_located`, fast; raises UnterminatedQuote (column from the
    exact path) for a quote that is not closed.
    """
    if '"' not in line:
        return line.split(), None
    if "\\" not in line:
        return _split_on_quotes(line)
    raw = _WORD.findall(line)
    if '"' in raw:
        return [w.text for w in split_located(line)], []  # raises UnterminatedQuote
    words = [(w.replace('"', "") if "\\" not in w else _QUOTED.sub(_unquote, w)) if '"' in w else w for w in raw]
    return words, ['"' in w for w in raw]


def _split_on_quotes(line: str) -> tuple[list[str], list[bool]]:
    """:func:`split_words` for a line with quotes but no backslash: quotes are only delimiters,
    so the line's pieces between quotes alternate between outside (split on blanks) and inside."""
    a = line.find('"')
    b = line.find('"', a + 1)
    if (b > 0 and line.find('"', b + 1) < 0 and (a == 0 or line[a - 1].isspace())
            and (b + 1 == len(line) or line[b + 1].isspace())):
        # One quoted word between blanks (a kube-proxy comment): the common case.
        head, tail = line[:a].split(), line[b + 1:].split()
        return [*head, line[a + 1:b], *tail], [False] * len(head) + [True] + [False] * len(tail)
    parts = line.split('"')
    if not len(parts) & 1:
        split_located(line)  # raises UnterminatedQuote with the column
    words: list[str] = []
    quoted: list[bool] = []
    glue = False  # the last word goes on: no blank between it and the next piece
    for i, part in enumerate(parts):
        if i & 1:
            if glue:
                words[-1] += part
                quoted[-1] = True
            else:
                words.append(part)
                quoted.append(True)
            glue = True
        elif part:
            pieces = part.split()
            if glue and not part[0].isspace():
                words[-1] += pieces.pop(0)
            words += pieces
            quoted += [False] * len(pieces)
            glue = not part[-1].isspace()
    return words, quoted


def is_flag(word: str) -> bool:
    """``--dport`` or ``-s`` but not ``-`` (a policy), ``-1`` or ``-5:10`` (values)."""
    return len(word) > 1 and word[0] == "-" and not word[1].isdigit()


def counters_of(word: str) -> tuple[int, int] | None:
    m = _COUNTERS.match(word)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _plain(word: str) -> bool:
    """A word that is a VALUE wherever it stands in a chain declaration."""
    return word == "-" or word[:1] not in ("-", "!", "[", "")


def shape_key(words: list[str], quoted: list[bool] | None) -> tuple[str, ...]:
    """The shape of a line (see the module docstring); rule lines take the fast path."""
    if words[0][:1] == ":" and not quoted and len(words) <= 3 and _plain(words[1] if len(words) > 1 else "-"):
        # `:NAME POLICY [p:b]`: thousands in a kube-proxy dump; what slow_shape_key gives, directly.
        if len(words) == 3:
            if _COUNTERS.match(words[2]):
                return _DECL_COUNTERS
        else:
            return _DECL if len(words) == 2 else _DECL[:1]
    if words and words[0][:1] == "-":
        return fast_shape_key(words, quoted)
    if len(words) > 1 and words[1][:1] == "-" and _COUNTERS.match(words[0]) and not (quoted and quoted[0]):
        return ("COUNTERS", *fast_shape_key(words[1:], quoted[1:] if quoted else None))
    return slow_shape_key(words, quoted)


_DECL = ("CHAIN_DECL", "V")
_DECL_COUNTERS = ("CHAIN_DECL", "V", "COUNTERS")


def slow_shape_key(words: list[str], quoted: list[bool] | None) -> tuple[str, ...]:
    """The shape of a line: terminal types, with the words that steer reading kept literal.

    Literal flags are prefixed ``-`` anyway; other kept words are tagged so that a
    module called ``V`` cannot be confused with a value.
    """
    key: list[str] = []
    keep = ""
    first = True
    for i, w in enumerate(words):
        if quoted and quoted[i] and not keep:
            key.append("V")
            first = False
            continue
        if keep and w == "!" and not (quoted and quoted[i]):
            if keep == "p" and i + 1 < len(words) and not is_flag(words[i + 1]) and words[i + 1] != "!":
                key.append("!!")  # -p ! tcp
                continue
            key.append("!")
            keep = ""
            continue
        if keep:
            if keep == "m":
                key.append("m:" + w)
            elif keep == "p":
                key.append("p:" + w.lower())
            elif w in TARGETS:
                key.append("t:" + w)
            else:
                key.append("V")
            keep = ""
            first = False
            continue
        c = w[:1]
        if not first and key and key[-1] in ARGUMENT_FLAGS and c == "-":
            key.append("V")
            continue
        if first:
            first = False
            if c == "*":
                key.append("TABLE")
                continue
            if c == ":":
                key.append("CHAIN_DECL")
                continue
            if w == "COMMIT":
                key.append("COMMIT")
                continue
            if c == "[" and _COUNTERS.match(w):
                key.append("COUNTERS")
                first = True
                continue
        if c == "-" and len(w) > 1 and not w[1].isdigit():
            key.append(w)
            keep = _KEEP_NEXT.get(w, "")
        elif w == "!":
            after_flag = key and key[-1][0] == "-" and key[-1] not in SPECIAL
            before_value = i + 1 < len(words) and not is_flag(words[i + 1]) and words[i + 1] != "!"
            key.append("!!" if after_flag and before_value else "!")
        elif c == "[" and _COUNTERS.match(w):
            key.append("COUNTERS")
        else:
            key.append("V")
    return tuple(key)


#: Flag words seen so far (and "!"), each mapped to itself: the fast path's lookup table.
_FLAG_ITEMS: dict[str, str] = {"!": "!"}
_KEEP_ITEMS = frozenset(_KEEP_NEXT)


def fast_shape_key(words: list[str], quoted: list[bool] | None = None) -> tuple[str, ...]:
    """The shape of a rule line (first word a flag), with few Python steps per word.

    :func:`slow_shape_key` gives the same key word by word; a test checks that on
    every corpus line.
    """
    get = _FLAG_ITEMS.get
    key = [get(w) or ("V" if w[:1] != "-" else "") for w in words]
    if quoted:
        for i, q in enumerate(quoted):
            if q:
                key[i] = "V"
    if "" in key:
        for i, item in enumerate(key):
            if not item:
                w = words[i]
                if is_flag(w):
                    _FLAG_ITEMS[w] = w
                    key[i] = w
                else:
                    key[i] = "V"
    for j, kind in _fix(key):
        w = words[j]
        if kind == "m":
            key[j] = "m:" + w
        elif kind == "p":
            key[j] = "p:" + w.lower()
        elif w in TARGETS:
            key[j] = "t:" + w
    return tuple(key)


def _fix(key: list[str]) -> list[tuple[int, str]]:
    """Context rules on a line's items, in place: values that look like flags, `-s ! ADDR`.

    Returns the positions of words kept literally (after -m, -p, -j) with their kind.
    """
    n = len(key)
    for i in range(1, n):
        if key[i - 1] in ARGUMENT_FLAGS and key[i][0] == "-" and key[i] != "V":
            key[i] = "V"
    if "!" in key:
        for i, item in enumerate(key):
            if item == "!" and 0 < i < n - 1:
                prev = key[i - 1]
                if prev[0] == "-" and prev not in SPECIAL and key[i + 1] == "V":
                    key[i] = "!!"
    literals = []
    for i, item in enumerate(key):
        if item in _KEEP_ITEMS:
            j = i + 1
            if j < n and key[j] == "!!":
                j += 1
            if j < n and key[j] == "V":
                literals.append((j, _KEEP_NEXT[item]))
    return literals


#: The words a line's cache key keeps: flags seen so far, '!', and the names after -m/-p/-j
#: seen so far (all typed targets from the start); every other word is None in the key.
_TOKENS: dict[str, str] = {w: w for w in (*COMMANDS, *SPECIAL, *TARGETS)}
_QUOTED_ITEM = object()  # a quoted word: always a value
_COUNTERS_ITEM = object()  # a valid [PKTS:BYTES] prefix


def line_key(words: list[str], quoted: list[bool] | None) -> tuple[object, ...] | None:
    """A cheap cache key for a rule line (-A/-I/-N/-P ..., maybe after [PKTS:BYTES]), or None.

    The key is each word that steers reading (see ``_TOKENS``) and None for the rest.  It
    determines the line's shape key, given :func:`remember`'s checks: a None word at a check
    position must not be a flag (a flag never seen before is None too).
    """
    key = list(map(_TOKENS.get, words))
    if quoted:
        for i in itertools.compress(itertools.count(), quoted):
            # A quoted word after -m/-p/-j steers reading like an unquoted one (`-j "DROP"` is
            # DROP), so a known word stays in the key: `-j "ACCEPT"` and `-j "DROP"` differ.
            tok = key[i]
            key[i] = _QUOTED_ITEM if tok is None else (_QUOTED_ITEM, tok)
    if key[0] is None:
        if words[0][0] != "[" or quoted and quoted[0] or not _COUNTERS.match(words[0]):
            return None
        key[0] = _COUNTERS_ITEM
    return tuple(key)


def remember(words: list[str], quoted: list[bool] | None,
             shape: tuple[str, ...]) -> tuple[tuple[object, ...], tuple[int, ...]] | None:
    """After a line's shape was found the slow way: register its steering words, and return its
    key with the positions to check (a None word read as a value outside any option's argument)."""
    for i, item in enumerate(shape):
        if item[:2] in ("m:", "p:", "t:") or (item[0] == "-" and item == words[i]):
            _TOKENS.setdefault(words[i], words[i])
    key = line_key(words, quoted)
    if key is None:
        return None
    checks = tuple(i for i, k in enumerate(key) if k is None and (i == 0 or shape[i - 1] not in ARGUMENT_FLAGS))
    return key, checks


def terminal_of(item: str, position: int) -> str:
    """The grammar terminal type of one shape-key item."""
    if item in ("TABLE", "CHAIN_DECL", "COMMIT", "COUNTERS", "V"):
        return "VALUE" if item == "V" else item
    if item[:2] in ("m:", "p:", "t:"):
        return "VALUE"
    if item in SPECIAL:
        return SPECIAL[item]
    if item == "!!":
        return "INTRA_BANG"
    if item in COMMANDS:
        return COMMANDS[item]
    return "FLAG"
