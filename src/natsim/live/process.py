"""Running the few read-only kernel tools natsim uses, optionally inside a named network namespace.

Read-only by construction: callers name a *tool* from :data:`READ_ONLY_COMMANDS`, never an argv,
so nothing here can run ``iptables -A``, ``ipset add`` or ``sysctl -w``.  The namespace is entered
in the child (``setns(2)`` between fork and exec), so natsim itself never leaves its own namespace
and no shell is involved.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from natsim.errors import EnvironmentProblem

#: Each read-only command natsim may run: tool key -> argv (argv[0] is looked up on PATH and sbin).
READ_ONLY_COMMANDS: dict[str, tuple[str, ...]] = {
    "iptables-nft-save": ("iptables-nft-save", "-c"),
    "ip6tables-nft-save": ("ip6tables-nft-save", "-c"),
    "iptables-legacy-save": ("iptables-legacy-save", "-c"),
    "ip6tables-legacy-save": ("ip6tables-legacy-save", "-c"),
    "ipset-save": ("ipset", "save"),
    "nft-list-tables": ("nft", "list", "tables"),
}

#: Where root's tools live when PATH (e.g. under sudo or cron) lacks the sbin directories.
_SBIN = ("/usr/sbin", "/sbin", "/usr/local/sbin")

NETNS_DIR = "/run/netns"
_CLONE_NEWNET = 0x40000000
TIMEOUT_S = 20.0


@dataclass(frozen=True, slots=True)
class ToolOutput:
    tool: str
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


def find_tool(name: str) -> str | None:
    """The absolute path of an executable, from PATH first and then the sbin directories."""
    found = shutil.which(name)
    if found:
        return found
    for d in _SBIN:
        path = os.path.join(d, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def require_root(what: str = "reading the live kernel rules") -> None:
    """One sentence, exit 2: the kernel refuses rule dumps to non-root users."""
    if os.geteuid() != 0:
        raise EnvironmentProblem(f"natsim: {what} needs root (run natsim as root or with sudo).")


def netns_path(name: str) -> str:
    """The bind-mount of a named namespace (as ``ip netns add`` creates it), checked to exist."""
    if not name or "/" in name or name in (".", ".."):
        raise EnvironmentProblem(f"natsim: {name!r} is not a network namespace name.")
    path = os.path.join(NETNS_DIR, name)
    if not os.path.exists(path):
        raise EnvironmentProblem(
            f"natsim: network namespace {name!r} does not exist (no {path}; see `ip netns list`)."
        )
    return path


def _setns_preexec(path: str) -> Callable[[], None]:
    """A pre-exec hook that moves the child (only) into the namespace at ``path``."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)

    def enter() -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.setns(fd, _CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"setns({path}): {os.strerror(err)}")
        finally:
            os.close(fd)

    return enter


def run_in_netns(
    argv: tuple[str, ...],
    netns: str | None,
    *,
    env: dict[str, str] | None = None,
    timeout: float = TIMEOUT_S,
) -> subprocess.CompletedProcess[str]:
    """Run argv (no shell) in ``netns`` or in natsim's own namespace; stdout/stderr captured."""
    preexec = _setns_preexec(netns_path(netns)) if netns else None
    try:
        return subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            errors="surrogateescape",
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=preexec,
            timeout=timeout,
            check=False,
        )
    except subprocess.SubprocessError as err:  # timeout, or setns failing in the child
        raise EnvironmentProblem(f"natsim: running {argv[0]} failed: {err}.") from None
    except OSError as err:
        raise EnvironmentProblem(f"natsim: cannot run {argv[0]}: {err.strerror or err}.") from None


def run_tool(tool: str, netns: str | None = None) -> ToolOutput:
    """Run one of :data:`READ_ONLY_COMMANDS`; a missing binary is an :class:`EnvironmentProblem`."""
    argv = READ_ONLY_COMMANDS[tool]
    exe = find_tool(argv[0])
    if exe is None:
        raise EnvironmentProblem(
            f"natsim: {argv[0]} is not installed (install the iptables/ipset/nftables packages)."
        )
    full = (exe, *argv[1:])
    done = run_in_netns(full, netns)
    return ToolOutput(tool, full, done.returncode, done.stdout, done.stderr)


def tool_available(tool: str) -> bool:
    return find_tool(READ_ONLY_COMMANDS[tool][0]) is not None


def run_python_module(module: str, args: tuple[str, ...], netns: str | None, env: dict[str, str]) -> ToolOutput:
    """Run ``python -m module args`` (natsim's own read-only helpers) in ``netns``."""
    argv = (sys.executable, "-m", module, *args)
    done = run_in_netns(argv, netns, env={**os.environ, **env})
    return ToolOutput(module, argv, done.returncode, done.stdout, done.stderr)
