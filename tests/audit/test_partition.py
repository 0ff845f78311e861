"""The header-space partition: atoms, boxes and source classes."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from natsim.audit.sources import source_classes
from natsim.audit.space import Constraint, Dim, Space, contains, intersects, subtract
from tests.audit.conftest import ruleset_of

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"


def test_boxes_subtract_into_disjoint_pieces() -> None:
    sp = Space(4, [Constraint(Dim.DPORT, ((80, 80),)), Constraint(Dim.SRC, ((10, 20),))])
    a = sp.box([Constraint(Dim.DPORT, ((0, 1000),))])
    b = sp.box([Constraint(Dim.DPORT, ((80, 80),)), Constraint(Dim.SRC, ((10, 20),))])
    pieces = subtract(a, b)
    assert all(not intersects(p, b) for p in pieces)
    for i, p in enumerate(pieces):
        assert all(not intersects(p, q) for q in pieces[i + 1:])
    assert contains(a, b) and not contains(b, a)


def test_interface_wildcards_make_classes() -> None:
    sp = Space(4, [Constraint(Dim.IIF, (("br-", True),)), Constraint(Dim.IIF, (("br-1", False),)),
                   Constraint(Dim.IIF, (("eth0", False),))])
    names = [sp.representative(Dim.IIF, a) for a in sp.classes(Dim.IIF)]
    # br-1, eth0, another br-* name, and any other name
    assert len(names) == 4 and "br-1" in names and "eth0" in names
    other = [n for n in names if n not in ("br-1", "eth0")]
    assert sum(n.startswith("br-") for n in other) == 1


RULES = """*filter
:INPUT DROP [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -s 10.0.0.0/8 -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -s 192.168.1.0/24 -p tcp -m tcp --dport 22 -j ACCEPT
-A INPUT -s 172.16.0.0/12 -p tcp -m tcp --dport 443 -j ACCEPT
-A INPUT -i eth1 -s 100.64.0.0/10 -j ACCEPT
COMMIT
"""


def test_source_classes_merge_pieces_the_rules_treat_alike() -> None:
    rs = ruleset_of(RULES)
    ssh = source_classes(rs, 16, None, "eth0", 6, (22,))
    # 10/8 and 192.168.1/24 are inside the same rule set? no: different rules, so different classes;
    # everything else (including 172.16/12, which only port 443 names) is one class
    assert len(ssh) == 3
    assert ssh[0].representative == ipaddress.ip_address("198.51.100.7")
    other = int(ipaddress.ip_address("172.16.0.0"))
    assert any(lo <= other <= hi for lo, hi in ssh[0].ranges)
    https = source_classes(rs, 16, None, "eth0", 6, (443,))
    assert len(https) == 2
    # on eth1 the 100.64/10 rule counts too
    assert len(source_classes(rs, 16, None, "eth1", 6, (443,))) == 3


def test_source_class_labels_read_as_ranges_people_write() -> None:
    from natsim.audit.sources import describe_ranges

    v4 = ipaddress.IPv4Address
    r = lambda lo, hi: (int(v4(lo)), int(v4(hi)))  # noqa: E731
    # a /24 without its .1: two ranges, the second not one network (was "192.168.122.2/31 ..." as if cut off)
    assert describe_ranges((r("192.168.122.0", "192.168.122.0"), r("192.168.122.2", "192.168.122.255")), v4) \
        == "192.168.122.0, 192.168.122.2-192.168.122.255"
    # touching pieces of one class are one range, and a range that is a network is named as one
    assert describe_ranges((r("10.0.0.128", "10.0.0.255"), r("10.0.0.0", "10.0.0.127")), v4) == "10.0.0.0/24"
    four = tuple(r(f"10.0.{i}.0", f"10.0.{i}.9") for i in range(0, 8, 2))
    assert describe_ranges(four, v4) == "10.0.0.0-10.0.0.9, 10.0.2.0-10.0.2.9 ... (4 address ranges)"


def _classes_by_every_atom(prep, admitted, family) -> set[tuple[tuple[int, int], ...]]:
    """The source classes the plain way: every atom's signature, then atoms of one signature merged."""
    from natsim.audit.sources import CLIENT, _representative

    make = ipaddress.ip_address if family == 4 else ipaddress.IPv6Address
    client = int(CLIENT[family])
    n = len(prep.atoms)
    diff = [0] * (n + 1)
    for i in admitted:
        for h, spans, negated in prep.specific[i][1]:
            if negated:
                diff[0] ^= h
                diff[n] ^= h
            for lo, hi in spans:
                diff[lo] ^= h
                diff[hi] ^= h
    base = {a: sig for first, last, sig in prep.runs for a in range(first, last + 1)}  # missing: spoofed
    groups: dict[int, list[int]] = {}
    extra = 0
    for a in range(n):
        extra ^= diff[a]
        if a in base:
            groups.setdefault(base[a] ^ extra, []).append(a)
    out = set()
    for members in groups.values():
        ranges: list[list[int]] = []
        for a in members:
            lo, hi = prep.atoms.interval(a)
            if ranges and ranges[-1][1] + 1 == lo:
                ranges[-1][1] = hi
            else:
                ranges.append([lo, hi])
        ranges_t = tuple(map(tuple, ranges))
        if _representative(ranges_t, make, family) is not None or any(lo <= client <= hi for lo, hi in ranges_t):
            out.add(ranges_t)  # a class with no address to send from (240/4 only) is left out
    return out


@pytest.mark.parametrize("name", ["fffuu-tum-net-2015-09-03-large.rules", "fffuu-ugent.rules", "fffuu-sargon.rules",
                                  "fffuu-typical-home-user.rules", "free5gc-compose-docker-tailscale-sctp.rules",
                                  "fffuu-synology-ds414-ip6.rules", "generated kube node"])
def test_source_classes_by_sweep_equal_those_of_every_atom(name: str) -> None:
    from natsim.audit.sources import _group, _prepared
    from natsim.generate import kube_proxy
    from natsim.parse import parse_text

    text = kube_proxy(60) if name == "generated kube node" else (FIXTURES / name).read_text()
    rs = parse_text(text, name).ruleset
    specific = 0
    for iface in (None, "eth0"):
        prep = _prepared(rs, None, iface)
        entries = range(len(prep.specific))
        specific += len(entries)
        for admitted in [(), tuple(entries), tuple(entries[::2])] + [(i,) for i in entries[::max(1, len(entries) // 40)]]:
            got = {sc.ranges for sc in _group(prep, admitted, 10**6, rs.family)}
            assert got == _classes_by_every_atom(prep, admitted, rs.family), (iface, admitted)
    assert specific, "a ruleset with rules only some flows reach (else the sweep is not put to the test)"
