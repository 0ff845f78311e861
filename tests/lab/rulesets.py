"""Real rulesets from the corpus, made loadable by iptables-restore.

The moby iptablesdoc files are ``iptables -t T -S`` listings (several tables, each after a
``# table: T`` comment); iptables-restore wants ``*T`` / ``:CHAIN POLICY`` / ``-A`` / ``COMMIT``.
The conversion is mechanical (no rule text changes), so the kernel runs exactly the rules
Docker generated.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS_DIRS = (REPO / "fixtures" / "corpus", Path("/work/shared/corpus"))
TABLE_RE = re.compile(r"^# table: (\w+)")


def corpus(name: str) -> str:
    """The text of a corpus file (the repository copy first, else the shared corpus)."""
    for d in CORPUS_DIRS:
        if (d / name).exists():
            return (d / name).read_text()
    raise FileNotFoundError(f"corpus file {name} not found in {', '.join(map(str, CORPUS_DIRS))}")


def s_tables(text: str) -> dict[str, list[str]]:
    """``iptables -S`` blocks by table: {"filter": ["-P INPUT ACCEPT", ...], ...}."""
    tables: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        m = TABLE_RE.match(line)
        if m:
            current = tables.setdefault(m.group(1), [])
        elif line.strip() and not line.startswith("#"):
            if current is None:
                raise ValueError(f"rule before any '# table:' header: {line!r}")
            current.append(line.strip())
    return tables


def restore_from_s(tables: dict[str, list[str]]) -> str:
    """iptables-restore text for ``-S`` listings (policies, chains, then rules in order)."""
    out = []
    for table, lines in tables.items():
        out.append(f"*{table}")
        for line in lines:
            parts = line.split()
            if parts[0] == "-P":
                out.append(f":{parts[1]} {parts[2]} [0:0]")
            elif parts[0] == "-N":
                out.append(f":{parts[1]} - [0:0]")
        out += [line for line in lines if line.startswith("-A ")]
        out.append("COMMIT")
    return "\n".join(out) + "\n"


def iptablesdoc(*names: str, tables: tuple[str, ...] | None = None) -> str:
    """Restore text from moby iptablesdoc files; a later file's tables replace an earlier's.

    The ``-noproxy`` docs hold only the nat table ("filter is the same as with the proxy"),
    so ``iptablesdoc("…-usernet-portmap.S.txt", "…-usernet-portmap-noproxy.S.txt")`` is the
    complete ruleset of that daemon. ``tables`` keeps only those tables.
    """
    found: dict[str, list[str]] = {}
    for name in names:
        found.update(s_tables(corpus(name)))
    return restore_from_s({t: v for t, v in found.items() if tables is None or t in tables})


def without(text: str, *fragments: str) -> str:
    """The ruleset minus the rules containing any of ``fragments`` (a deliberately broken host)."""
    return "\n".join(line for line in text.splitlines()
                     if not (line.startswith("-A ") and any(f in line for f in fragments))) + "\n"


def with_rules(text: str, table: str, *rules: str, chains: tuple[str, ...] = ()) -> str:
    """Add ``-A``/``-I`` lines (and new ``chains``) at the end of ``table`` in restore text.

    ``-I CHAIN`` lines still go to the head of their chain: that is what iptables-restore does.
    """
    lines = text.splitlines()
    if f"*{table}" not in lines:
        lines += [f"*{table}", "COMMIT"]
    start = lines.index(f"*{table}")
    end = lines.index("COMMIT", start)
    lines[end:end] = list(rules)
    lines[start + 1:start + 1] = [f":{c} - [0:0]" for c in chains]
    return "\n".join(lines) + "\n"
