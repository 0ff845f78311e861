"""The public strategies of natsim.testing generate well-formed, valid, small values."""

from __future__ import annotations

import dataclasses
import ipaddress

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from natsim.model import MATCHES, TARGETS, Jump, Neg
from natsim.model.options import option_fields
from natsim.model.ruleset import BUILTIN_CHAINS, Ruleset
from natsim.testing import netfilter as R
from natsim.testing import addresses, networks, rulesets
from natsim.testing.docker import docker_hosts, docker_ipsets, docker_rules
from natsim.testing.topology import destination_of, flow_of, scenarios, topology_of

#: A quarter of the profile's budget: 25 by default, 500 with --hypothesis-profile=deep.
FAST = settings(max_examples=max(10, settings().max_examples // 4), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def _walk_values(obj: object):
    """Every leaf value inside a rule (through Neg, tuples, matches, targets)."""
    if isinstance(obj, Neg):
        yield from _walk_values(obj.value)
    elif isinstance(obj, (tuple, list, frozenset)):
        for x in obj:
            yield from _walk_values(x)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _walk_values(getattr(obj, f.name))
    else:
        yield obj


def _hooks_reaching(ruleset: Ruleset) -> dict[tuple[str, str], set[str]]:
    reach: dict[tuple[str, str], set[str]] = {}
    for table in ruleset.tables:
        for builtin in BUILTIN_CHAINS[table.name]:
            stack = [builtin]
            while stack:
                name = stack.pop()
                key = (table.name, name)
                if builtin in reach.setdefault(key, set()):
                    continue
                reach[key].add(builtin)
                chain = table.chain(name)
                for r in chain.rules if chain else ():
                    if isinstance(r.target, Jump):
                        stack.append(r.target.chain)
    return reach


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("kernel", [False, True])
@FAST
@given(data=st.data())
def test_rulesets_are_valid(family: int, kernel: bool, data: st.DataObject) -> None:
    rs = data.draw(rulesets(family=family, kernel=kernel))
    assert rs.family == family
    reach = _hooks_reaching(rs)
    for table in rs.tables:
        names = [c.name for c in table.chains]
        assert len(names) == len(set(names))
        assert [c.name for c in table.chains if c.builtin] == list(BUILTIN_CHAINS[table.name])
        for chain in table.chains:
            for rule in chain.rules:
                target = rule.target
                if isinstance(target, Jump):
                    # only forward jumps into user chains: no loops, no undefined chains
                    assert target.chain in names and not table.chain(target.chain).builtin
                    assert chain.builtin or names.index(target.chain) > names.index(chain.name)
                elif target is not None and type(target).tables is not None:
                    assert table.name in type(target).tables
                if target is not None and not isinstance(target, Jump) and type(target).hooks is not None:
                    hooks = reach.get((table.name, chain.name)) or set(BUILTIN_CHAINS[table.name])
                    assert hooks <= type(target).hooks, (table.name, chain.name, target)
                if table.name == "nat":
                    assert type(target).__name__ not in ("Drop", "Reject")
                for v in _walk_values(rule):
                    if isinstance(v, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
                        assert v.version == family
                    if isinstance(v, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
                        assert v.version == family
                protos = {R.PROTOCOL_OF[type(m)] for m in rule.matches if type(m) in R.PROTOCOL_OF}
                if protos:
                    assert rule.protocol is not None and not rule.protocol.negated
                    assert protos == {rule.protocol.value}


def _expected_value_type(kind: str) -> tuple[type, ...]:
    from natsim.model.matches import IcmpType, TcpFlags
    from natsim.model.values import AddressRange, Interface, MarkMask, PortRange

    return {
        "flag": (bool,), "int": (int,), "str": (str,), "port": (int,), "port_range": (PortRange,),
        "port_list": (tuple,), "str_set": (frozenset,), "str_list": (tuple,),
        "network": (ipaddress.IPv4Network, ipaddress.IPv6Network),
        "address": (ipaddress.IPv4Address, ipaddress.IPv6Address), "address_range": (AddressRange,),
        "mark_mask": (MarkMask,), "tcp_flags": (TcpFlags,), "icmp_type": (IcmpType,), "icmp6_type": (IcmpType,), "nat_range": (tuple,),
        "port_nat": (PortRange,), "number_str": (str,), "interface": (Interface,), "set_ref": (tuple,),
    }[kind]


@pytest.mark.parametrize("cls", sorted(set(MATCHES.values()) | set(TARGETS.values()), key=lambda c: c.__name__))
def test_every_typed_class_is_generated_with_typed_fields(cls: type) -> None:
    """Driven by the option specs: each class, each field, a value of the field's kind (Neg when negatable)."""
    family = 6 if cls.__name__ == "Icmp6" else 4
    strategy = R.matches(cls, family) if cls in MATCHES.values() else R.targets(cls, family)
    seen: set[str] = set()

    @settings(max_examples=max(10, settings().max_examples // 4), deadline=None, database=None)
    @given(strategy)
    def check(obj: object) -> None:
        assert type(obj) is cls
        for name, spec in option_fields(cls):
            value = getattr(obj, name)
            if value is None:
                continue
            seen.add(name)
            if spec.negatable:
                assert isinstance(value, Neg), (name, value)
                value = value.value
            assert isinstance(value, _expected_value_type(spec.kind)), (name, spec.kind, value)

    check()
    if option_fields(cls):
        assert seen, f"no option of {cls.__name__} was ever generated"


def test_shrinks_to_a_one_rule_table() -> None:
    """A property failing on any rule shrinks to one bare rule in one chain: readable counterexamples."""
    found = find(R.tables("nat", max_user_chains=1), lambda t: any(c.rules for c in t.chains),
                 settings=settings(database=None))
    (rule,) = [r for c in found.chains for r in c.rules]
    assert rule.matches == () and rule.source is None and rule.destination is None and rule.protocol is None
    assert len(found.chains) == 4  # the built-ins of nat, no user chain


def test_addresses_shrink_to_simple_bases() -> None:
    assert str(find(addresses(4), lambda a: True)) == "10.0.0.0"
    assert str(find(networks(6), lambda n: n.prefixlen == 64)) == "fd00::/64"
    assert str(find(addresses(6), lambda a: a.version == 6)) == "fd00::"


@FAST
@given(docker_hosts())
def test_docker_rules_are_well_formed(host) -> None:
    text = docker_rules(host)
    declared: dict[str, set[str]] = {}
    table = None
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:]
            declared[table] = set()
        elif line.startswith(":"):
            declared[table].add(line[1:].split()[0])
        elif line.startswith("-A"):
            words = line.split()
            assert words[1] in declared[table], line
            if "-j" in words:
                target = words[words.index("-j") + 1]
                assert target.isupper()
                if target.startswith("DOCKER"):
                    assert target in declared[table], line
    # every published port has its DNAT and its ACCEPT
    for c, p in host.published():
        assert f"--to-destination {c.address}:{p.container_port}" in text
        assert f"-d {c.address}/32 ! -i {c.bridge} -o {c.bridge} -p {p.proto} -m {p.proto} --dport {p.container_port} -j ACCEPT" in text
    assert ("docker-ext-bridges-v4" in text) == (host.era == "28.0.0") == bool(docker_ipsets(host))
    assert ("-A DOCKER -i " in text) == (host.userland_proxy and host.era != "29" and bool(host.bridges))


@FAST
@given(scenarios())
def test_topology_matches_the_host(scenario) -> None:
    host, specs = scenario
    topo = topology_of(host)
    assert host.host_address.ip in topo.local_addresses("host")
    for c in host.containers:
        ns = topo.namespace_of(c.name)
        assert ns is not None and c.address in ns.local_addresses()
        assert topo.container_at(c.address).name == c.name
    for spec in specs:
        flow = flow_of(host, spec)
        assert flow.destination == destination_of(host, spec)
        assert topo.namespace(flow.source) is not None, flow


def test_docker_hosts_shrink_to_one_container() -> None:
    host = find(docker_hosts(), lambda h: any(c.ports for c in h.containers), settings=settings(database=None))
    assert len(host.bridges) == 1 and len(host.containers) == 1 and len(host.containers[0].ports) == 1
    assert host.docker_user == ()


def test_every_public_name_resolves() -> None:
    import natsim.testing

    for name in natsim.testing.__all__:
        assert getattr(natsim.testing, name) is not None, name
