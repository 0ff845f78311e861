"""The header-space partition: atoms, boxes and source classes."""

from __future__ import annotations

import ipaddress

from natsim.audit.sources import source_classes
from natsim.audit.space import Constraint, Dim, Space, contains, intersects, subtract
from tests.audit.conftest import ruleset_of


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
    assert any("172.16.0.0" in f"{ipaddress.ip_address(lo)}" for lo, _ in ssh[0].ranges)
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
