"""Checks about port forwards and Docker's bridges, answered by probing the chains.

Each check states a kernel fact it relies on:

* A DNAT'ed packet goes through FORWARD, never INPUT (nat PREROUTING rewrites the
  destination before the routing decision), so INPUT/ufw rules cannot close a
  published port: only FORWARD or DOCKER-USER can.
* Before Docker 28 nothing stops a neighbour that routes a container subnet via the
  host from reaching container addresses directly; 28+ adds a raw PREROUTING DROP.
* With ``userland-proxy=false`` a container reaching its own published port through the
  host address needs a hairpin MASQUERADE, or the reply skips the host (moby PR #48854).
* Bridged frames (container to container on one bridge) see iptables only with
  br_netfilter; Docker loads it only for ``icc=false`` or ``userland-proxy=false``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from natsim.audit.checks_rules import Context, live_chains
from natsim.audit.findings import Cited, Finding, Severity
from natsim.audit.probe import Header, ProbeResult, ct_point
from natsim.audit.regions import protocol_number, region_of
from natsim.audit.services import Forward, subnet_bridges, forwards, reachable_chains
from natsim.audit.shadow import RuleAt
from natsim.audit.space import ADDR_TYPES, Dim, InterfaceAtoms, PKT_TYPES
from natsim.model import targets as t
from natsim.model.ruleset import Ruleset

#: Addresses the probes use for a client on the Internet and for "an address of the host":
#: documentation prefixes (RFC 5737 / RFC 3849), which no real ruleset names.
CLIENT = {4: ipaddress.ip_address("198.51.100.7"), 6: ipaddress.ip_address("2001:db8:5::7")}
HOST_ADDR = {4: ipaddress.ip_address("203.0.113.1"), 6: ipaddress.ip_address("2001:db8:1::1")}
EPHEMERAL = 40000
SYN = 1 << 1

#: Ports of services that are usually meant for the host or its containers only.
LOCAL_SERVICES = {
    2375: "Docker API", 2376: "Docker API (TLS)", 3306: "MySQL", 5432: "PostgreSQL", 6379: "Redis",
    27017: "MongoDB", 9200: "Elasticsearch", 9300: "Elasticsearch transport", 11211: "memcached",
    5984: "CouchDB", 8086: "InfluxDB", 1433: "SQL Server", 1521: "Oracle", 9042: "Cassandra",
    2379: "etcd", 5672: "RabbitMQ", 15672: "RabbitMQ management", 9090: "Prometheus",
    3000: "Grafana", 8500: "Consul", 6443: "Kubernetes API", 10250: "kubelet",
}

_BRIDGE_PREFIXES = ("docker", "br-", "virbr", "veth", "cni", "flannel", "cali", "lxc", "lxd", "podman")


def is_internal_iface(name: str) -> bool:
    return name == "lo" or name.startswith(_BRIDGE_PREFIXES)


def header(
    family: int, *, proto: str, dport: int | None, src, dst, iif: str | None = None, oif: str | None = None,
    ct: int | None = None, dst_type: str = "UNICAST", src_type: str = "UNICAST",
) -> Header:
    h: Header = {
        Dim.SRC: int(src), Dim.DST: int(dst), Dim.PROTO: protocol_number(proto) or 0, Dim.FRAG: 0,
        Dim.SPORT: EPHEMERAL, Dim.DPORT: dport if dport is not None else 0, Dim.TCPFLAGS: SYN, Dim.ICMP: 8 * 256,
        Dim.SRCTYPE: ADDR_TYPES.index(src_type), Dim.DSTTYPE: ADDR_TYPES.index(dst_type),
        Dim.PKTTYPE: PKT_TYPES.index("unicast"),
    }
    if iif is not None:
        h[Dim.IIF] = iif
    if oif is not None:
        h[Dim.OIF] = oif
    if ct is not None:
        h[Dim.CTSTATE] = ct
    return h


@dataclass(frozen=True, slots=True)
class Iface:
    name: str  # a representative interface name
    label: str  # how to say it: "eth0", "any interface matching eth+", "any other interface"


def container_bridges(rs: Ruleset, topology=None) -> set[str]:
    """Interfaces that lead to containers or VMs: bridges named by forwards, masquerades or the topology."""
    names = {b for b in (x for f in forwards(rs, topology) for x in (f.bridge, f.not_from)) if b}
    names.update(b for _, b in subnet_bridges(rs))
    for net in (getattr(topology, "networks", None) or ()):
        if net.bridge:
            names.add(net.bridge)
    return names


def outside_interfaces(rs: Ruleset, topology=None) -> list[Iface]:
    """One representative per class of non-container input interface the rules distinguish."""
    internal = container_bridges(rs, topology)
    patterns = set()
    for table, roots in (("raw", ("PREROUTING",)), ("nat", ("PREROUTING",)), ("filter", ("INPUT", "FORWARD"))):
        tbl = rs.table(table)
        for name in reachable_chains(rs, table, roots):
            for rule in tbl.chain(name).rules:
                for c in region_of(rule).constraints:
                    if c.dim is Dim.IIF:
                        patterns.update(c.values)
    atoms = InterfaceAtoms(patterns)
    out = []
    for name in atoms.names:
        if is_internal_iface(name) or name in internal:
            continue
        if name in {p for p, prefix in patterns if not prefix}:
            label = name
        elif "~" in name and name.split("~")[0]:
            label = f"any interface matching {name.split('~')[0]}+"
        else:
            label = "any other interface"
        out.append(Iface(name, label))
    return out[:12]


def _same(at: RuleAt | None, other: RuleAt) -> bool:
    return at is not None and (at.table, at.chain, at.index) == (other.table, other.chain, other.index)


def _decider(res: ProbeResult, rs: Ruleset, table: str, chain: str, role: str) -> Cited:
    if res.deciding is not None:
        return Cited.of(res.deciding, role)
    c = rs.chain(table, chain)
    loc = c.location if c is not None else None
    return Cited(
        loc.file if loc and loc.line else None, loc.line if loc and loc.line else None,
        f":{chain} {c.policy if c else 'ACCEPT'}", table, chain, None, role + " (policy)",
    )


@dataclass
class _ForwardProbe:
    iface: Iface
    input: ProbeResult
    forward: ProbeResult


def _probe_forward(rs: Ruleset, ctx: Context, f: Forward, iface: Iface) -> _ForwardProbe | None:
    """Probe one forward from one outside interface; None when its DNAT does not apply there."""
    fam = rs.family
    dst = f.host_ip or HOST_ADDR[fam]
    pre = header(fam, proto=f.proto, dport=f.host_port, src=CLIENT[fam], dst=dst, iif=iface.name, dst_type="LOCAL")
    if ctx.probe("raw", "PREROUTING", pre).verdict != "ACCEPT":
        return None
    pre_new = dict(pre)
    pre_new[Dim.CTSTATE] = ct_point("NEW")
    nat = ctx.probe("nat", "PREROUTING", pre_new)
    if nat.verdict != "DNAT" or not _same(nat.deciding, f.at):
        return None
    inp = ctx.probe("filter", "INPUT", pre_new)
    fwd_h = header(
        fam, proto=f.proto, dport=f.to_port, src=CLIENT[fam], dst=f.to_addr, iif=iface.name, oif=f.bridge,
        ct=ct_point("NEW", dnat=True),
    )
    return _ForwardProbe(iface, inp, ctx.probe("filter", "FORWARD", fwd_h))


def _close_command(rs: Ruleset, f: Forward, iface: Iface) -> str:
    chain = "DOCKER-USER" if rs.chain("filter", "DOCKER-USER") is not None else "FORWARD"
    where = f"-i {iface.name} " if iface.label == iface.name else ""
    port = f"-m conntrack --ctorigdstport {f.host_port} --ctdir ORIGINAL " if f.host_port is not None else ""
    return f"iptables -I {chain} {where}-p {f.proto} {port}-j DROP"


def check_forwards(rs: Ruleset, ctx: Context) -> list[Finding]:
    """Docker bypasses the firewall; dead ports; published on all addresses."""
    out: list[Finding] = []
    ifaces = outside_interfaces(rs, ctx.topology)
    for f in forwards(rs, ctx.topology):
        if f.host_port is None or f.proto not in ("tcp", "udp", "sctp", "udplite", "dccp"):
            continue
        if f.loopback_only or f.to_addr.is_loopback:
            continue
        probes = [p for p in (_probe_forward(rs, ctx, f, i) for i in ifaces) if p is not None]
        bypass = [p for p in probes if p.forward.accepts and p.input.blocks]
        if bypass:
            p = bypass[0]
            names = ", ".join(b.iface.label for b in bypass)
            out.append(Finding(
                "docker-bypasses-input", Severity.HIGH,
                f"{f.label()} is reachable from outside although INPUT denies port {f.host_port}",
                "nat PREROUTING rewrites the destination before routing, so the packet goes through FORWARD, "
                "not INPUT: the INPUT/ufw rule that denies this port never sees it (\"Docker bypasses the firewall\"). "
                f"Open from: {names}.",
                f"Close it where forwarded traffic is filtered: `{_close_command(rs, f, p.iface)}`; allow chosen "
                "sources with an earlier `-s NET -j RETURN`; or publish on 127.0.0.1 only (-p 127.0.0.1:"
                f"{f.host_port}:{f.to_port}).",
                (
                    Cited.of(f.at, "publishes the port"),
                    _decider(p.input, rs, "filter", "INPUT", "INPUT denies it"),
                    _decider(p.forward, rs, "filter", "FORWARD", "FORWARD accepts it"),
                ),
            ))
        if probes and all(p.forward.blocks for p in probes):
            p = probes[0]
            out.append(Finding(
                "dead-forward", Severity.MEDIUM,
                f"{f.label()} is forwarded but FORWARD drops it from every outside interface",
                "The DNAT rewrites the connection, but no FORWARD rule accepts the rewritten packet: clients "
                "time out or get rejected, and the rule only makes the port look open.",
                "Accept it in FORWARD (e.g. `iptables -I FORWARD -d "
                f"{f.to_addr} -p {f.proto} --dport {f.to_port} -m conntrack --ctstate NEW,DNAT -j ACCEPT`) or "
                "delete the DNAT.",
                (Cited.of(f.at, "DNAT"), _decider(p.forward, rs, "filter", "FORWARD", "drops it")),
            ))
        service = LOCAL_SERVICES.get(f.to_port or -1) or LOCAL_SERVICES.get(f.host_port)
        i = f.at.rule.in_interface
        if f.all_addresses and service and (i is None or i.negated) and any(p.forward.accepts for p in probes):
            out.append(Finding(
                "published-on-all-addresses", Severity.MEDIUM,
                f"{service} port {f.host_port} is published on all addresses ({f.label()})",
                f"{service} is usually meant for the host or other containers only, but the DNAT has no "
                "destination address, so every interface of the host forwards it.",
                f"If only local clients need it, publish it as -p 127.0.0.1:{f.host_port}:{f.to_port} (or drop the "
                "port mapping and use a Docker network).",
                (Cited.of(f.at, "publishes the port"),),
            ))
    return out


def check_direct_access(rs: Ruleset, ctx: Context) -> list[Finding]:
    """Container addresses reachable straight from another interface (no raw PREROUTING drop)."""
    out: list[Finding] = []
    fam = rs.family
    seen: dict[object, list[Forward]] = {}
    for f in forwards(rs, ctx.topology):
        if f.bridge and f.proto in ("tcp", "udp", "sctp") and f.to_port is not None and not f.to_addr.is_loopback:
            seen.setdefault((f.to_addr, f.bridge), []).append(f)
    ifaces = outside_interfaces(rs, ctx.topology)
    for (addr, bridge), fs in seen.items():
        open_from: list[tuple[Iface, Forward, ProbeResult]] = []
        unpublished: ProbeResult | None = None
        for iface in ifaces:
            for f in fs:
                h = header(fam, proto=f.proto, dport=f.to_port, src=CLIENT[fam], dst=addr, iif=iface.name)
                if ctx.probe("raw", "PREROUTING", h).verdict != "ACCEPT":
                    continue
                h[Dim.CTSTATE] = ct_point("NEW")
                if ctx.probe("nat", "PREROUTING", h).verdict == "DNAT":
                    continue
                h[Dim.OIF] = bridge
                res = ctx.probe("filter", "FORWARD", h)
                if res.accepts:
                    open_from.append((iface, f, res))
                    if unpublished is None:
                        h[Dim.DPORT] = 1  # tcpmux: a port nobody publishes
                        other = ctx.probe("filter", "FORWARD", h)
                        if other.accepts:
                            unpublished = other
        if not open_from:
            continue
        iface, f, res = open_from[0]
        local = any(x.loopback_only for x in fs)
        sev = Severity.HIGH if unpublished is not None or local else Severity.MEDIUM
        # Docker 28+ (DOCKER-FORWARD) protects nat-mode networks in raw PREROUTING; without that
        # drop the network was created with gateway mode routed or nat-unprotected on purpose.
        chosen = rs.chain("filter", "DOCKER-FORWARD") is not None and not local
        if chosen:
            sev = Severity.MEDIUM if unpublished is not None else Severity.LOW
        ports = ", ".join(sorted({f"{x.to_port}/{x.proto}" for _, x, _ in open_from}))
        out.append(Finding(
            "container-directly-reachable", sev,
            f"container address {addr} on {bridge} is reachable directly from {iface.label}",
            "A neighbour that routes the container subnet via this host can connect to the container address "
            f"itself ({ports}" + (", and unpublished ports too" if unpublished else "") + "), bypassing the "
            "port mapping and any host-address restriction; "
            + ("this Docker release drops such packets in raw PREROUTING for gateway mode nat, so the network "
               "probably uses gateway mode routed or nat-unprotected." if chosen
               else "Docker 28+ adds a raw PREROUTING drop for this."),
            ("If it should not be reachable directly, use gateway mode nat (the default), or drop it before "
             if chosen else "Upgrade Docker to 28 or later, or drop it before ")
            + f"routing: `iptables -t raw -A PREROUTING -d {addr} ! -i {bridge} -j DROP`.",
            (Cited.of(f.at, "maps the port"), _decider(res, rs, "filter", "FORWARD", "FORWARD accepts it")),
        ))
    return out


def _nat_docker_returns(rs: Ruleset) -> set[str]:
    chain = rs.chain("nat", "DOCKER")
    return {
        r.in_interface.value.name for r in (chain.rules if chain else ())
        if isinstance(r.target, t.Return) and r.in_interface is not None and not r.in_interface.negated
    }


def userland_proxy_off(rs: Ruleset, f: Forward, ctx: Context) -> bool | None:
    """Docker's rules for ``userland-proxy=false``: no ``-A DOCKER -i B -j RETURN``, a LOCAL-source MASQUERADE."""
    topo = ctx.topology
    if topo is not None and getattr(topo.daemon, "userland_proxy", None) is not None:
        return not topo.daemon.userland_proxy
    if rs.chain("nat", "DOCKER") is None:
        return None
    if f.bridge in _nat_docker_returns(rs):
        return False
    if f.at.chain == "DOCKER" and f.not_from is None:
        return True  # moby iptabler: DNAT gets `! -i BRIDGE` unless hairpin (userland-proxy=false)
    return None


def check_hairpin(rs: Ruleset, ctx: Context) -> list[Finding]:
    out = []
    for f in forwards(rs, ctx.topology):
        if not f.bridge or f.proto not in ("tcp", "udp", "sctp") or f.to_addr.is_loopback:
            continue
        if f.at.chain != "DOCKER" or userland_proxy_off(rs, f, ctx) is not True:
            continue
        h = header(
            rs.family, proto=f.proto, dport=f.to_port, src=f.to_addr, dst=f.to_addr, iif=f.bridge, oif=f.bridge,
            ct=ct_point("NEW", dnat=True),
        )
        res = ctx.probe("nat", "POSTROUTING", h)
        if res.verdict in ("MASQUERADE", "SNAT", "unknown"):
            continue
        out.append(Finding(
            "missing-hairpin-masquerade", Severity.MEDIUM,
            f"container {f.to_addr} cannot reach its own published port {f.host_port} via the host address",
            "With userland-proxy=false the connection is DNAT'ed back to the container it came from; without a "
            "MASQUERADE the reply goes straight to the container's own address and the client drops it.",
            f"`iptables -t nat -A POSTROUTING -s {f.to_addr} -d {f.to_addr} -p {f.proto} --dport {f.to_port} "
            "-j MASQUERADE` (Docker creates it; restart the daemon if it went missing), and hairpin mode on the "
            "bridge port.",
            (Cited.of(f.at, "DNAT"),),
        ))
    return out


def _docker_icc(rs: Ruleset) -> dict[str, RuleAt]:
    """Bridges whose Docker rules accept ``-i B -o B`` (icc=true), with the rule."""
    out: dict[str, RuleAt] = {}
    tbl = rs.table("filter")
    for chain in tbl.chains if tbl else ():
        if not chain.name.startswith("DOCKER") and chain.name != "FORWARD":
            continue
        for idx, r in enumerate(chain.rules, start=1):
            i, o = r.in_interface, r.out_interface
            if isinstance(r.target, t.Accept) and i is not None and o is not None and not i.negated \
                    and not o.negated and i.value == o.value and len(region_of(r).constraints) == 2:
                out.setdefault(i.value.name, RuleAt("filter", chain.name, idx, r))
    return out


def check_isolation(rs: Ruleset, ctx: Context) -> list[Finding]:
    """User rules that isolate containers on one bridge, where Docker's setup leaves br_netfilter off."""
    icc = _docker_icc(rs)
    returns = _nat_docker_returns(rs)
    live = live_chains(rs, ctx.dead_keys()).get("filter", set())
    out = []
    tbl = rs.table("filter")
    for chain in tbl.chains if tbl else ():
        if chain.name not in live or (chain.name.startswith("DOCKER") and chain.name != "DOCKER-USER"):
            continue
        for idx, r in enumerate(chain.rules, start=1):
            i, o = r.in_interface, r.out_interface
            if not isinstance(r.target, (t.Drop, t.Reject)) or i is None or o is None or i.negated or o.negated:
                continue
            name = i.value.name
            bridges = [b for b in icc if i.value.matches(b) and o.value.matches(b)]
            for bridge in bridges:
                if bridge not in returns:
                    continue  # userland-proxy=false: Docker loaded br_netfilter
                nf = None
                topo = ctx.topology
                host = topo.host_namespace if topo is not None else None
                if host is not None:
                    got = host.bridge_nf_call(rs.family, bridge)
                    nf = got if isinstance(got, bool) else None
                if nf is True:
                    continue
                out.append(Finding(
                    "isolation-needs-br-netfilter", Severity.HIGH if nf is False else Severity.MEDIUM,
                    f"rule isolating containers on {bridge} may never see their traffic",
                    f"Containers on {bridge} talk to each other over the bridge, not through the router; iptables "
                    "sees those frames only when br_netfilter is loaded with bridge-nf-call-iptables=1, which Docker "
                    f"enables only for icc=false or userland-proxy=false, and {bridge} has icc on.",
                    "Create the network with -o com.docker.network.bridge.enable_icc=false, or load br_netfilter "
                    "and set net.bridge.bridge-nf-call-iptables=1.",
                    (Cited.of(RuleAt("filter", chain.name, idx, r), "meant to isolate"),
                     Cited.of(icc[bridge], "Docker's icc accept")),
                    (f"interface pattern {name} matches bridge {bridge}",),
                ))
    return out


DOCKER_CHECKS = (check_forwards, check_direct_access, check_hairpin, check_isolation)
