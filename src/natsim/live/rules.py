"""The live rulesets: which backend holds rules, read it, and say what else is there.

Both the legacy (x_tables) and the nf_tables backend can hold rules at once, and the kernel then
runs both.  natsim reads both, simulates the one that holds rules (the one ``iptables`` points to
when both or neither do), and warns about the other, as ``iptables-nft-save`` does (decision 0091).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Literal

from natsim.errors import EnvironmentProblem, NatsimError
from natsim.live.dumps import READERS, Backend, Dump, Reader, read_dump
from natsim.live.process import find_tool, netns_path, require_root, run_tool, tool_available
from natsim.model.ruleset import TABLE_ORDER, Ruleset, Table

BackendChoice = Literal["auto", "legacy", "nft"]
FAMILIES = (4, 6)


@dataclass(frozen=True)
class LiveRules:
    """What was read: one ruleset per family that has tables, and from where."""

    rulesets: tuple[Ruleset, ...]
    backend: Backend
    readers: tuple[str, ...]
    notes: tuple[str, ...] = ()
    other: tuple[Ruleset, ...] = ()  # the other backend's rules when it holds some (not simulated)


def holds_rules(ruleset: Ruleset) -> bool:
    """True when a ruleset filters or rewrites anything: a rule, a user chain or a non-ACCEPT policy."""
    return any(
        chain.rules or not chain.builtin or chain.policy != "ACCEPT"
        for table in ruleset.tables
        for chain in table.chains
    )


def parse_dump(dump: Dump) -> Ruleset:
    """Turn a dump into the model with the file parser (the one option parser natsim has)."""
    from natsim.parse import parse_text

    parsed = parse_text(dump.text, dump.source, family=dump.family)
    tables = tuple(sorted(parsed.ruleset.tables, key=_table_key))
    return Ruleset(dump.family, tables, dump.source)


def _table_key(table: Table) -> tuple[int, str]:
    name = table.name
    return (TABLE_ORDER.index(name) if name in TABLE_ORDER else len(TABLE_ORDER), name)


#: nf_tables tables that iptables-nft itself creates (family, name); any other is native nftables.
_IPTABLES_NFT_TABLES = {(fam, name) for fam in ("ip", "ip6") for name in ("filter", "nat", "mangle", "raw", "security")}


def native_nft_tables(netns: str | None) -> tuple[str, ...]:
    """nftables tables iptables-save cannot show (firewalld, Docker's nftables backend, ...)."""
    if not tool_available("nft-list-tables"):
        return ()
    out = run_tool("nft-list-tables", netns)
    if out.returncode != 0:
        return ()
    found = []
    for line in out.stdout.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "table" and (words[1], words[2]) not in _IPTABLES_NFT_TABLES:
            found.append(f"{words[1]} {words[2]}")
    return tuple(found)


def default_backend() -> Backend:
    """The backend the ``iptables`` command on this host uses (what users see with ``iptables -L``)."""
    exe = find_tool("iptables")
    if exe is not None and "legacy" in os.path.basename(os.path.realpath(exe)):
        return "legacy"
    return "nft"


def _read_backend(backend: Backend, family: int, netns: str | None, reader: Reader | None) -> Dump | str:
    """The backend's dump, or one sentence why it could not be read."""
    prefix = "ip6tables" if family == 6 else "iptables"
    chosen = reader or READERS[backend][0]
    tool = f"{prefix}-{'nft' if backend == 'nft' else 'legacy'}-save"
    if chosen != "python-iptables" and not tool_available(tool):
        return f"{tool} is not installed"
    try:
        return read_dump(backend, family, netns, chosen)
    except NatsimError as err:
        return str(err).removeprefix("natsim: ").rstrip(".")


def read_live_rules(
    netns: str | None = None, backend: BackendChoice = "auto", reader: Reader | None = None
) -> LiveRules:
    """Read the running kernel's rules (read-only) for IPv4 and IPv6, choosing the backend."""
    require_root()
    if netns is not None:
        netns_path(netns)  # one clear sentence when the namespace does not exist
    if not any(tool_available(t) for t in (
        "iptables-legacy-save", "iptables-nft-save", "ip6tables-legacy-save", "ip6tables-nft-save"
    )):
        raise EnvironmentProblem(
            "natsim: no iptables tools found (need iptables-nft-save or iptables-legacy-save; "
            "install the iptables package)."
        )
    notes: list[str] = []
    read: dict[tuple[Backend, int], Ruleset] = {}
    dumps: dict[tuple[Backend, int], Dump] = {}
    for b in ("legacy", "nft"):
        for family in FAMILIES:
            result = _read_backend(b, family, netns, reader if reader in READERS[b] else None)
            if isinstance(result, str):
                if backend == b and family == 4:
                    raise EnvironmentProblem(f"natsim: cannot read the {b} backend: {result}.")
                notes.append(f"could not read the {b} backend for IPv{family}: {result}")
            else:
                dumps[(b, family)] = result
                read[(b, family)] = parse_dump(result)
    with_rules = {b for (b, _f), rs in read.items() if holds_rules(rs)}
    if backend != "auto":
        chosen: Backend = backend
    elif len(with_rules) == 1:
        chosen = next(iter(with_rules))
    else:
        chosen = default_backend()
    other: Backend = "nft" if chosen == "legacy" else "legacy"
    where = f" in namespace {netns}" if netns else ""
    if other in with_rules:
        counts = sum(read[(other, f)].rule_count() for f in FAMILIES if (other, f) in read)
        notes.append(
            f"warning: the {other} backend also holds rules{where} ({counts} rules); the kernel runs both, "
            f"but natsim simulates only the {chosen} backend (choose with --backend)"
        )
    if not with_rules:
        notes.append(f"no rules in either backend{where}; read the {chosen} backend (empty)")
    native = native_nft_tables(netns)
    if native:
        notes.append(
            f"warning: nftables tables that iptables-save cannot show exist{where} ({', '.join(native)}); "
            "their rules also filter packets and are not simulated"
        )
    rulesets = tuple(rs for (b, f), rs in sorted(read.items(), key=lambda kv: kv[0][1])
                     if b == chosen and (rs.tables or f == 4))
    if not rulesets:
        rulesets = (Ruleset(4, (), f"live:{chosen}:iptables"),)
    for (b, _f), dump in sorted(dumps.items()):
        if b == chosen:
            notes += [w for w in dump.warnings if "tables present" not in w]
    used = tuple(sorted({d.reader for (b, _f), d in dumps.items() if b == chosen}))
    return LiveRules(
        rulesets=rulesets,
        backend=chosen,
        readers=used,
        notes=tuple(notes),
        other=tuple(rs for (b, _f), rs in read.items() if b == other and holds_rules(rs)),
    )
