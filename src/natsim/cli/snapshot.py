"""``natsim snapshot DIR [--netns NAME]``: collect the standard snapshot files by running read-only commands.

It writes exactly what the copy-paste block in docs/snapshot.md writes, so a user can
collect a snapshot with or without natsim.  Nothing here changes the host.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from natsim.errors import UsageError
from natsim.topology.snapshot import SNAPSHOT_FILES, SnapshotFile

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
    p.set_defaults(func=run)


def _argv(f: SnapshotFile, netns: str | None) -> list[str] | None:
    """The command for one file, run inside ``netns`` when given; None when its tool is absent."""
    if f.name.startswith("docker"):
        return None  # the Docker files are collected by _docker
    if shutil.which(f.command[0]) is None:
        return None
    if netns is None:
        return list(f.command)
    return ["ip", "netns", "exec", netns, *f.command]


def _run(argv: list[str]) -> tuple[int, str, str]:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {TIMEOUT:.0f}s"
    except OSError as err:
        return 127, "", str(err)
    return p.returncode, p.stdout, p.stderr


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


def collect(directory: Path, netns: str | None = None, docker: bool = True) -> list[str]:
    """Write the snapshot files into ``directory``; returns one line per file that could not be written."""
    directory.mkdir(parents=True, exist_ok=True)
    report: list[str] = []
    if netns is not None and not Path("/run/netns", netns).exists():
        raise UsageError(f"network namespace {netns!r} does not exist (see `ip netns list`)")
    for f in SNAPSHOT_FILES:
        if f.name.startswith("docker"):
            continue
        argv = _argv(f, netns)
        if argv is None:
            report.append(f"{f.command[0]}: not installed; {f.name} not written (natsim cannot know {f.tells})")
            continue
        rc, out, err = _run(argv)
        if rc != 0 and not (f.name == "sysctl.txt" and out):  # sysctl -a exits non-zero on unreadable keys
            report.append(f"{' '.join(f.command)} failed ({err.strip().splitlines()[-1] if err.strip() else rc});"
                          f" {f.name} not written")
            continue
        (directory / f.name).write_text(out, encoding="utf-8")
    if docker:
        _docker(directory, report)
    return report


def run(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory}: exists and is not a directory")
    report = collect(directory, args.netns, docker=not args.no_docker)
    for line in report:
        print(f"natsim snapshot: {line}", file=sys.stderr)
    written = sorted(p.name for p in directory.iterdir() if p.is_file())
    print(f"wrote {len(written)} files to {directory}: {', '.join(written)}")
    return 0
