"""Parse iptables dumps and ipset dumps into natsim's model.

    >>> parsed = parse_text("*filter\\n:INPUT ACCEPT [0:0]\\n-A INPUT -p tcp --dport 22 -j DROP\\nCOMMIT\\n")
    >>> parsed.ruleset.chain("filter", "INPUT").rules[0].target
    Drop()

Formats are detected (see natsim.parse.reader): iptables-save (``-c`` counters too),
iptables-restore input, ``iptables -S`` (tables concatenated with ``# table: NAME``
comments), and ``ipset save`` via :func:`parse_ipset_text`.  A bad line raises
natsim.errors.InputError (file:line:column, found, expected); with ``lenient=True``
each bad line is reported in ``ParsedFile.diagnostics`` and left out.
"""

from __future__ import annotations

import os
from pathlib import Path

from natsim.errors import UsageError
from natsim.parse.ipset import parse_ipset_text
from natsim.parse.reader import ChainNote, ParsedFile, Reader

__all__ = ["ChainNote", "ParsedFile", "is_ipset_text", "parse_file", "parse_ipset_file", "parse_ipset_text", "parse_text"]


def is_ipset_text(text: str) -> bool:
    """Whether ``text`` looks like ``ipset save`` output (its first command is create/add)."""
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            return line.startswith(("create ", "add "))
    return False


def parse_text(text: str, filename: str = "<stdin>", lenient: bool = False, family: int | None = None,
               keep_text: bool = True) -> ParsedFile:
    """Parse a dump.  ``family`` 4 or 6 forces the address family; None detects it
    (an ``ip6tables-save`` header or the first address; IPv4 when nothing tells)."""
    if family not in (None, 4, 6):
        raise ValueError("family must be 4, 6 or None")
    return Reader(filename, lenient, family, keep_text).feed(text)


def _read(path: str | os.PathLike[str]) -> str:
    try:
        return Path(path).read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as err:
        raise UsageError(f"{path}: cannot read: {err.strerror or err}") from None


def parse_file(path: str | os.PathLike[str], lenient: bool = False, family: int | None = None,
               keep_text: bool = True) -> ParsedFile:
    """Parse the dump in file ``path`` (errors name the file as given)."""
    return parse_text(_read(path), str(path), lenient, family, keep_text)


def parse_ipset_file(path: str | os.PathLike[str]):
    """Parse an ``ipset save`` file."""
    return parse_ipset_text(_read(path), str(path))
