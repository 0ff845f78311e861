"""Network namespaces and the agent process that lives in each one.

Names are ``lab.<prefix>.<pid>.<counter>.<role>``: unique per test process, and a
namespace whose creator pid is gone is a leak that :func:`sweep_stale` removes.
Nothing here touches the root namespace beyond creating and deleting named namespaces.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

AGENT = Path(__file__).with_name("agent.py")
NETNS_DIR = Path("/run/netns")
NAME_RE = re.compile(r"^lab\.([A-Za-z0-9_-]+)\.(\d+)\.(\d+)\.")

_counter = itertools.count(1)
_live: set[str] = set()
_live_lock = threading.Lock()


class LabError(RuntimeError):
    """A lab operation failed: the message says which namespace and what the tool printed."""


def new_name(prefix: str, role: str) -> str:
    return f"lab.{prefix}.{os.getpid()}.{next(_counter)}.{role}"


def ip_batch(lines: list[str]) -> None:
    """Run ``ip -batch`` in the *current* (root) namespace; only netns add/del go through here."""
    if not lines:
        return
    p = subprocess.run(["ip", "-force", "-batch", "-"], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise LabError(f"ip -batch failed: {p.stderr.strip()}")


def create(names: list[str]) -> None:
    with _live_lock:
        _live.update(names)
    ip_batch([f"netns add {n}" for n in names])


def delete(names: list[str]) -> None:
    present = [n for n in names if (NETNS_DIR / n).exists()]
    try:
        ip_batch([f"netns del {n}" for n in present])
    finally:
        with _live_lock:
            _live.difference_update(names)


def sweep_stale() -> list[str]:
    """Delete lab namespaces whose creating process has exited (leaks from a killed run)."""
    stale = []
    if NETNS_DIR.is_dir():
        for entry in NETNS_DIR.iterdir():
            m = NAME_RE.match(entry.name)
            if m and not Path(f"/proc/{m.group(2)}").exists():
                stale.append(entry.name)
    delete(stale)
    return stale


def live_namespaces() -> set[str]:
    with _live_lock:
        return set(_live)


class Zygote:
    """The process that forks agents (agent.py --zygote); started once per test process."""

    _lock = threading.Lock()
    _ctl: socket.socket | None = None
    _proc: subprocess.Popen | None = None

    @classmethod
    def spawn(cls, netns: str) -> socket.socket:
        ours, theirs = socket.socketpair()
        with cls._lock:
            if cls._proc is None or cls._proc.poll() is not None:
                ctl, child = socket.socketpair()
                cls._proc = subprocess.Popen([sys.executable, str(AGENT), "--zygote", str(child.fileno())],
                                             pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL)
                child.close()
                cls._ctl = ctl
            socket.send_fds(cls._ctl, [netns.encode()], [theirs.fileno()])
        theirs.close()
        return ours


class Agent:
    """The test-side handle of one agent process (see agent.py); thread safe."""

    def __init__(self, netns: str, label: str):
        self.netns, self.label = netns, label
        self.lock = threading.Lock()
        self.sock = Zygote.spawn(netns)
        self.rx = self.sock.makefile("r")
        self.tx = self.sock.makefile("w")
        self.pid: int | None = None

    def wait_ready(self) -> None:
        line = self.rx.readline()
        if not line:
            raise LabError(f"agent for {self.netns} did not start (see stderr)")
        self.pid = json.loads(line)["pid"]

    def send(self, op: str, **args: object) -> None:
        self.tx.write(json.dumps({"op": op, **args}) + "\n")
        self.tx.flush()

    def receive(self, what: str = "") -> dict:
        line = self.rx.readline()
        if not line:
            raise LabError(f"agent {self.label} ({self.netns}) died (see stderr)")
        res = json.loads(line)
        if not res.pop("ok"):
            raise LabError(f"{self.label}: {what}: {res['error']}")
        return res

    def call(self, op: str, **args: object) -> dict:
        with self.lock:
            self.send(op, **args)
            return self.receive(op)

    def run(self, argv: list[str], input: str | None = None, check: bool = True) -> dict:
        res = self.call("run", argv=argv, input=input)
        if check and res["rc"] != 0:
            raise LabError(f"{self.label}: {' '.join(argv)} exited {res['rc']}: {res['err'].strip()}")
        return res

    def stop(self) -> None:
        """Close the socket: the agent's loop ends and it exits (SIGKILL if it is stuck)."""
        try:
            self.send("exit")
        except (OSError, ValueError):
            pass
        for f in (self.rx, self.tx, self.sock):
            try:
                f.close()
            except OSError:
                pass
        if self.pid is not None:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def parallel(calls: list[tuple[Agent, str, dict]]) -> list[dict]:
    """Send requests to several agents at once and then collect the answers (one per agent at a time)."""
    by_agent: dict[int, list[int]] = {}
    for i, (agent, _, _) in enumerate(calls):
        by_agent.setdefault(id(agent), []).append(i)
    results: list[dict] = [{}] * len(calls)
    pending = dict(by_agent)
    # One request in flight per agent keeps each agent's answers in order and the pipes small.
    while pending:
        inflight = []
        for key, idxs in list(pending.items()):
            i = idxs.pop(0)
            agent, op, args = calls[i]
            agent.lock.acquire()
            agent.send(op, **args)
            inflight.append(i)
            if not idxs:
                del pending[key]
        errors = []
        for i in inflight:
            agent, op, _ = calls[i]
            try:
                results[i] = agent.receive(op)
            except LabError as e:
                errors.append(e)
            finally:
                agent.lock.release()
        if errors:
            raise errors[0]
    return results


@atexit.register
def _cleanup_at_exit() -> None:
    names = live_namespaces()
    if names:
        delete(sorted(names))
