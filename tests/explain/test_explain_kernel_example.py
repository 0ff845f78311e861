"""The bundled example against the kernel: natsim's verdicts, seen addresses and fixes equal what a real host does.

The lab builds examples/mysqlserver (same rules, bridge, addresses, docker-proxy) in network
namespaces.  Each flow natsim explains is probed there; each fix natsim proposes is applied
there with the very command it prints, and must flip the kernel's outcome too.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest

pytest.importorskip("natsim.engine.simulation", reason="the engine (natsim.engine.simulation) is not in this build yet")

from natsim.explain.ask import ask  # noqa: E402
from tests.lab import Bridge, Container, Host, Listen, Publish, build  # noqa: E402

pytestmark = pytest.mark.kernel

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mysqlserver"
CLIENT = "192.0.2.1"  # the outside peer on eth0's network (the example's upstream router)
KERNEL_OK = {"connected"}


def example_host(rules: str) -> Host:
    return Host(
        backend="nft",
        rules_v4=rules,
        bridges=(Bridge("docker0", "172.17.0.1/16"),),
        containers=(
            Container("mysqlserver", "docker0", "172.17.0.2", listen=(Listen("tcp", 3306),)),
            Container("webapp", "docker0", "172.17.0.3"),
        ),
        publish=(Publish("mysqlserver", 3306, 8066),),
        userland_proxy=True,
        uplink_v4=("192.0.2.10/24",),
        outside_v4=CLIENT,
        outside_v6=None,
        uplink_v6=(),
    )


def _lab_source(source: str) -> str:
    if source.startswith("container:"):
        return source.split(":", 1)[1]
    return "outside" if source == CLIENT else source


def _probe(h, dst: str, port: int, source: str):
    r = h.probe(_lab_source(source), dst, port, timeout=0.3)
    h.flush_conntrack()
    return r


def _probe_flow(h, flow_answer, source: str):
    """Probe the flow as natsim resolved it (label "SRC -> ADDRESS:PORT/PROTO")."""
    target = flow_answer.label.split(" -> ", 1)[1]
    address, port = target.rsplit("/", 1)[0].rsplit(":", 1)
    return _probe(h, address, int(port), source)


@pytest.fixture(scope="module")
def lab():
    with build(example_host((EXAMPLE / "iptables.rules").read_text()), prefix="explain") as h:
        yield h


@pytest.mark.parametrize(
    "source", [CLIENT, "host", "container:webapp"],
)
def test_example_flows_agree_with_the_kernel(lab, source: str) -> None:
    answer = ask(str(EXAMPLE), source, "host:8066/tcp")
    for fa in answer.flows:
        r = _probe_flow(lab, fa, source)
        kernel = "reachable" if r.outcome in KERNEL_OK else "blocked"
        assert (fa.verdict, fa.label) == (kernel, fa.label), r
        primary = fa.primary
        assert primary is not None
        assert str(primary.seen_source) == r.seen, (fa.label, r)


def _run_commands(h, commands) -> list[tuple[str, ...]]:
    applied = []
    for cmd in commands:
        words = shlex.split(cmd)
        assert words[0] == "iptables"
        h.iptables(*words[1:])
        applied.append(tuple(words[1:]))
    return applied


def _undo(h, applied) -> None:
    for words in reversed(applied):
        i = words.index("-I") if "-I" in words else words.index("-A")
        chain = words[i + 1]
        rest = words[i + 3:] if words[i] == "-I" else words[i + 2:]
        h.iptables(*words[:i], "-D", chain, *rest)


def test_close_fix_closes_the_exposure_in_the_kernel(lab) -> None:
    answer = ask(str(EXAMPLE), CLIENT, "host:8066/tcp")
    (fa,) = answer.flows
    assert fa.verdict == "reachable"
    (fix,) = fa.fixes
    assert fix.purpose == "close" and fix.verdict_after == "blocked"
    applied = _run_commands(lab, fix.commands)
    try:
        assert _probe_flow(lab, fa, CLIENT).outcome not in KERNEL_OK
    finally:
        _undo(lab, applied)
    assert _probe_flow(lab, fa, CLIENT).outcome in KERNEL_OK


def test_open_fix_opens_input_policy_drop_in_the_kernel(tmp_path) -> None:
    """moby#27817: with INPUT policy DROP a container cannot reach a published port through docker-proxy."""
    snap = tmp_path / "snap"
    shutil.copytree(EXAMPLE, snap)
    rules = (snap / "iptables.rules").read_text().replace(":INPUT ACCEPT [0:0]\n:FORWARD", ":INPUT DROP [0:0]\n:FORWARD")
    (snap / "iptables.rules").write_text(rules)
    answer = ask(str(snap), "container:webapp", "host:8066/tcp", via="172.17.0.1")
    (fa,) = answer.flows
    assert fa.verdict == "blocked"
    assert fa.result.outcomes[0].deciding.chain == "INPUT"
    (fix,) = fa.fixes
    assert fix.purpose == "open" and fix.verdict_after == "reachable"
    with build(example_host(rules), prefix="explain") as h:
        assert _probe_flow(h, fa, "container:webapp").outcome not in KERNEL_OK
        _run_commands(h, fix.commands)
        r = _probe_flow(h, fa, "container:webapp")
        assert r.outcome in KERNEL_OK, (fix.commands, r)


def test_open_fix_for_direct_access_to_the_container(lab) -> None:
    """Docker 28+ drops packets sent straight to a container's address from outside (raw PREROUTING)."""
    answer = ask(str(EXAMPLE), CLIENT, "container:mysqlserver:3306/tcp")
    (fa,) = answer.flows
    assert fa.verdict == "blocked"
    assert _probe(lab, "172.17.0.2", 3306, CLIENT).outcome not in KERNEL_OK
    (fix,) = fa.fixes
    applied = _run_commands(lab, fix.commands)
    try:
        assert _probe(lab, "172.17.0.2", 3306, CLIENT).outcome in KERNEL_OK, fix.commands
    finally:
        _undo(lab, applied)
