"""The vendor model of a ruleset: tables of chains of rules, as iptables holds them.

Values are frozen.  ``location`` and ``text`` record where a rule was read and how
it was written; they are excluded from equality, so that a ruleset parsed from a
hand-written file equals the one parsed from the kernel's canonical output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from natsim.model.location import UNKNOWN_LOCATION, Location
from natsim.model.matches import Match
from natsim.model.targets import Target
from natsim.model.values import Interface, IPNetwork, Neg

#: Built-in chains per table, in the order iptables-save prints them.
BUILTIN_CHAINS: dict[str, tuple[str, ...]] = {
    "raw": ("PREROUTING", "OUTPUT"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "security": ("INPUT", "FORWARD", "OUTPUT"),
}

TABLE_ORDER: tuple[str, ...] = ("raw", "mangle", "nat", "filter", "security")


@dataclass(frozen=True, slots=True)
class Counters:
    packets: int
    bytes: int

    def __str__(self) -> str:
        return f"[{self.packets}:{self.bytes}]"


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``-A CHAIN ...`` line (after comma lists in -s/-d were expanded, one rule each)."""

    source: Neg[IPNetwork] | None = None
    destination: Neg[IPNetwork] | None = None
    in_interface: Neg[Interface] | None = None
    out_interface: Neg[Interface] | None = None
    protocol: Neg[str] | None = None  # lower-case name ("tcp") or number as written ("47")
    fragment: Neg[bool] | None = None  # -f
    matches: tuple[Match, ...] = ()
    target: Target | None = None  # None: a rule with no -j (it only counts)
    counters: Counters | None = None
    location: Location = field(default=UNKNOWN_LOCATION, compare=False)
    text: str | None = field(default=None, compare=False)  # the line as written, when kept


@dataclass(frozen=True, slots=True)
class Chain:
    name: str
    policy: str | None = None  # ACCEPT/DROP for built-in chains; None for user chains
    counters: Counters | None = None
    rules: tuple[Rule, ...] = ()
    location: Location = field(default=UNKNOWN_LOCATION, compare=False)

    @property
    def builtin(self) -> bool:
        return self.policy is not None


@dataclass(frozen=True)
class Table:
    name: str
    chains: tuple[Chain, ...] = ()

    @cached_property
    def by_name(self) -> dict[str, Chain]:
        return {c.name: c for c in self.chains}

    def chain(self, name: str) -> Chain | None:
        return self.by_name.get(name)


@dataclass(frozen=True)
class Ruleset:
    """All tables of one address family (``iptables-save`` is 4, ``ip6tables-save`` is 6)."""

    family: int = 4
    tables: tuple[Table, ...] = ()
    source: str = field(default="<unknown>", compare=False)  # file name or "live:legacy" ...

    @cached_property
    def by_name(self) -> dict[str, Table]:
        return {t.name: t for t in self.tables}

    def table(self, name: str) -> Table | None:
        return self.by_name.get(name)

    def chain(self, table: str, chain: str) -> Chain | None:
        t = self.by_name.get(table)
        return t.chain(chain) if t is not None else None

    def rule_count(self) -> int:
        return sum(len(c.rules) for t in self.tables for c in t.chains)


@dataclass(frozen=True, slots=True)
class SetEntry:
    """One ``add NAME ELEMENT [options]`` line of ``ipset save``; element as written."""

    element: str
    options: tuple[str, ...] = ()
    location: Location = field(default=UNKNOWN_LOCATION, compare=False)


@dataclass(frozen=True, slots=True)
class IpSet:
    """One ``create NAME TYPE [options]`` with its entries."""

    name: str
    type: str  # hash:net, hash:ip,port, bitmap:port, list:set ...
    options: tuple[str, ...] = ()  # e.g. ("family", "inet", "hashsize", "1024", ...)
    entries: tuple[SetEntry, ...] = ()
    location: Location = field(default=UNKNOWN_LOCATION, compare=False)

    @property
    def family(self) -> int:
        opts = self.options
        for i, word in enumerate(opts[:-1]):
            if word == "family":
                return 6 if opts[i + 1] == "inet6" else 4
        return 4


@dataclass(frozen=True)
class IpSets:
    """The contents of ``ipset save``.  Absent entirely (None where it is used) means *unknown*."""

    sets: tuple[IpSet, ...] = ()
    source: str = field(default="<unknown>", compare=False)

    @cached_property
    def by_name(self) -> dict[str, IpSet]:
        return {s.name: s for s in self.sets}

    def get(self, name: str) -> IpSet | None:
        return self.by_name.get(name)
