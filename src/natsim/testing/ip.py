"""Strategies for addresses and prefixes, built from small choices so that they shrink well.

Every address is drawn from a handful of readable bases (``10.0.0.0``, ``172.17.0.0``,
``192.0.2.0``, ``fd00::`` ...) plus a small offset, so a failing example shrinks to
``10.0.0.0`` or ``10.0.0.1`` rather than to an arbitrary 32-bit number.
"""

from __future__ import annotations

import functools
import ipaddress

from hypothesis import strategies as st

from natsim.model.values import AddressRange, IPAddress, IPNetwork

__all__ = [
    "V4_BASES", "V6_BASES", "address_ranges", "addresses", "ipv4_addresses", "ipv4_networks",
    "ipv6_addresses", "ipv6_networks", "networks",
]

#: Bases an address is built from, simplest first (hypothesis shrinks towards the first).
V4_BASES: tuple[str, ...] = (
    "10.0.0.0", "172.17.0.0", "192.0.2.0", "192.168.0.0", "198.51.100.0", "127.0.0.0",
    "0.0.0.0", "224.0.0.0", "255.255.255.0", "169.254.0.0",
)
V6_BASES: tuple[str, ...] = (
    "fd00::", "2001:db8::", "::", "fe80::", "fd49:efd7:54aa::", "ff02::", "::ffff:127.0.0.0",
)

_V4_PREFIXES = (32, 24, 16, 8, 0, 30, 28, 25, 31, 12, 20)
_V6_PREFIXES = (128, 64, 48, 0, 96, 112, 120, 127, 10, 8)


_LOW = st.integers(0, 15) | st.integers(16, 255)
_HIGH = st.integers(0, 3)
_SPAN = st.integers(0, 3) | st.integers(4, 300)


@functools.cache
def _bases(bases: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(bases)


@st.composite
def _offset_address(draw: st.DrawFn, bases: tuple[str, ...], family: int) -> IPAddress:
    base = int(ipaddress.ip_address(draw(_bases(bases))))
    # Mostly small offsets; occasionally one in the third octet/group so prefixes are crossed.
    low = draw(_LOW)
    high = draw(_HIGH)
    cls = ipaddress.IPv4Address if family == 4 else ipaddress.IPv6Address
    top = 2**32 if family == 4 else 2**128
    return cls((base + (high << (8 if family == 4 else 16)) + low) % top)


def ipv4_addresses() -> st.SearchStrategy[ipaddress.IPv4Address]:
    """IPv4 addresses near documentation, private, loopback and special bases."""
    return _offset_address(V4_BASES, 4)


def ipv6_addresses() -> st.SearchStrategy[ipaddress.IPv6Address]:
    """IPv6 addresses near ULA, documentation, link-local, loopback and mapped bases."""
    return _offset_address(V6_BASES, 6)


@functools.cache
def addresses(family: int = 4) -> st.SearchStrategy[IPAddress]:
    return ipv4_addresses() if family == 4 else ipv6_addresses()


@st.composite
def _networks(draw: st.DrawFn, family: int) -> IPNetwork:
    addr = draw(addresses(family))
    plen = draw(_PREFIXES[family])
    # The kernel keeps only the network part (iptables-save prints 10.0.0.0/8 for 10.1.2.3/8).
    return ipaddress.ip_network((addr, plen), strict=False)


_PREFIXES = {4: st.sampled_from(_V4_PREFIXES), 6: st.sampled_from(_V6_PREFIXES)}


def ipv4_networks() -> st.SearchStrategy[ipaddress.IPv4Network]:
    """Canonical IPv4 prefixes (host bits zero), as iptables-save prints them."""
    return _networks(4)


def ipv6_networks() -> st.SearchStrategy[ipaddress.IPv6Network]:
    """Canonical IPv6 prefixes (host bits zero)."""
    return _networks(6)


@functools.cache
def networks(family: int = 4) -> st.SearchStrategy[IPNetwork]:
    return _networks(family)


@functools.cache
def address_ranges(family: int = 4) -> st.SearchStrategy[AddressRange]:
    """``lo-hi`` with lo <= hi, as ``-m iprange`` and NAT targets take them."""
    return _address_ranges(family)


@st.composite
def _address_ranges(draw: st.DrawFn, family: int) -> AddressRange:
    lo = draw(addresses(family))
    span = draw(_SPAN)
    top = (2**32 if family == 4 else 2**128) - 1
    hi = type(lo)(min(int(lo) + span, top))
    return AddressRange(lo, hi)
