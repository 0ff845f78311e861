"""Docker hosts as small values, their rules in the shape of each Docker era, and strategies for them.

A :class:`DockerHost` says what ``dockerd`` was asked for (bridges, containers, published
ports, userland-proxy, icc) plus the host facts that change reachability (br_netfilter,
hairpin per bridge port, FORWARD/INPUT policy, DOCKER-USER rules).  :func:`docker_rules`
writes the iptables-save text that Docker of a given era installs for it, following the
layouts in fixtures/corpus (moby's iptablesdoc and TestIptabler goldens for 28.0.0, 28.x
and 29.x; free5gc's dump for the <=27 layout).  The same value drives the kernel lab and
natsim's topology, so one description is both built in namespaces and simulated.

Every field is drawn from small choices, so a counterexample shrinks to one bridge, one
container, one port.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal

from hypothesis import strategies as st

__all__ = [
    "BRIDGES", "ERAS", "BridgeSpec", "ContainerSpec", "DockerHost", "PortSpec", "docker_hosts",
    "docker_ipsets", "docker_rules", "host_from_dict", "host_to_dict",
]

Era = Literal["29", "28", "28.0.0", "27"]
#: Docker's rule layouts: 29.x, 28.0.1–28.x, 28.0.0 (ipset, rules in FORWARD), and <=27.
ERAS: tuple[Era, ...] = ("29", "28", "28.0.0", "27")


@dataclass(frozen=True)
class PortSpec:
    """``-p [host_ip:]host_port:container_port/proto``; ``host_ip`` None means every address."""

    host_port: int
    container_port: int
    proto: str = "tcp"
    host_ip: str | None = None

    def __str__(self) -> str:
        ip = f"{self.host_ip}:" if self.host_ip else ""
        return f"{ip}{self.host_port}:{self.container_port}/{self.proto}"


@dataclass(frozen=True)
class BridgeSpec:
    name: str
    subnet: ipaddress.IPv4Network
    icc: bool = True

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        return self.subnet.network_address + 1


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    bridge: str
    address: ipaddress.IPv4Address
    ports: tuple[PortSpec, ...] = ()
    hairpin: bool = False  # hairpin mode of its bridge port (Docker sets it when userland-proxy=false)


@dataclass(frozen=True)
class DockerHost:
    """One Docker host: what Docker was told, and the host facts around it."""

    era: Era = "29"
    userland_proxy: bool = True
    bridges: tuple[BridgeSpec, ...] = ()
    containers: tuple[ContainerSpec, ...] = ()
    br_netfilter: bool = True  # net.bridge.bridge-nf-call-iptables in the host namespace
    forward_policy: str = "DROP"
    input_policy: str = "ACCEPT"
    docker_user: tuple[str, ...] = ()  # rule bodies appended to DOCKER-USER ("-s 198.18.0.2/32 -j DROP")
    extra: tuple[tuple[str, str, str], ...] = ()  # (table, built-in chain, rule body) an admin put first
    host_services: tuple[int, ...] = ()  # ports a --net=host container serves (TCP and UDP, all addresses)
    uplink: str = "eth0"
    host_address: ipaddress.IPv4Interface = field(default=ipaddress.IPv4Interface("198.18.0.1/24"))
    outside_address: ipaddress.IPv4Address = field(default=ipaddress.IPv4Address("198.18.0.2"))

    def bridge(self, name: str) -> BridgeSpec:
        return next(b for b in self.bridges if b.name == name)

    def container(self, name: str) -> ContainerSpec:
        return next(c for c in self.containers if c.name == name)

    def published(self) -> tuple[tuple[ContainerSpec, PortSpec], ...]:
        return tuple((c, p) for c in self.containers for p in c.ports)

    def describe(self) -> str:
        """A short, readable account of the host (what a counterexample prints)."""
        lines = [
            f"docker {self.era}, userland-proxy={'on' if self.userland_proxy else 'off'}, "
            f"br_netfilter={'on' if self.br_netfilter else 'off'}, FORWARD policy {self.forward_policy}, "
            f"INPUT policy {self.input_policy}, host {self.uplink} {self.host_address}, outside {self.outside_address}"
        ]
        for b in self.bridges:
            lines.append(f"  bridge {b.name} {b.subnet} icc={'on' if b.icc else 'off'}")
        for c in self.containers:
            ports = " ".join(f"-p {p}" for p in c.ports)
            lines.append(f"  container {c.name} on {c.bridge} {c.address} hairpin={'on' if c.hairpin else 'off'} {ports}")
        for r in self.docker_user:
            lines.append(f"  -A DOCKER-USER {r}")
        for table, chain, body in self.extra:
            lines.append(f"  -t {table} -I {chain} {body}")
        if self.host_services:
            lines.append(f"  --net=host container serving {', '.join(map(str, self.host_services))} (tcp, udp)")
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Rules per era

def _port_match(p: PortSpec, port: int) -> str:
    return f"-p {p.proto} -m {p.proto} --dport {port}"


def _host_dst(p: PortSpec) -> str:
    return f"-d {p.host_ip}/32 " if p.host_ip else ""


class _Tables:
    """Accumulates chains and rules per table, printed in iptables-save order."""

    def __init__(self) -> None:
        self.chains: dict[str, dict[str, str | None]] = {}
        self.rules: dict[str, list[str]] = {}

    def chain(self, table: str, name: str, policy: str | None = None) -> None:
        self.chains.setdefault(table, {})[name] = policy
        self.rules.setdefault(table, [])

    def add(self, table: str, chain: str, body: str) -> None:
        self.rules.setdefault(table, []).append(f"-A {chain} {body}")

    def text(self) -> str:
        out: list[str] = []
        for table in ("raw", "mangle", "nat", "filter"):
            if table not in self.chains:
                continue
            out.append(f"*{table}")
            chains = self.chains[table]
            builtin = [c for c, pol in chains.items() if pol is not None]
            user = sorted(c for c, pol in chains.items() if pol is None)
            out += [f":{c} {chains[c]} [0:0]" for c in builtin]
            out += [f":{c} - [0:0]" for c in user]
            # iptables-save prints rules chain by chain, built-ins first, in chain order.
            order = {c: i for i, c in enumerate(builtin + user)}
            rules = sorted(self.rules[table], key=lambda r: order[r.split()[1]])
            out += rules
            out.append("COMMIT")
        return "\n".join(out) + "\n"


_BUILTIN = {
    "raw": ("PREROUTING", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
}


def docker_rules(host: DockerHost) -> str:
    """The iptables-save text Docker of ``host.era`` installs for ``host`` (IPv4)."""
    t = _Tables()
    for table, chains in _BUILTIN.items():
        for c in chains:
            policy = "ACCEPT"
            if table == "filter" and c == "FORWARD":
                policy = host.forward_policy
            if table == "filter" and c == "INPUT":
                policy = host.input_policy
            t.chain(table, c, policy)
    for table, chain, body in host.extra:  # an admin's rules, inserted above Docker's
        t.add(table, chain, body)
    _nat(t, host)
    _filter(t, host)
    _raw(t, host)
    return t.text()


def _nat(t: _Tables, h: DockerHost) -> None:
    proxy = h.userland_proxy
    t.chain("nat", "DOCKER")
    t.add("nat", "PREROUTING", "-m addrtype --dst-type LOCAL -j DOCKER")
    if proxy:
        t.add("nat", "OUTPUT", "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER")
    else:
        t.add("nat", "OUTPUT", "-m addrtype --dst-type LOCAL -j DOCKER")
    # Newer networks are inserted above older ones in POSTROUTING.
    for b in reversed(h.bridges):
        if not proxy:
            t.add("nat", "POSTROUTING", f"-o {b.name} -m addrtype --src-type LOCAL -j MASQUERADE")
        t.add("nat", "POSTROUTING", f"-s {b.subnet} ! -o {b.name} -j MASQUERADE")
    hairpin_masq = h.era == "27" or not proxy
    for c, p in h.published():
        if hairpin_masq:
            t.add("nat", "POSTROUTING", f"-s {c.address}/32 -d {c.address}/32 {_port_match(p, p.container_port)} -j MASQUERADE")
    if proxy and h.era in ("27", "28", "28.0.0"):
        for b in reversed(h.bridges):
            t.add("nat", "DOCKER", f"-i {b.name} -j RETURN")
    for c, p in h.published():
        not_in = f"! -i {c.bridge} " if proxy else ""
        t.add("nat", "DOCKER",
              f"{_host_dst(p)}{not_in}{_port_match(p, p.host_port)} -j DNAT --to-destination {c.address}:{p.container_port}")


def _filter(t: _Tables, h: DockerHost) -> None:
    era = h.era
    for c in ("DOCKER", "DOCKER-USER"):
        t.chain("filter", c)
    if era in ("27", "28", "28.0.0"):
        t.chain("filter", "DOCKER-ISOLATION-STAGE-1")
        t.chain("filter", "DOCKER-ISOLATION-STAGE-2")
    if era in ("28", "29"):
        for c in ("DOCKER-FORWARD", "DOCKER-CT", "DOCKER-BRIDGE"):
            t.chain("filter", c)
    if era == "29":
        t.chain("filter", "DOCKER-INTERNAL")

    t.add("filter", "FORWARD", "-j DOCKER-USER")
    for body in h.docker_user:
        t.add("filter", "DOCKER-USER", body)
    if era in ("27", "28.0.0"):
        t.add("filter", "DOCKER-USER", "-j RETURN")

    # Per-port ACCEPTs go first in DOCKER, the per-network DROPs (>= 28) after them.
    for c, p in h.published():
        t.add("filter", "DOCKER",
              f"-d {c.address}/32 ! -i {c.bridge} -o {c.bridge} {_port_match(p, p.container_port)} -j ACCEPT")
    if era != "27":
        for b in h.bridges:
            t.add("filter", "DOCKER", f"! -i {b.name} -o {b.name} -j DROP")

    if era == "27":
        t.add("filter", "FORWARD", "-j DOCKER-ISOLATION-STAGE-1")
        for b in h.bridges:
            t.add("filter", "FORWARD", f"-o {b.name} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
            t.add("filter", "FORWARD", f"-o {b.name} -j DOCKER")
            t.add("filter", "FORWARD", f"-i {b.name} ! -o {b.name} -j ACCEPT")
            t.add("filter", "FORWARD", f"-i {b.name} -o {b.name} -j {'ACCEPT' if b.icc else 'DROP'}")
    elif era == "28.0.0":
        ext = "-m set --match-set docker-ext-bridges-v4 dst"
        t.add("filter", "FORWARD", f"{ext} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
        t.add("filter", "FORWARD", "-j DOCKER-ISOLATION-STAGE-1")
        t.add("filter", "FORWARD", f"{ext} -j DOCKER")
        _bridge_accepts(t, h, "FORWARD")
    else:
        t.add("filter", "FORWARD", "-j DOCKER-FORWARD")
        t.add("filter", "DOCKER-FORWARD", "-j DOCKER-CT")
        t.add("filter", "DOCKER-FORWARD", "-j DOCKER-ISOLATION-STAGE-1" if era == "28" else "-j DOCKER-INTERNAL")
        t.add("filter", "DOCKER-FORWARD", "-j DOCKER-BRIDGE")
        for b in h.bridges:
            t.add("filter", "DOCKER-CT", f"-o {b.name} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
            t.add("filter", "DOCKER-BRIDGE", f"-o {b.name} -j DOCKER")
        _bridge_accepts(t, h, "DOCKER-FORWARD")

    if era in ("27", "28", "28.0.0"):
        for b in h.bridges:
            t.add("filter", "DOCKER-ISOLATION-STAGE-1", f"-i {b.name} ! -o {b.name} -j DOCKER-ISOLATION-STAGE-2")
        for b in reversed(h.bridges):
            t.add("filter", "DOCKER-ISOLATION-STAGE-2", f"-o {b.name} -j DROP")
        if era == "27":
            t.add("filter", "DOCKER-ISOLATION-STAGE-1", "-j RETURN")
            t.add("filter", "DOCKER-ISOLATION-STAGE-2", "-j RETURN")


def _bridge_accepts(t: _Tables, h: DockerHost, chain: str) -> None:
    for b in h.bridges:
        if b.icc:
            t.add("filter", chain, f"-i {b.name} -j ACCEPT")
        else:
            t.add("filter", chain, f"-i {b.name} -o {b.name} -j DROP")
            t.add("filter", chain, f"-i {b.name} ! -o {b.name} -j ACCEPT")


def _raw(t: _Tables, h: DockerHost) -> None:
    if h.era == "27":
        return
    for c in h.containers:
        if h.era == "28.0.0":
            for p in c.ports:
                t.add("raw", "PREROUTING", f"-d {c.address}/32 ! -i {c.bridge} {_port_match(p, p.container_port)} -j DROP")
        else:
            t.add("raw", "PREROUTING", f"-d {c.address}/32 ! -i {c.bridge} -j DROP")
    for c, p in h.published():
        if p.host_ip == "127.0.0.1":
            t.add("raw", "PREROUTING", f"-d 127.0.0.1/32 ! -i lo {_port_match(p, p.host_port)} -j DROP")


def docker_ipsets(host: DockerHost) -> str:
    """``ipset save`` text for the sets Docker 28.0.0 matches (empty for other eras)."""
    if host.era != "28.0.0":
        return ""
    lines = ["create docker-ext-bridges-v4 hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x0"]
    lines += [f"add docker-ext-bridges-v4 {b.subnet}" for b in host.bridges]
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------------------------
# Strategies

#: Bridge names and subnets, in creation order (docker0 is always first).
BRIDGES: tuple[tuple[str, str], ...] = (
    ("docker0", "172.17.0.0/16"), ("br-net1", "192.0.2.0/24"), ("br-net2", "198.51.100.0/24"),
)
_HOST_PORTS = (8080, 8081, 80, 443, 5000, 9000)
#: Ports a --net=host container may serve (never a published host port).
HOST_SERVICE_PORTS: tuple[int, ...] = (2222, 9999)
_CONTAINER_PORTS = (80, 443, 3306, 5000)


@st.composite
def _ports(draw: st.DrawFn, used: set[tuple[int, str]], protos: tuple[str, ...], loopback: bool) -> tuple[PortSpec, ...]:
    out = []
    for _ in range(draw(st.integers(0, 2))):
        proto = draw(st.sampled_from(protos))
        free = [p for p in _HOST_PORTS if (p, proto) not in used]
        if not free:
            break
        hp = draw(st.sampled_from(free))
        used.add((hp, proto))
        cp = draw(st.sampled_from(_CONTAINER_PORTS))
        host_ip = draw(st.sampled_from((None, "127.0.0.1", "198.18.0.1"))) if loopback else None
        out.append(PortSpec(hp, cp, proto, host_ip))
    return tuple(out)


@st.composite
def docker_hosts(
    draw: st.DrawFn,
    eras: tuple[Era, ...] = ERAS,
    max_bridges: int = 3,
    max_containers: int = 4,
    protos: tuple[str, ...] = ("tcp", "udp"),
    loopback_ports: bool = True,
    docker_user: bool = True,
    layout: tuple[str, ...] | None = None,
    admin_rules: bool = True,
) -> DockerHost:
    """A Docker host of one era with 1–``max_bridges`` bridges and up to ``max_containers`` containers.

    ``layout`` fixes the shape instead: every bridge of :data:`BRIDGES`, and containers c0, c1 ...
    on the bridges it names (the differential suite reuses one lab of that shape for every example).
    """
    era = draw(st.sampled_from(eras))
    proxy = draw(st.booleans())
    n_bridges = len(BRIDGES) if layout else draw(st.integers(1, min(max_bridges, len(BRIDGES))))
    bridges = tuple(
        BridgeSpec(name, ipaddress.IPv4Network(subnet), icc=draw(st.booleans()))
        for name, subnet in BRIDGES[:n_bridges]
    )
    used: set[tuple[int, str]] = set()
    containers: list[ContainerSpec] = []
    per_bridge: dict[str, int] = {}
    count = len(layout) if layout else draw(st.integers(1, max_containers))
    for i in range(count):
        b = next(x for x in bridges if x.name == layout[i]) if layout else bridges[draw(st.integers(0, n_bridges - 1))]
        per_bridge[b.name] = per_bridge.get(b.name, 0) + 1
        addr = b.gateway + per_bridge[b.name]
        ports = draw(_ports(used, protos, loopback_ports))
        hairpin = draw(st.booleans())
        containers.append(ContainerSpec(f"c{i}", b.name, addr, ports, hairpin))
    user_rules: tuple[str, ...] = ()
    if docker_user and draw(st.booleans()):
        user_rules = (draw(_docker_user_rule(tuple(containers))),)
    forward_policy = "DROP" if era == "28.0.0" else draw(st.sampled_from(("DROP", "ACCEPT")))
    extra = tuple(draw(st.lists(_admin_rules(tuple(containers)), max_size=2))) if admin_rules else ()
    services = tuple(draw(st.lists(st.sampled_from(HOST_SERVICE_PORTS), max_size=1, unique=True)))
    return DockerHost(
        era=era,
        userland_proxy=proxy,
        bridges=bridges,
        containers=tuple(containers),
        br_netfilter=draw(st.booleans()),
        forward_policy=forward_policy,
        input_policy=draw(st.sampled_from(("ACCEPT", "DROP"))),
        docker_user=user_rules,
        extra=extra,
        host_services=services,
    )


_ADMIN_CHAINS = (
    ("filter", "INPUT"), ("filter", "FORWARD"), ("filter", "OUTPUT"), ("nat", "PREROUTING"),
    ("nat", "POSTROUTING"), ("nat", "OUTPUT"), ("raw", "PREROUTING"), ("raw", "OUTPUT"),
)
_ADMIN_IFACES = ("eth0", "docker0", "br-net1", "br+")
_CTSTATES = ("NEW", "ESTABLISHED", "RELATED,ESTABLISHED", "DNAT", "INVALID")


@st.composite
def _admin_rules(draw: st.DrawFn, containers: tuple[ContainerSpec, ...]) -> tuple[str, str, str]:
    """A rule an administrator inserts above Docker's, built from the host's own addresses and ports."""
    table, chain = draw(st.sampled_from(_ADMIN_CHAINS))
    parts: list[str] = []
    addrs = ["198.18.0.2/32", "198.18.0.0/24", "172.17.0.0/16"] + [f"{c.address}/32" for c in containers]
    if draw(st.booleans()):
        neg = "! " if draw(st.booleans()) else ""
        parts.append(f"{neg}-{draw(st.sampled_from('sd'))} {draw(st.sampled_from(addrs))}")
    if chain in ("PREROUTING", "INPUT", "FORWARD") and draw(st.booleans()):
        parts.append(f"-i {draw(st.sampled_from(_ADMIN_IFACES))}")
    if chain in ("FORWARD", "OUTPUT", "POSTROUTING") and draw(st.booleans()):
        parts.append(f"-o {draw(st.sampled_from(_ADMIN_IFACES))}")
    proto = draw(st.sampled_from((None, "tcp", "udp", "icmp")))
    if proto:
        parts.append(f"-p {proto}")
        if proto != "icmp" and draw(st.booleans()):
            ports = sorted({p.host_port for c in containers for p in c.ports} | {80, 443})
            parts.append(f"-m {proto} --dport {draw(st.sampled_from(ports))}")
    if table != "raw" and draw(st.booleans()):
        parts.append(f"-m conntrack --ctstate {draw(st.sampled_from(_CTSTATES))}")
    if draw(st.booleans()):
        parts.append(f"-m addrtype --dst-type {draw(st.sampled_from(('LOCAL', 'UNICAST')))}")
    targets = {"filter": ("ACCEPT", "DROP", "REJECT --reject-with icmp-port-unreachable", "RETURN"),
               "nat": ("ACCEPT", "RETURN"), "raw": ("ACCEPT", "DROP", "CT --notrack")}[table]
    parts.append(f"-j {draw(st.sampled_from(targets))}")
    return table, chain, " ".join(parts)


@st.composite
def _docker_user_rule(draw: st.DrawFn, containers: tuple[ContainerSpec, ...]) -> str:
    """A typical DOCKER-USER restriction: drop the outside peer, or one published container port."""
    published = [(c, p) for c in containers for p in c.ports]
    choices = ["-s 198.18.0.2/32 -j DROP", "-i eth0 -j DROP"]
    for c, p in published:
        choices.append(f"-d {c.address}/32 -i eth0 -p {p.proto} -m {p.proto} --dport {p.container_port} -j DROP")
        choices.append(
            f"-i eth0 -p {p.proto} -m conntrack --ctorigdstport {p.host_port} --ctdir ORIGINAL -j DROP"
        )
    return draw(st.sampled_from(choices))


# --------------------------------------------------------------------------------------------
# Recording counterexamples

def host_to_dict(host: DockerHost) -> dict:
    """A JSON-ready form of ``host`` (for fixtures/regressions); :func:`host_from_dict` reads it back."""
    return {
        "era": host.era, "userland_proxy": host.userland_proxy, "br_netfilter": host.br_netfilter,
        "forward_policy": host.forward_policy, "input_policy": host.input_policy,
        "docker_user": list(host.docker_user), "extra": [list(e) for e in host.extra],
        "host_services": list(host.host_services),
        "uplink": host.uplink, "host_address": str(host.host_address),
        "outside_address": str(host.outside_address),
        "bridges": [{"name": b.name, "subnet": str(b.subnet), "icc": b.icc} for b in host.bridges],
        "containers": [
            {"name": c.name, "bridge": c.bridge, "address": str(c.address), "hairpin": c.hairpin,
             "ports": [{"host_port": p.host_port, "container_port": p.container_port, "proto": p.proto,
                        "host_ip": p.host_ip} for p in c.ports]}
            for c in host.containers
        ],
    }


def host_from_dict(data: dict) -> DockerHost:
    return DockerHost(
        era=data["era"], userland_proxy=data["userland_proxy"], br_netfilter=data["br_netfilter"],
        forward_policy=data["forward_policy"], input_policy=data["input_policy"],
        docker_user=tuple(data["docker_user"]), uplink=data["uplink"],
        extra=tuple((e[0], e[1], e[2]) for e in data.get("extra", ())),
        host_services=tuple(data.get("host_services", ())),
        host_address=ipaddress.IPv4Interface(data["host_address"]),
        outside_address=ipaddress.IPv4Address(data["outside_address"]),
        bridges=tuple(BridgeSpec(b["name"], ipaddress.IPv4Network(b["subnet"]), b["icc"]) for b in data["bridges"]),
        containers=tuple(
            ContainerSpec(c["name"], c["bridge"], ipaddress.IPv4Address(c["address"]),
                          tuple(PortSpec(**p) for p in c["ports"]), c["hairpin"])
            for c in data["containers"]
        ),
    )
