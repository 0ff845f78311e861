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

import re
from dataclasses import dataclass

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


def split_words(line: str) -> tuple[list[str], list[bool] | None]:
    """Words of a line, and which of them were quoted (None: no quotes on the line)."""
    if '"' not in line:
        return line.split(), None
    located = split_located(line)
    return [w.text for w in located], [w.quoted for w in located]


def is_flag(word: str) -> bool:
    """``--dport`` or ``-s`` but not ``-`` (a policy), ``-1`` or ``-5:10`` (values)."""
    return len(word) > 1 and word[0] == "-" and not word[1].isdigit()


def counters_of(word: str) -> tuple[int, int] | None:
    m = _COUNTERS.match(word)
    return (int(m.group(1)), int(m.group(2))) if m else None


def shape_key(words: list[str], quoted: list[bool] | None) -> tuple[str, ...]:
    """The shape of a line: terminal types, with the words that steer reading kept literal.

    Literal flags are prefixed ``-`` anyway; other kept words are tagged so that a
    module called ``V`` cannot be confused with a value.
    """
    key: list[str] = []
    keep = ""
    first = True
    for i, w in enumerate(words):
        if quoted is not None and quoted[i]:
            key.append("v:" + w if keep == "m" else "V")
            keep = ""
            first = False
            continue
        if keep and w == "!":
            key.append("!!")
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
        c = w[0]
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


def terminal_of(item: str, position: int) -> str:
    """The grammar terminal type of one shape-key item."""
    if item in ("TABLE", "CHAIN_DECL", "COMMIT", "COUNTERS", "V"):
        return "VALUE" if item == "V" else item
    if item[:2] in ("m:", "p:", "t:", "v:"):
        return "VALUE"
    if item in SPECIAL:
        return SPECIAL[item]
    if item == "!!":
        return "INTRA_BANG"
    if item in COMMANDS:
        return COMMANDS[item]
    return "FLAG"
