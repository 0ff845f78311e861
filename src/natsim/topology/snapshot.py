"""A snapshot directory: standard tool output a user collects on any host, read into a Topology.

The files and the commands that write them are listed in :data:`SNAPSHOT_FILES` (and in
docs/snapshot.md).  Any file may be missing: the model then holds None for what it would
have told, and :attr:`Snapshot.missing` says what cannot be known without it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

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
from natsim.topology.model import (
    HOST,
    Container,
    Finding,
    Namespace,
    NamespaceRole,
    Provenance,
    Topology,
    container_namespace_name,
)


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


#: The files of one container's namespace, in ``containers/NAME/`` of a snapshot (the same commands, run inside).
CONTAINER_FILES = ("ip-addr.json", "ip-route.json", "ip-rule.json", "ip6-rule.json", "sysctl.txt", "ss.txt")
CONTAINERS_DIR = "containers"


def _texts(d: Path, names: Sequence[str]) -> dict[str, tuple[str, str]]:
    """name → (text, path) for the files of ``names`` present in ``d``."""
    return {n: (_read(d / n), str(d / n)) for n in names if (d / n).is_file()}


def read_namespace(d: Path, name: str, role: NamespaceRole) -> Namespace:
    """One namespace from the iproute2/sysctl/ss files in ``d`` (any may be missing: that fact stays unknown)."""
    files = _texts(d, [f.name for f in SNAPSHOT_FILES if not f.name.startswith("docker")])

    def parsed(file: str, parse: Callable[..., Any], *extra: Any) -> Any:
        return parse(files[file][0], files[file][1], *extra) if file in files else None

    links = parsed("ip-addr.json", parse_ip_addr)
    if "bridge-link.json" in files:
        links = apply_bridge_link(links, *files["bridge-link.json"])
    rules = None
    if "ip-rule.json" in files or "ip6-rule.json" in files:
        rules = (parsed("ip-rule.json", parse_ip_rule, 4) or ()) + (parsed("ip6-rule.json", parse_ip_rule, 6) or ())
    sysctls = parsed("sysctl.txt", parse_sysctl)
    return Namespace(
        name=name, role=role, links=links, routes=parsed("ip-route.json", parse_ip_route), policy_rules=rules,
        sysctls=sysctls,
        sysctls_complete=sysctls is not None and len(sysctls) > 200,  # a full `sysctl -a`, not a hand-picked subset
        listeners=parsed("ss.txt", parse_ss), neighbours=parsed("ip-neigh.json", parse_ip_neigh),
        fdb=parsed("bridge-fdb.json", parse_bridge_fdb), provenance=Provenance(str(d), "read"),
    )


def read_snapshot(directory: str | Path, namespace: str = HOST) -> Snapshot:
    """Read a snapshot directory into the namespace ``namespace`` (the Docker host by default).

    ``containers/NAME/`` subdirectories, when present, hold the same files collected inside
    container NAME's network namespace; they become namespaces ``container:NAME``.
    """
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
    namespaces = [read_namespace(d, namespace, "host" if namespace == HOST else "other")]
    cdir = d / CONTAINERS_DIR
    if cdir.is_dir():
        for sub in sorted(p for p in cdir.iterdir() if p.is_dir()):
            namespaces.append(read_namespace(sub, container_namespace_name(sub.name), "container"))

    docker = _texts(d, ("docker-inspect.json", "docker-network-inspect.json"))
    networks = None
    if "docker-network-inspect.json" in docker:
        networks = parse_network_inspect(*docker["docker-network-inspect.json"])
    containers = None
    if "docker-inspect.json" in docker:
        containers = parse_container_inspect(*docker["docker-inspect.json"])
    elif "docker-network-inspect.json" in docker:
        eps = endpoints_from_network_inspect(*docker["docker-network-inspect.json"])
        containers = tuple(
            Container(name, network_mode=None, endpoints=tuple(e), provenance=e[0].provenance)
            for name, e in sorted(eps.items())
        )
    missing = tuple(f"{f.name} ({f.tells})" for f in SNAPSHOT_FILES if f.name not in files)
    if "ip6-rule.json" not in files and "ip-rule.json" in files:
        missing = tuple(m for m in missing if not m.startswith("ip6-rule.json"))
    read = {ns.name for ns in namespaces}
    missing += tuple(
        f"{CONTAINERS_DIR}/{c.name}/ (which addresses container {c.name}'s servers listen on)"
        for c in containers or ()
        if c.mode == "bridge" and c.running is not False and container_namespace_name(c.name) not in read
    )
    topo = Topology(namespaces=tuple(namespaces), networks=networks, containers=containers, host=namespace,
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
