"""A snapshot directory: standard tool output a user collects on any host, read into a Topology.

The files and the commands that write them are listed in :data:`SNAPSHOT_FILES` (and in
docs/snapshot.md).  Any file may be missing: the model then holds None for what it would
have told, and :attr:`Snapshot.missing` says what cannot be known without it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from natsim.errors import InputError, UsageError
from natsim.topology.docker_inspect import endpoints_from_network_inspect, parse_container_inspect, parse_network_inspect
from natsim.topology.iproute import (
    apply_bridge_link,
    parse_bridge_fdb,
    parse_ip_addr,
    parse_ip_neigh,
    parse_ip_route,
    parse_ip_rule,
    parse_sysctl,
    parse_ss,
)
from natsim.topology.model import HOST, Container, Finding, Namespace, Provenance, Topology


@dataclass(frozen=True, slots=True)
class SnapshotFile:
    name: str
    command: tuple[str, ...]  # argv, read-only
    tells: str  # what cannot be known without it
    optional_tool: bool = False  # the tool may be absent on a host (ipset, docker)


SNAPSHOT_FILES: tuple[SnapshotFile, ...] = (
    SnapshotFile("iptables.rules", ("iptables-save",), "the IPv4 rules"),
    SnapshotFile("ip6tables.rules", ("ip6tables-save",), "the IPv6 rules"),
    SnapshotFile("ipset.txt", ("ipset", "save"), "the contents of ipsets that rules match", True),
    SnapshotFile("ip-addr.json", ("ip", "-d", "-j", "addr"),
                 "which addresses are local and which interfaces and bridges exist"),
    SnapshotFile("ip-route.json", ("ip", "-j", "route", "show", "table", "all"), "where packets are routed"),
    SnapshotFile("ip-rule.json", ("ip", "-j", "rule"), "IPv4 policy routing (the kernel defaults are assumed)"),
    SnapshotFile("ip6-rule.json", ("ip", "-6", "-j", "rule"), "IPv6 policy routing (the kernel defaults are assumed)"),
    SnapshotFile("bridge-link.json", ("bridge", "-j", "-d", "link"), "the hairpin flag of bridge ports"),
    SnapshotFile("sysctl.txt", ("sysctl", "-a"),
                 "ip_forward, route_localnet, rp_filter and bridge-nf-call-iptables"),
    SnapshotFile("ss.txt", ("ss", "-Hltnup"), "which sockets listen (docker-proxy and host services)"),
    SnapshotFile("ip-neigh.json", ("ip", "-j", "neigh"), "a container's MAC from its address (for its bridge port)"),
    SnapshotFile("bridge-fdb.json", ("bridge", "-j", "fdb", "show"), "which bridge port a MAC sits behind"),
    SnapshotFile("docker-inspect.json", ("sh", "-c", "docker inspect $(docker ps -aq)"),
                 "container names, networks, MACs and published ports", True),
    SnapshotFile("docker-network-inspect.json", ("sh", "-c", "docker network inspect $(docker network ls -q)"),
                 "Docker networks: bridge names, subnets, icc, gateway modes", True),
)

RULE_FILES = ("iptables.rules", "ip6tables.rules", "ipset.txt")


@dataclass(frozen=True)
class Snapshot:
    """What a snapshot directory holds: the topology, and the paths of the rule files for the parser."""

    directory: Path
    topology: Topology
    iptables: Path | None = None
    ip6tables: Path | None = None
    ipset: Path | None = None
    present: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # "bridge-link.json (the hairpin flag of bridge ports)"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as err:
        raise InputError(str(path), 0, 1, f"cannot read the file ({err.strerror})", "expected a readable file") from None


def read_snapshot(directory: str | Path, namespace: str = HOST) -> Snapshot:
    """Read a snapshot directory into the namespace ``namespace`` (the Docker host by default)."""
    d = Path(directory)
    if not d.is_dir():
        raise UsageError(f"{d}: not a snapshot directory (expected a directory of files as docs/snapshot.md lists)")
    files = {f.name: d / f.name for f in SNAPSHOT_FILES if (d / f.name).is_file()}
    known_names = {f.name for f in SNAPSHOT_FILES}
    findings: list[Finding] = []
    for extra in sorted(p.name for p in d.iterdir() if p.is_file() and p.name not in known_names):
        if not extra.startswith("."):
            findings.append(Finding(f"{d / extra}: not a snapshot file natsim reads; ignored", "note"))
    if not files:
        raise UsageError(f"{d}: none of the snapshot files is there (expected e.g. iptables.rules, ip-addr.json)")

    def text(name: str) -> str | None:
        return _read(files[name]) if name in files else None

    def path(name: str) -> str:
        return str(files[name])

    links = None
    if (t := text("ip-addr.json")) is not None:
        links = parse_ip_addr(t, path("ip-addr.json"))
    if (t := text("bridge-link.json")) is not None:
        links = apply_bridge_link(links, t, path("bridge-link.json"))
    routes = parse_ip_route(t, path("ip-route.json")) if (t := text("ip-route.json")) is not None else None
    rules = None
    if "ip-rule.json" in files or "ip6-rule.json" in files:
        rules = ()
        if (t := text("ip-rule.json")) is not None:
            rules += parse_ip_rule(t, path("ip-rule.json"), 4)
        if (t := text("ip6-rule.json")) is not None:
            rules += parse_ip_rule(t, path("ip6-rule.json"), 6)
    sysctls = parse_sysctl(t, path("sysctl.txt")) if (t := text("sysctl.txt")) is not None else None
    listeners = parse_ss(t, path("ss.txt")) if (t := text("ss.txt")) is not None else None
    neighbours = parse_ip_neigh(t, path("ip-neigh.json")) if (t := text("ip-neigh.json")) is not None else None
    fdb = parse_bridge_fdb(t, path("bridge-fdb.json")) if (t := text("bridge-fdb.json")) is not None else None
    ns = Namespace(
        name=namespace, role="host" if namespace == HOST else "other", links=links, routes=routes,
        policy_rules=rules, sysctls=sysctls,
        sysctls_complete=sysctls is not None and len(sysctls) > 200,  # a full `sysctl -a`, not a hand-picked subset
        listeners=listeners, neighbours=neighbours, fdb=fdb, provenance=Provenance(str(d), "read"),
    )
    networks = None
    if (t := text("docker-network-inspect.json")) is not None:
        networks = parse_network_inspect(t, path("docker-network-inspect.json"))
    containers = None
    if (t := text("docker-inspect.json")) is not None:
        containers = parse_container_inspect(t, path("docker-inspect.json"))
    elif (t := text("docker-network-inspect.json")) is not None:
        eps = endpoints_from_network_inspect(t, path("docker-network-inspect.json"))
        containers = tuple(
            Container(name, network_mode=None, endpoints=tuple(e), provenance=e[0].provenance)
            for name, e in sorted(eps.items())
        )
    missing = tuple(f"{f.name} ({f.tells})" for f in SNAPSHOT_FILES if f.name not in files)
    if "ip6-rule.json" not in files and "ip-rule.json" in files:
        missing = tuple(m for m in missing if not m.startswith("ip6-rule.json"))
    topo = Topology(namespaces=(ns,), networks=networks, containers=containers, host=namespace,
                    findings=tuple(findings), missing=missing)
    return Snapshot(
        directory=d, topology=topo,
        iptables=files.get("iptables.rules"), ip6tables=files.get("ip6tables.rules"), ipset=files.get("ipset.txt"),
        present=tuple(sorted(files)), missing=missing,
    )


def with_namespace(topo: Topology, ns: Namespace) -> Topology:
    """The topology with ``ns`` added or replacing the namespace of the same name."""
    others = tuple(n for n in topo.namespaces if n.name != ns.name)
    return replace(topo, namespaces=others + (ns,))
