"""Small immutable values that rules are built from, in the manner of ``ipaddress``.

Every value is hashable and shared: the parser interns them, so a ruleset with
thousands of ``--dport 80`` holds one ``PortRange(80, 80)``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Generic, TypeVar, Union

T = TypeVar("T")

IPAddress = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


@dataclass(frozen=True, slots=True)
class Neg(Generic[T]):
    """An option value with iptables' ``!`` in front of it (or not)."""

    value: T
    negated: bool = False

    def test(self, result: bool) -> bool:
        """Apply the negation to a match result."""
        return result != self.negated


@dataclass(frozen=True, slots=True)
class PortRange:
    """``80`` or ``1000:2000``: inclusive at both ends."""

    lo: int
    hi: int

    def __contains__(self, port: object) -> bool:
        return isinstance(port, int) and self.lo <= port <= self.hi

    def __str__(self) -> str:
        return str(self.lo) if self.lo == self.hi else f"{self.lo}:{self.hi}"


@dataclass(frozen=True, slots=True)
class AddressRange:
    """``10.0.0.1-10.0.0.9`` as ``-m iprange`` and NAT targets write it; inclusive."""

    lo: IPAddress
    hi: IPAddress

    def __contains__(self, addr: object) -> bool:
        return (
            isinstance(addr, (ipaddress.IPv4Address, ipaddress.IPv6Address))
            and addr.version == self.lo.version
            and self.lo <= addr <= self.hi
        )

    def __str__(self) -> str:
        return str(self.lo) if self.lo == self.hi else f"{self.lo}-{self.hi}"


@dataclass(frozen=True, slots=True)
class MarkMask:
    """``0x40000/0xff0000``: a packet or connection mark matches when ``mark & mask == value``."""

    value: int
    mask: int = 0xFFFFFFFF

    def matches(self, mark: int) -> bool:
        return (mark & self.mask) == self.value

    def __str__(self) -> str:
        if self.mask == 0xFFFFFFFF:
            return hex(self.value)
        return f"{hex(self.value)}/{hex(self.mask)}"


@dataclass(frozen=True, slots=True)
class Interface:
    """An interface name as ``-i``/``-o`` write it; a trailing ``+`` is a prefix wildcard."""

    name: str

    def matches(self, ifname: str | None) -> bool:
        if ifname is None:
            return False
        if self.name.endswith("+"):
            return ifname.startswith(self.name[:-1])
        return ifname == self.name

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class NatRange:
    """What ``--to-destination``/``--to-source`` name: an address range and/or a port range.

    ``addresses`` is None for ``:8080`` (port only); ``ports`` is None when no port is given.
    """

    addresses: AddressRange | None
    ports: PortRange | None = None

    def __str__(self) -> str:
        addr = ""
        if self.addresses is not None:
            addr = str(self.addresses)
            if self.addresses.lo.version == 6 and self.ports is not None:
                addr = f"[{addr}]"
        if self.ports is None:
            return addr
        ports = str(self.ports).replace(":", "-")
        return f"{addr}:{ports}"
