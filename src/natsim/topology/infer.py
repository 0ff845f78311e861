"""Infer Docker's topology from the rules alone, for "someone pasted their iptables-save".

Docker writes its rules from its networks and containers, so the rules reveal them:

* bridges and subnets: ``POSTROUTING -s SUBNET ! -o BRIDGE -j MASQUERADE``, and the
  bridge names in Docker's own chains (``-o BR -j DOCKER``, isolation, DOCKER-CT ...);
* internal networks and icc: DOCKER-INTERNAL / isolation ``! -s SUBNET -o BR -j DROP``,
  ``-i BR -o BR -j ACCEPT|DROP``; gateway modes from the filter DOCKER chain;
* containers and published ports: ``DNAT --to-destination C:P`` in nat DOCKER, per-port
  ACCEPTs in filter DOCKER, raw ``-d C ! -i BR -j DROP``, hairpin ``-s C -d C`` MASQUERADE;
* the userland-proxy mode and the Docker release era from the rule layout
  (docs/decisions/0041-inferring-docker-from-rules.md).

Every fact made here is marked ``inferred`` with the rule (file:line) it came from, or
``assumed`` (a gateway at the subnet's first address, a network named after its bridge),
so answers list them.  :func:`infer_topology` merges them *under* what was read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from natsim.model.matches import Physdev, Sctp, Tcp, Udp
from natsim.model.ruleset import Rule, Ruleset
from natsim.model.targets import Accept, Dnat, Drop, Jump, Masquerade, Return, Snat
from natsim.model.values import Interface, IPAddress, IPNetwork, Neg
from natsim.topology.merge import merge
from natsim.topology.model import (
    Container,
    DaemonOptions,
    DockerNetwork,
    Endpoint,
    Finding,
    Provenance,
    PublishedPort,
    Topology,
    assumed,
    inferred,
    source_of,
)

DOCKER_FILTER_CHAINS = ("DOCKER", "DOCKER-BRIDGE", "DOCKER-CT", "DOCKER-FORWARD", "DOCKER-INTERNAL",
                        "DOCKER-ISOLATION", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2")
DEFAULT_BRIDGE = "docker0"
LOOPBACK4, LOOPBACK6 = ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")


def _prov(rule: Rule) -> Provenance:
    return inferred(rule.location, rule.text or "")


def _iface(neg: Neg[Interface] | None) -> tuple[str, bool] | None:
    """A literal interface name and whether it was negated; wildcards (``br+``) name no single bridge."""
    if neg is None or neg.value.name.endswith("+"):
        return None
    return neg.value.name, neg.negated


def _net(neg: Neg[IPNetwork] | None) -> tuple[IPNetwork, bool] | None:
    return None if neg is None else (neg.value, neg.negated)


def _host(neg: Neg[IPNetwork] | None) -> IPAddress | None:
    """The address of a non-negated single-host ``-s``/``-d``."""
    if neg is None or neg.negated or neg.value.num_addresses != 1:
        return None
    return neg.value.network_address


def _dport(rule: Rule) -> tuple[int, int] | None:
    for m in rule.matches:
        if isinstance(m, (Tcp, Udp, Sctp)) and m.dport is not None and not m.dport.negated:
            return m.dport.value.lo, m.dport.value.hi
    return None


def _proto(rule: Rule) -> str | None:
    if rule.protocol is None or rule.protocol.negated:
        return None
    return rule.protocol.value


def _rules(rs: Ruleset, table: str, chain: str) -> tuple[Rule, ...]:
    c = rs.chain(table, chain)
    return c.rules if c is not None else ()


@dataclass
class _Fact:
    value: object
    prov: Provenance


@dataclass
class _NetB:
    """What the rules say about one Docker bridge network, fact by fact with its rule."""

    bridge: str
    first: Provenance
    subnets: dict[IPNetwork, Provenance] = field(default_factory=dict)
    facts: dict[str, _Fact] = field(default_factory=dict)

    def set(self, name: str, value: object, prov: Provenance) -> None:
        if name not in self.facts:
            self.facts[name] = _Fact(value, prov)

    def set_mode(self, family: int, mode: str, prov: Provenance) -> None:
        """Gateway mode: filter rules that show routed/nat-unprotected outrank the MASQUERADE that shows nat."""
        key = f"gateway_mode_v{family}"
        if key not in self.facts or (self.facts[key].value == "nat" and mode != "nat"):
            self.facts[key] = _Fact(mode, prov)


@dataclass
class _CtrB:
    address: IPAddress
    first: Provenance
    bridge: _Fact | None = None
    ports: dict[tuple[int, str], PublishedPort] = field(default_factory=dict)


@dataclass
class _Evidence:
    """Signals for the daemon options; each with the rule that shows it."""

    proxy_on: list[Provenance] = field(default_factory=list)  # daemon-wide: nat OUTPUT, -i BR -j RETURN
    proxy_off: list[Provenance] = field(default_factory=list)
    weak_on: list[Provenance] = field(default_factory=list)  # per network: may differ (swarm's docker_gwbridge)
    weak_off: list[Provenance] = field(default_factory=list)
    hairpin_masq: list[Provenance] = field(default_factory=list)


class _Inference:
    def __init__(self) -> None:
        self.nets: dict[str, _NetB] = {}
        self.ctrs: dict[IPAddress, _CtrB] = {}
        self.evidence = _Evidence()
        self.findings: list[Finding] = []
        self.daemon: dict[str, _Fact] = {}
        self.family = 4
        self.v29_layout = False
        self.docker_bridges: set[str] = set()

    # ------------------------------------------------------------------ helpers

    def net(self, bridge: str, rule: Rule, in_docker_chain: bool = True) -> _NetB:
        """The network of ``bridge``; ``in_docker_chain`` says the rule is in one of Docker's own chains."""
        if bridge not in self.nets:
            self.nets[bridge] = _NetB(bridge, _prov(rule))
        if in_docker_chain:
            self.docker_bridges.add(bridge)
        return self.nets[bridge]

    def drop_foreign(self, docker_filter: bool) -> None:
        """A MASQUERADE alone does not make a Docker network when Docker's filter chains never name its bridge.

        ``-s 10.8.0.0/24 ! -o tun0 -j MASQUERADE`` (a VPN) has Docker's shape; with Docker's filter
        chains in the dump, a real Docker bridge would appear there too.
        """
        if not docker_filter:
            return  # a nat-only dump: nothing to check against
        for bridge in [b for b in self.nets if b not in self.docker_bridges]:
            n = self.nets.pop(bridge)
            self.findings.append(Finding(
                f"{bridge} is in a MASQUERADE rule of Docker's shape but in none of Docker's chains:"
                " not taken as a Docker network", "note", n.first.location))

    def ctr(self, address: IPAddress, rule: Rule, bridge: str | None = None) -> _CtrB:
        c = self.ctrs.get(address)
        if c is None:
            c = self.ctrs[address] = _CtrB(address, _prov(rule))
        if bridge is not None and c.bridge is None:
            c.bridge = _Fact(bridge, _prov(rule))
        return c

    def port(self, c: _CtrB, proto: str, cport: int, rule: Rule, host_port: int | None = None,
             host_ip: IPAddress | None = None) -> None:
        key = (cport, proto)
        old = c.ports.get(key)
        if old is None or (old.host_port is None and host_port is not None):
            c.ports[key] = PublishedPort(cport, proto, host_port, host_ip, _prov(rule))
        elif host_port is not None and old.host_port != host_port:
            c.ports[(cport, f"{proto}#{host_port}")] = PublishedPort(cport, proto, host_port, host_ip, _prov(rule))

    # ------------------------------------------------------------------ reading

    def read(self, rs: Ruleset) -> None:
        self.family = rs.family
        self.v29_layout = rs.chain("filter", "DOCKER-FORWARD") is not None
        self._nat(rs)
        self._filter(rs)
        self._raw(rs)

    def _nat(self, rs: Ruleset) -> None:
        for r in _rules(rs, "nat", "POSTROUTING"):
            out = _iface(r.out_interface)
            src = _net(r.source)
            if isinstance(r.target, (Masquerade, Snat)):
                if out is not None and out[1] and src is not None and not src[1] and r.destination is None:
                    n = self.net(out[0], r, in_docker_chain=False)  # -s SUBNET ! -o BR -j MASQUERADE
                    n.subnets.setdefault(src[0], _prov(r))
                    n.set("masquerade", True, _prov(r))
                    n.set("internal", False, _prov(r))
                    n.set_mode(self.family, "nat", _prov(r))
                    if isinstance(r.target, Snat):
                        n.set("snat", True, _prov(r))
                c_src, c_dst = _host(r.source), _host(r.destination)
                if c_src is not None and c_src == c_dst and _dport(r) is not None:
                    self.evidence.hairpin_masq.append(_prov(r))  # -s C -d C --dport P: hairpin NAT
                    lo, _hi = _dport(r)  # type: ignore[misc]
                    self.port(self.ctr(c_src, r), _proto(r) or "tcp", lo, r)
                if out is not None and not out[1] and r.source is None and _has_src_local(r):
                    self.net(out[0], r, in_docker_chain=False)  # -o BR --src-type LOCAL -j MASQUERADE
                    self.evidence.weak_off.append(_prov(r))
        for r in _rules(rs, "nat", "OUTPUT"):
            if isinstance(r.target, Jump) and r.target.chain == "DOCKER":
                dst = _net(r.destination)
                if dst is not None and dst[1] and dst[0] in (LOOPBACK4, LOOPBACK6):
                    self.evidence.proxy_on.append(_prov(r))  # loopback left to docker-proxy
                elif dst is None:
                    self.evidence.proxy_off.append(_prov(r))  # loopback DNATed too
        for r in _rules(rs, "nat", "DOCKER"):
            into = _iface(r.in_interface)
            if isinstance(r.target, Return) and into is not None and not into[1] and r.destination is None:
                self.net(into[0], r)
                self.evidence.proxy_on.append(_prov(r))  # -i BR -j RETURN: containers use docker-proxy
            if isinstance(r.target, Dnat) and r.target.to_destination:
                self._dnat(r, into)

    def _dnat(self, r: Rule, into: tuple[str, bool] | None) -> None:
        assert isinstance(r.target, Dnat) and r.target.to_destination
        to = r.target.to_destination[0]
        if to.addresses is None or to.addresses.lo != to.addresses.hi:
            return
        caddr = to.addresses.lo
        bridge = into[0] if into is not None and into[1] else None
        if bridge is not None:
            self.net(bridge, r)
            if not _host(r.destination) and self.v29_layout:
                self.evidence.weak_on.append(_prov(r))  # v29: ! -i BR on the DNAT leaves containers to the proxy
        c = self.ctr(caddr, r, bridge)
        dport = _dport(r)
        if dport is None:
            return
        lo, hi = dport
        host_ip = _host(r.destination)
        proto = _proto(r) or "tcp"
        if to.ports is None:
            cports = list(range(lo, hi + 1))
        else:
            cports = list(range(to.ports.lo, to.ports.hi + 1))
        hports = list(range(lo, hi + 1))
        if len(hports) > 1024:
            self.findings.append(Finding(f"DNAT of {hi - lo + 1} ports to {caddr}: too many to list; ports not inferred",
                                         "note", r.location))
            return
        if len(cports) != len(hports):
            cports = cports[:1] * len(hports)
        for h, cp in zip(hports, cports):
            self.port(c, proto, cp, r, h, host_ip)

    def _filter(self, rs: Ruleset) -> None:
        for chain in DOCKER_FILTER_CHAINS:
            for r in _rules(rs, "filter", chain):
                self._filter_rule(chain, r)
        forward = _rules(rs, "filter", "FORWARD")
        for r in forward:
            if isinstance(r.target, Jump) and r.target.chain == "DOCKER":
                out = _iface(r.out_interface)
                if out is not None and not out[1]:
                    self.net(out[0], r)  # <=27: -A FORWARD -o BR -j DOCKER
        for r in forward:  # <=28.0.0 put the per-bridge rules in FORWARD itself
            if not isinstance(r.target, (Accept, Drop)) or r.source is not None or r.destination is not None:
                continue
            into, out = _iface(r.in_interface), _iface(r.out_interface)
            if into is None or into[1] or into[0] not in self.nets or r.matches:
                continue
            if out is not None and out[0] == into[0] and not out[1]:
                self.nets[into[0]].set("icc", isinstance(r.target, Accept), _prov(r))  # -i BR -o BR
            elif out is None and isinstance(r.target, Accept):
                self.nets[into[0]].set("icc_open", True, _prov(r))  # -i BR -j ACCEPT

    def _filter_rule(self, chain: str, r: Rule) -> None:
        into, out = _iface(r.in_interface), _iface(r.out_interface)
        t = r.target
        if chain == "DOCKER" and isinstance(t, Accept) and out is not None and not out[1]:
            caddr = _host(r.destination)
            n = self.net(out[0], r)
            if caddr is not None:
                c = self.ctr(caddr, r, out[0])
                dport = _dport(r)
                if dport is not None and dport[0] == dport[1]:
                    self.port(c, _proto(r) or "tcp", dport[0], r)
            elif into is not None and into[1] and into[0] == out[0] and r.source is None and _proto(r) is None:
                n.set_mode(self.family, "nat-unprotected", _prov(r))  # ! -i BR -o BR -j ACCEPT
            elif into is None and _proto(r) in ("icmp", "ipv6-icmp", "icmpv6") and r.destination is None:
                n.set_mode(self.family, "routed", _prov(r))  # -o BR -p icmp -j ACCEPT
            return
        if chain in ("DOCKER-INTERNAL", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION") and isinstance(t, Drop):
            src, dst = _net(r.source), _net(r.destination)
            if out is not None and not out[1] and src is not None and src[1]:
                n = self.net(out[0], r)  # ! -s SUBNET -o BR -j DROP: an internal network
                n.subnets.setdefault(src[0], _prov(r))
                n.set("internal", True, _prov(r))
                return
            if into is not None and not into[1] and dst is not None and dst[1]:
                n = self.net(into[0], r)
                n.subnets.setdefault(dst[0], _prov(r))
                n.set("internal", True, _prov(r))
                return
        if into is not None and out is not None and into[0] == out[0] and not into[1] and not out[1] \
                and isinstance(t, (Accept, Drop)) and r.source is None and r.destination is None and not r.matches:
            self.net(into[0], r).set("icc", isinstance(t, Accept), _prov(r))  # -i BR -o BR -j ACCEPT|DROP
            return
        for side in (into, out):
            if side is not None:
                self.net(side[0], r)
        if chain == "DOCKER-FORWARD" and isinstance(t, Accept) and into is not None and not into[1] and out is None:
            self.net(into[0], r).set("icc_open", True, _prov(r))  # -i BR -j ACCEPT: icc unless a DROP says not

    def _raw(self, rs: Ruleset) -> None:
        for r in _rules(rs, "raw", "PREROUTING"):
            into = _iface(r.in_interface)
            caddr = _host(r.destination)
            if isinstance(r.target, Drop) and into is not None and into[1] and caddr is not None:
                if caddr.is_loopback:
                    continue  # -d 127.0.0.1 ! -i lo: a port published on the loopback address
                self.ctr(caddr, r, into[0])  # -d C ! -i BR -j DROP: direct access to a container blocked
                self.net(into[0], r)

    # ------------------------------------------------------------------ results

    def userland_proxy(self) -> tuple[bool | None, Provenance | None]:
        """Daemon-wide signals decide; per-network ones only when there are none."""
        on, off = self.evidence.proxy_on, self.evidence.proxy_off
        if not on and not off:
            on, off = self.evidence.weak_on, self.evidence.weak_off
        if on and not off:
            return True, on[0]
        if off and not on:
            return False, off[0]
        if on and off:
            self.findings.append(Finding(
                f"the rules disagree about docker's userland-proxy: {on[0]} suggests on, {off[0]} suggests off;"
                " the mode is left unknown", "warning", on[0].location))
        return None, None


def _has_src_local(r: Rule) -> bool:
    from natsim.model.matches import AddrType

    return any(isinstance(m, AddrType) and m.src_type is not None and not m.src_type.negated
               and "LOCAL" in m.src_type.value for m in r.matches)


def _era(rs: Ruleset) -> tuple[str | None, Rule | None, str]:
    """The Docker release era from the chain layout, with a rule (or chain) that shows it."""
    filt = rs.table("filter")
    if filt is None:
        return None, None, ""
    names = {c.name for c in filt.chains}

    def first_rule(chain: str) -> Rule | None:
        rules = _rules(rs, "filter", "FORWARD")
        for r in rules:
            if isinstance(r.target, Jump) and r.target.chain == chain:
                return r
        c = filt.chain(chain)
        return c.rules[0] if c is not None and c.rules else None

    if "DOCKER-FORWARD" in names:
        if "DOCKER-ISOLATION-STAGE-1" in names:
            return ">=28.0.1,<29", first_rule("DOCKER-FORWARD"), "DOCKER-FORWARD with the isolation chains"
        if "DOCKER-INTERNAL" in names:
            return ">=29", first_rule("DOCKER-FORWARD"), "DOCKER-FORWARD and DOCKER-INTERNAL, no isolation chains"
        return ">=28.0.1", first_rule("DOCKER-FORWARD"), "DOCKER-FORWARD"
    for r in _rules(rs, "filter", "FORWARD"):
        if "docker-ext-bridges" in (r.text or ""):
            return "28.0.0", r, "FORWARD matches the docker-ext-bridges ipset"
    if "DOCKER-ISOLATION-STAGE-1" in names:
        return "<28", first_rule("DOCKER-ISOLATION-STAGE-1"), "Docker's rules directly in FORWARD with two-stage isolation"
    if "DOCKER-ISOLATION" in names:
        return "<18.06", first_rule("DOCKER-ISOLATION"), "single-stage DOCKER-ISOLATION"
    if "DOCKER" in names:
        return "<17.06", first_rule("DOCKER"), "a DOCKER chain without isolation chains"
    return None, None, ""


def _is_docker(rs: Ruleset) -> bool:
    return rs.chain("nat", "DOCKER") is not None or rs.chain("filter", "DOCKER") is not None or \
        rs.chain("filter", "DOCKER-FORWARD") is not None


def infer_from_rules(rulesets: Mapping[int, Ruleset]) -> Topology:
    """Docker's networks, containers and daemon options as the rules imply them; all marked inferred/assumed."""
    inf = _Inference()
    docker_families = [fam for fam, rs in sorted(rulesets.items()) if rs is not None and _is_docker(rs)]
    if not docker_families:
        return Topology()
    for fam in docker_families:
        inf.read(rulesets[fam])
    inf.drop_foreign(any(rulesets[f].chain("filter", "DOCKER") is not None for f in docker_families))

    taken = frozenset(c.address for c in inf.ctrs.values())
    networks = tuple(_network(n, taken) for n in inf.nets.values())
    containers = _containers(inf, networks)
    # daemon options
    fields: list[tuple[str, Provenance]] = []
    proxy, proxy_prov = inf.userland_proxy()
    rs4 = rulesets.get(4) if 4 in docker_families else None
    if proxy is None and rs4 is not None and inf.evidence.hairpin_masq:
        era4 = _era(rs4)[0]
        if era4 is not None and era4.startswith((">=28", "28")):
            proxy, proxy_prov = False, inf.evidence.hairpin_masq[0]  # since 28.0 only without the proxy
    if proxy_prov is not None:
        fields.append(("userland_proxy", proxy_prov))
    era = None
    for fam in docker_families:
        era, era_rule, why = _era(rulesets[fam])
        if era is not None:
            p = inferred(era_rule.location, era_rule.text or "") if era_rule is not None else \
                Provenance(rulesets[fam].source, "inferred", None, why)
            fields.append(("era", replace(p, detail=f"{why}: {p.detail}" if p.detail else why)))
            break
    first = next(iter(rulesets[f] for f in docker_families))
    docker_prov = Provenance(first.source, "inferred", None, "the presence of Docker's chains (DOCKER ...)")
    if 6 in docker_families:
        fields.append(("ip6tables", Provenance(rulesets[6].source, "inferred", None,
                                                "the presence of Docker's chains in ip6tables")))
    ip_forward = None
    if docker_families:
        # dockerd turns net.ipv4.ip_forward on at start, and IPv6 forwarding (all and default) when it
        # sets up a network with IPv6 (bridge driver setupIPv6Forwarding), unless --ip-forward=false; a
        # snapshot's sysctl.txt, when given, is read and wins over this.
        ip_forward = True
        fields.append(("ip_forward", Provenance(
            rulesets[docker_families[0]].source, "assumed", None,
            "dockerd enables net.ipv4.ip_forward at start, and IPv6 forwarding for a network with IPv6, "
            "unless run with --ip-forward=false")))
    daemon = DaemonOptions(
        userland_proxy=proxy, iptables=True if 4 in docker_families else None, ip_forward=ip_forward,
        ip6tables=True if 6 in docker_families else None, era=era,
        provenance=docker_prov, field_sources=tuple(fields),
    )
    return Topology(networks=networks, containers=containers, daemon=daemon, findings=tuple(inf.findings))


def _gateway(subnet: IPNetwork, taken: frozenset[IPAddress]) -> IPAddress:
    """The subnet's first address that no container the rules name holds (a container is never the gateway)."""
    gw = subnet.network_address + 1
    while gw in taken and gw + 1 in subnet:
        gw += 1
    return gw


def _network(n: _NetB, taken: frozenset[IPAddress] = frozenset()) -> DockerNetwork:
    fields: list[tuple[str, Provenance]] = []
    subnets = tuple(n.subnets)
    if subnets:
        fields.append(("subnets", next(iter(n.subnets.values()))))
    gateways = tuple(_gateway(s, taken) for s in subnets if s.num_addresses > 2)
    if gateways:
        fields.append(("gateways", assumed("Docker's IPAM gives a network's gateway the first address of its subnet")))
    name = "bridge" if n.bridge == DEFAULT_BRIDGE else n.bridge
    fields.append(("name", assumed("the network's name is not in the rules; "
                                  + ("docker0 is the default network 'bridge'" if name == "bridge"
                                     else "it is named after its bridge"))))

    def fact(key: str) -> object:
        f = n.facts.get(key)
        if f is None:
            return None
        fields.append((key, f.prov))
        return f.value

    icc = fact("icc")
    if icc is None and "icc_open" in n.facts:
        icc = True
        fields.append(("icc", n.facts["icc_open"].prov))
    masq = fact("masquerade")
    internal = fact("internal")
    return DockerNetwork(
        name=name, driver="bridge", bridge=n.bridge, subnets=subnets or None, gateways=gateways or None,
        icc=icc, internal=internal, masquerade=masq,  # type: ignore[arg-type]
        gateway_mode_v4=fact("gateway_mode_v4"), gateway_mode_v6=fact("gateway_mode_v6"),  # type: ignore[arg-type]
        provenance=n.first, field_sources=tuple(fields),
    )


def _containers(inf: _Inference, networks: tuple[DockerNetwork, ...]) -> tuple[Container, ...]:
    out: list[Container] = []
    for c in inf.ctrs.values():
        net = None
        if c.bridge is not None:
            net = next((n for n in networks if n.bridge == c.bridge.value), None)
        if net is None:
            net = next((n for n in networks if n.subnet_for(c.address) is not None), None)
        subnet = net.subnet_for(c.address) if net is not None else None
        fields: list[tuple[str, Provenance]] = [
            ("name", assumed("the container's name is not in the rules; it is named by its address")),
        ]
        endpoints: tuple[Endpoint, ...] = ()
        if net is not None:
            v4 = c.address.version == 4
            endpoints = (Endpoint(
                network=net.name,
                ipv4=c.address if v4 else None, ipv4_prefixlen=subnet.prefixlen if v4 and subnet else None,
                ipv6=None if v4 else c.address, ipv6_prefixlen=subnet.prefixlen if not v4 and subnet else None,
                provenance=c.bridge.prov if c.bridge is not None else c.first,
            ),)
            fields.append(("network_mode", c.bridge.prov if c.bridge is not None else c.first))
        else:
            inf.findings.append(Finding(f"container address {c.address} is on no bridge the rules name", "note",
                                        c.first.location))
        out.append(Container(
            name=str(c.address), network_mode=net.name if net is not None else None,
            endpoints=endpoints if net is not None else None,
            ports=tuple(c.ports.values()), provenance=c.first, field_sources=tuple(fields),
        ))
    return tuple(_join_families(out))


def _join_families(containers: list[Container]) -> list[Container]:
    """One IPv4 and one IPv6 container alone on the same network are taken to be one container (assumed)."""
    by_net: dict[str, list[Container]] = {}
    for c in containers:
        if c.network_mode is not None:
            by_net.setdefault(c.network_mode, []).append(c)
    drop: set[str] = set()
    joined: dict[str, Container] = {}
    for net, cs in by_net.items():
        v4 = [c for c in cs if c.endpoints and c.endpoints[0].ipv4 is not None]
        v6 = [c for c in cs if c.endpoints and c.endpoints[0].ipv6 is not None]
        if len(v4) == 1 and len(v6) == 1:
            a, b = v4[0], v6[0]
            ea, eb = a.endpoints[0], b.endpoints[0]  # type: ignore[index]
            ep = replace(ea, ipv6=eb.ipv6, ipv6_prefixlen=eb.ipv6_prefixlen)
            why = assumed(f"the only IPv4 and the only IPv6 container on network {net} are taken to be one")
            ports = tuple(dict.fromkeys(
                (a.ports or ()) + tuple(p for p in b.ports or ()
                                        if not any(q.container_port == p.container_port and q.proto == p.proto
                                                   and q.host_port == p.host_port for q in a.ports or ()))))
            joined[a.name] = replace(a, endpoints=(ep,), ports=ports,
                                     field_sources=a.field_sources + (("endpoints", why),))
            drop.add(b.name)
    return [joined.get(c.name, c) for c in containers if c.name not in drop]


# --------------------------------------------------------------------------- combining with what was read


def _rename_networks(inferred_topo: Topology, known: Topology) -> Topology:
    """Give inferred networks (named after bridges) the names the read sources use for the same bridge."""
    if not known.networks or not inferred_topo.networks:
        return inferred_topo
    renames: dict[str, str] = {}
    for n in inferred_topo.networks:
        for k in known.networks:
            if (k.bridge is not None and k.bridge == n.bridge) or set(k.subnets or ()) & set(n.subnets or ()):
                if k.name != n.name:
                    renames[n.name] = k.name
                break
    if not renames:
        return inferred_topo
    nets = tuple(replace(n, name=renames.get(n.name, n.name)) for n in inferred_topo.networks)
    cs = tuple(
        replace(c, network_mode=renames.get(c.network_mode or "", c.network_mode),
                endpoints=tuple(replace(e, network=renames.get(e.network, e.network)) for e in c.endpoints or ())
                if c.endpoints is not None else None)
        for c in inferred_topo.containers or ()
    )
    return replace(inferred_topo, networks=nets, containers=cs)


def _drop_covered_ports(inferred_topo: Topology, known: Topology) -> Topology:
    """Inferred ports a read source already lists (perhaps with more detail) are not a disagreement."""
    if not known.containers or not inferred_topo.containers:
        return inferred_topo
    out = []
    for c in inferred_topo.containers:
        k = next((k for k in known.containers if set(k.addresses()) & set(c.addresses())), None)
        if k is None or k.ports is None or c.ports is None:
            out.append(c)
            continue
        extra = tuple(p for p in c.ports if not any(
            q.container_port == p.container_port and q.proto == p.proto
            and (p.host_port is None or q.host_port == p.host_port)
            and (p.host_ip is None or q.host_ip is None or q.host_ip == p.host_ip) for q in k.ports))
        out.append(replace(c, ports=k.ports + extra if extra else None))
    return replace(inferred_topo, containers=tuple(out))


def _interface_findings(rulesets: Mapping[int, Ruleset], topo: Topology) -> tuple[Finding, ...]:
    host = topo.host_namespace
    if host is None or host.links is None:
        return ()
    have = {l.name for l in host.links}
    seen: set[str] = set()
    out = []
    for rs in rulesets.values():
        if rs is None:
            continue
        for table in rs.tables:
            for chain in table.chains:
                for r in chain.rules:
                    names = [n for n in (_iface(r.in_interface), _iface(r.out_interface)) if n is not None]
                    for m in r.matches:
                        if isinstance(m, Physdev):
                            for v in (m.physdev_in, m.physdev_out):
                                if v is not None and not v.value.endswith("+"):
                                    names.append((v.value, v.negated))
                    for name, _neg in names:
                        if name not in have and name not in seen:
                            seen.add(name)
                            out.append(Finding(
                                f"the rule names interface {name}, which the host does not have"
                                f" (interfaces read from {host.links[0].provenance.source if host.links else 'the topology'})",
                                "warning", r.location))
    return tuple(out)


def _name_from_namespaces(inferred_topo: Topology, known: Topology) -> Topology:
    """A container known only by address takes the name of the read container namespace that holds the address."""
    owners = {}
    for ns in known.namespaces:
        if ns.role == "container" and ns.name.startswith("container:"):
            for a in ns.addresses() or ():
                owners[a.address] = ns
    if not owners or not inferred_topo.containers:
        return inferred_topo
    out = []
    for c in inferred_topo.containers:
        ns = next((owners[a] for a in c.addresses() if a in owners), None)
        if ns is not None and source_of(c, "name").is_assumption:
            sources = tuple((k, p) for k, p in c.field_sources if k != "name") + (("name", ns.provenance),)
            c = replace(c, name=ns.name.split(":", 1)[1], field_sources=sources)
        out.append(c)
    return replace(inferred_topo, containers=tuple(out))


def infer_topology(rulesets: Mapping[int, Ruleset], known: Topology) -> Topology:
    """What the rules imply, merged *under* ``known`` (read facts win; disagreements become Conflicts)."""
    guessed = infer_from_rules(rulesets)
    guessed = _name_from_namespaces(guessed, known)
    guessed = _rename_networks(guessed, known)
    guessed = _drop_covered_ports(guessed, known)
    merged = merge(guessed, known)
    findings = _interface_findings(rulesets, merged)
    if findings:
        merged = replace(merged, findings=tuple(dict.fromkeys(merged.findings + findings)))
    return merged


__all__ = ["infer_from_rules", "infer_topology"]
