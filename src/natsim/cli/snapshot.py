"""``natsim snapshot DIR [--netns NAME]``: collect the standard snapshot files by running read-only commands.

It writes exactly what the copy-paste block in docs/snapshot.md writes, so a user can
collect a snapshot with or without natsim.  Nothing here changes the host.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from natsim.cli._common import add_topology
from natsim.errors import UsageError
from natsim.topology.docker_inspect import parse_container_inspect
from natsim.topology.snapshot import CONTAINER_FILES, CONTAINERS_DIR, SNAPSHOT_FILES, read_snapshot
from natsim.topology.summary import render_topology
from natsim.topology.toml_dump import dump_toml

TIMEOUT = 30.0


def add_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "snapshot",
        help="write a snapshot directory (rules, addresses, routes, bridge ports, sysctls, sockets, Docker facts)",
        description="Run read-only commands (iptables-save, ip -j ..., bridge -j ..., sysctl -a, ss, docker inspect)"
        " and write their output into DIR, as docs/snapshot.md describes.",
    )
    p.add_argument("directory", metavar="DIR", help="directory to write (created if missing)")
    p.add_argument("--netns", metavar="NAME", help="collect inside the named network namespace (ip netns)")
    p.add_argument("--no-docker", action="store_true", help="do not ask the Docker daemon")
    p.add_argument("--show", action="store_true",
                   help="write nothing: read the snapshot in DIR and print the topology natsim sees"
                   " (with what the rules imply, conflicts, assumptions and missing files)")
    add_topology(p, "with --show: also a TOML topology or docker inspect JSON file (repeatable; later wins)")
    p.add_argument("--toml", action="store_true",
                   help="with --show: print the topology as natsim topology TOML, to edit for what-if questions")
    p.set_defaults(func=run)


def _enter_netns(netns: str | None) -> list[str]:
    """The argv prefix that runs a command inside ``ip netns`` NAME (empty: natsim's own namespace)."""
    return [] if netns is None else ["ip", "netns", "exec", netns]


def _enter_path(path: str) -> list[str]:
    """The argv prefix that runs a command inside the network namespace at ``path`` (a Docker SandboxKey)."""
    return ["nsenter", f"--net={path}"]


def _run(argv: list[str]) -> tuple[int, str, str]:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {TIMEOUT:.0f}s"
    except OSError as err:
        return 127, "", str(err)
    return p.returncode, p.stdout, p.stderr


def collect_namespace(directory: Path, enter: list[str], names: Sequence[str] | None = None) -> list[str]:
    """Write the namespace files (``names``, default all but Docker's) by running their commands after ``enter``.

    Returns one line per file that could not be written.
    """
    directory.mkdir(parents=True, exist_ok=True)
    report: list[str] = []
    for f in SNAPSHOT_FILES:
        if f.name.startswith("docker") or (names is not None and f.name not in names):
            continue
        if shutil.which(f.command[0]) is None or (enter and shutil.which(enter[0]) is None):
            tool = f.command[0] if shutil.which(f.command[0]) is None else enter[0]
            report.append(f"{tool}: not installed; {directory / f.name} not written (natsim cannot know {f.tells})")
            continue
        rc, out, err = _run(enter + list(f.command))
        if rc != 0 and not (f.name == "sysctl.txt" and out):  # sysctl -a exits non-zero on unreadable keys
            report.append(f"{' '.join(f.command)} failed ({err.strip().splitlines()[-1] if err.strip() else rc});"
                          f" {directory / f.name} not written")
            continue
        (directory / f.name).write_text(out, encoding="utf-8")
    return report


def _docker(directory: Path, report: list[str]) -> None:
    if shutil.which("docker") is None:
        report.append("docker: not installed; docker-inspect.json and docker-network-inspect.json not written")
        return
    for file, list_cmd, inspect in (
        ("docker-inspect.json", ["docker", "ps", "-aq"], ["docker", "inspect"]),
        ("docker-network-inspect.json", ["docker", "network", "ls", "-q"], ["docker", "network", "inspect"]),
    ):
        rc, out, err = _run(list_cmd)
        if rc != 0:
            report.append(f"{' '.join(list_cmd)} failed ({err.strip() or rc}); {file} not written")
            continue
        ids = out.split()
        text = "[]\n"
        if ids:
            rc, text, err = _run(inspect + ids)
            if rc != 0:
                report.append(f"{' '.join(inspect)} failed ({err.strip() or rc}); {file} not written")
                continue
        (directory / file).write_text(text, encoding="utf-8")


def collect_containers(directory: Path, sandboxes: dict[str, str]) -> list[str]:
    """``containers/NAME/`` for each running container NAME whose network namespace is at the given path."""
    report: list[str] = []
    for name, path in sorted(sandboxes.items()):
        if not Path(path).exists():
            report.append(f"container {name}: its namespace {path} is not there; containers/{name}/ not written")
            continue
        report += collect_namespace(directory / CONTAINERS_DIR / name, _enter_path(path), CONTAINER_FILES)
    return report


def _sandboxes(directory: Path) -> dict[str, str]:
    """Running containers with a namespace of their own, from the docker-inspect.json just written."""
    f = directory / "docker-inspect.json"
    if not f.is_file():
        return {}
    out = {}
    for c in parse_container_inspect(f.read_text(encoding="utf-8"), str(f)):
        if c.sandbox and c.running is not False and c.mode == "bridge":
            out[c.name] = c.sandbox
    return out


def collect(directory: Path, netns: str | None = None, docker: bool = True) -> list[str]:
    """Write the snapshot files into ``directory``; returns one line per file that could not be written."""
    if netns is not None and not Path("/run/netns", netns).exists():
        raise UsageError(f"network namespace {netns!r} does not exist (see `ip netns list`)")
    report = collect_namespace(directory, _enter_netns(netns))
    if docker:
        _docker(directory, report)
        if netns is None:
            report += collect_containers(directory, _sandboxes(directory))
    return report


def show(directory: Path, topology_files: list[str], as_toml: bool = False) -> str:
    """The topology natsim reads from a snapshot directory (plus --topology files), as text or TOML.

    The TOML holds what was read, not what the rules imply: the rules are read again with it.
    """
    from natsim.parse import parse_file
    from natsim.topology.docker_inspect import load_docker_json
    from natsim.topology.infer import infer_topology
    from natsim.topology.merge import merge
    from natsim.topology.toml_file import load_toml

    snap = read_snapshot(directory)
    parts = [snap.topology]
    for name in topology_files:
        path = Path(name)
        if not path.is_file():
            raise UsageError(f"--topology {name}: no such file")
        parts.append(load_toml(path) if path.suffix == ".toml" else load_docker_json(path))
    if as_toml:
        return dump_toml(merge(*parts))
    rulesets = {}
    for path in (snap.iptables, snap.ip6tables):
        if path is not None:
            rs = parse_file(path).ruleset
            if rs.tables:
                rulesets[rs.family] = rs
    topo = infer_topology(rulesets, merge(*parts))
    head = f"snapshot {directory}: {len(snap.present)} files read ({', '.join(snap.present)})\n"
    return head + render_topology(topo)


def run(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    if args.show:
        sys.stdout.write(show(directory, args.topology, args.toml))
        return 0
    if args.toml or args.topology:
        raise UsageError("--toml and --topology go with --show")
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory}: exists and is not a directory")
    report = collect(directory, args.netns, docker=not args.no_docker)
    for line in report:
        print(f"natsim snapshot: {line}", file=sys.stderr)
    written = sorted(p.name for p in directory.iterdir() if p.is_file())
    print(f"wrote {len(written)} files to {directory}: {', '.join(written)}")
    return 0
