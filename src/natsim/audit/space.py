"""The header space and its partition into classes that every rule treats alike.

A packet header is a point in a product of *dimensions* (source, destination,
interfaces, protocol, ports, ICMP type, fragment, conntrack state, TCP flags,
address types, packet type).  Each dimension is cut into *atoms* at every boundary
the rules mention, so that any rule's constraint on that dimension is a union of
whole atoms.  A set of atoms is an ``int`` bit mask, and a *box* (one mask per
dimension) is what one rule matches.  Box algebra over masks is exact and cheap,
which is what makes the shadowing analysis and the choice of one representative
per class possible on rulesets with thousands of rules.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum



class Dim(IntEnum):
    """The dimensions natsim reasons about; anything else a rule matches is *opaque*."""

    SRC = 0
    DST = 1
    IIF = 2
    OIF = 3
    PROTO = 4
    SPORT = 5
    DPORT = 6
    ICMP = 7  # type * 256 + code
    FRAG = 8  # 0: first or unfragmented, 1: a later fragment
    CTSTATE = 9
    TCPFLAGS = 10  # the 8 flag bits FIN SYN RST PSH ACK URG ECE CWR
    SRCTYPE = 11
    DSTTYPE = 12
    PKTTYPE = 13


DIMS: tuple[Dim, ...] = tuple(Dim)

#: conntrack states as ``-m conntrack`` sees them: a base state plus the SNAT/DNAT status bits
#: (only a tracked connection, NEW/ESTABLISHED/RELATED, can carry them).
CT_BASES = ("NEW", "ESTABLISHED", "RELATED")
CT_POINTS: tuple[tuple[str, bool, bool], ...] = tuple(
    (base, snat, dnat) for base in CT_BASES for snat in (False, True) for dnat in (False, True)
) + (("INVALID", False, False), ("UNTRACKED", False, False))

TCP_FLAG_BITS = ("FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR")

#: rtn_type names ``-m addrtype`` accepts, in kernel order (RTN_UNSPEC = 0 ...).
ADDR_TYPES = (
    "UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE",
    "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE",
)

PKT_TYPES = ("unicast", "broadcast", "multicast", "otherhost")

#: Points of the small enumerated dimensions (their atoms are the points themselves).
ENUM_SIZES = {
    Dim.FRAG: 2,
    Dim.CTSTATE: len(CT_POINTS),
    Dim.TCPFLAGS: 256,
    Dim.SRCTYPE: len(ADDR_TYPES),
    Dim.DSTTYPE: len(ADDR_TYPES),
    Dim.PKTTYPE: len(PKT_TYPES),
}

INTERVAL_DIMS = (Dim.SRC, Dim.DST, Dim.PROTO, Dim.SPORT, Dim.DPORT, Dim.ICMP)
INTERFACE_DIMS = (Dim.IIF, Dim.OIF)


def interval_universe(dim: Dim, family: int) -> int:
    """One past the largest value of an interval dimension."""
    if dim in (Dim.SRC, Dim.DST):
        return 1 << (32 if family == 4 else 128)
    if dim is Dim.PROTO:
        return 256
    return 65536


# --------------------------------------------------------------------------- constraints
# A constraint is what a rule says about one dimension, before atoms exist:
#   interval dims:  tuple of (lo, hi) inclusive intervals
#   interface dims: ("name", is_prefix) pairs
#   enum dims:      frozenset of point indices
# each with a negation flag.  Collect constraints first, then build the Space.


@dataclass(frozen=True, slots=True)
class Constraint:
    dim: Dim
    values: tuple  # intervals, interface patterns or enum points (see above)
    negated: bool = False


class IntervalAtoms:
    """Cuts of one interval dimension: atom i is [cuts[i], cuts[i+1])."""

    __slots__ = ("cuts",)

    def __init__(self, boundaries: Iterable[int], universe: int) -> None:
        points = {0, universe}
        points.update(b for b in boundaries if 0 < b < universe)
        self.cuts = sorted(points)

    def __len__(self) -> int:
        return len(self.cuts) - 1

    def mask(self, intervals: Sequence[tuple[int, int]]) -> int:
        m = 0
        for lo, hi in intervals:
            i = bisect.bisect_right(self.cuts, lo) - 1
            j = bisect.bisect_left(self.cuts, hi + 1)
            m |= ((1 << (j - i)) - 1) << i
        return m

    def representative(self, atom: int) -> int:
        return self.cuts[atom]

    def index_of(self, value: int) -> int:
        """The atom holding ``value``."""
        return bisect.bisect_right(self.cuts, value) - 1

    def interval(self, atom: int) -> tuple[int, int]:
        return self.cuts[atom], self.cuts[atom + 1] - 1


class InterfaceAtoms:
    """Interface names cut by every exact name and ``prefix+`` the rules mention.

    Atoms: each exact name; for each prefix, "some other name with this prefix"; and
    "any other name".  A representative name is produced for each atom.
    """

    __slots__ = ("names", "index", "prefixes")

    def __init__(self, patterns: Iterable[tuple[str, bool]]) -> None:
        exact: set[str] = set()
        prefixes: set[str] = set()
        for name, is_prefix in patterns:
            (prefixes if is_prefix else exact).add(name)
        self.prefixes = sorted(prefixes)
        names: list[str] = sorted(exact)
        # "other name with prefix p": p plus a suffix no mentioned name uses.
        for p in self.prefixes:
            longer = [q for q in self.prefixes if len(q) > len(p) and q.startswith(p)]
            names.append(_fresh_name(p, exact, longer))
        names.append(_fresh_name("", exact, self.prefixes))
        self.names = names
        self.index = {n: i for i, n in enumerate(names)}

    def __len__(self) -> int:
        return len(self.names)

    def mask(self, patterns: Sequence[tuple[str, bool]]) -> int:
        m = 0
        for name, is_prefix in patterns:
            for i, n in enumerate(self.names):
                if (n.startswith(name) if is_prefix else n == name):
                    m |= 1 << i
        return m

    def representative(self, atom: int) -> str:
        return self.names[atom]


def _fresh_name(prefix: str, taken: set[str], avoid_prefixes: Sequence[str] = ()) -> str:
    """An interface name starting with ``prefix`` that no rule names exactly (nor by a prefix to avoid)."""
    for i in range(10000):
        cand = f"{prefix}~{i}" if prefix else f"~if{i}"
        if cand not in taken and not any(cand.startswith(p) for p in avoid_prefixes):
            return cand
    raise AssertionError("no fresh interface name")  # pragma: no cover


Box = tuple[int, ...]


class Space:
    """The atoms of every dimension for one set of rules: turns constraints into boxes."""

    def __init__(self, family: int, constraints: Iterable[Constraint]) -> None:
        self.family = family
        bounds: dict[Dim, set[int]] = {d: set() for d in INTERVAL_DIMS}
        patterns: dict[Dim, set[tuple[str, bool]]] = {d: set() for d in INTERFACE_DIMS}
        for c in constraints:
            if c.dim in bounds:
                for lo, hi in c.values:
                    bounds[c.dim].add(lo)
                    bounds[c.dim].add(hi + 1)
            elif c.dim in patterns:
                patterns[c.dim].update(c.values)
        self.atoms: dict[Dim, IntervalAtoms | InterfaceAtoms | int] = {}
        for d in INTERVAL_DIMS:
            self.atoms[d] = IntervalAtoms(bounds[d], interval_universe(d, family))
        for d in INTERFACE_DIMS:
            self.atoms[d] = InterfaceAtoms(patterns[d])
        for d, n in ENUM_SIZES.items():
            self.atoms[d] = n
        self.full: Box = tuple((1 << self.size(d)) - 1 for d in DIMS)

    def size(self, dim: Dim) -> int:
        a = self.atoms[dim]
        return a if isinstance(a, int) else len(a)

    def mask(self, c: Constraint) -> int:
        a = self.atoms[c.dim]
        if isinstance(a, int):
            m = 0
            for p in c.values:
                m |= 1 << p
        else:
            m = a.mask(c.values)
        return (self.full[c.dim] & ~m) if c.negated else m

    def box(self, constraints: Iterable[Constraint]) -> Box:
        b = list(self.full)
        for c in constraints:
            b[c.dim] &= self.mask(c)
        return tuple(b)

    def classes(self, dim: Dim, mask: int | None = None) -> list[int]:
        """Atom indices of a dimension (within ``mask``): one per equivalence class."""
        m = self.full[dim] if mask is None else mask
        out = []
        i = 0
        while m:
            if m & 1:
                out.append(i)
            m >>= 1
            i += 1
        return out

    def representative(self, dim: Dim, atom: int) -> object:
        """A concrete value of the class: an int for intervals, a name for interfaces, a point index."""
        a = self.atoms[dim]
        if isinstance(a, int):
            return atom
        return a.representative(atom)


# --------------------------------------------------------------------------- box algebra


def is_empty(box: Box) -> bool:
    return any(m == 0 for m in box)


def intersects(a: Box, b: Box) -> bool:
    for x, y in zip(a, b):
        if not x & y:
            return False
    return True


def contains(outer: Box, inner: Box) -> bool:
    for o, i in zip(outer, inner):
        if i & ~o:
            return False
    return True


def subtract(a: Box, b: Box) -> list[Box]:
    """``a - b`` as disjoint boxes (at most one per dimension where ``b`` cuts ``a``)."""
    if not intersects(a, b):
        return [a]
    pieces: list[Box] = []
    cur = list(a)
    for d, (x, y) in enumerate(zip(a, b)):
        rest = x & ~y
        if rest:
            piece = list(cur)
            piece[d] = rest
            pieces.append(tuple(piece))
            cur[d] = x & y
    return pieces
