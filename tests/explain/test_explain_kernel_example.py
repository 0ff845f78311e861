"""The bundled example against the kernel: natsim's verdicts, seen addresses and fixes equal what a real host does.

The lab builds examples/mysqlserver (same rules, bridge, addresses, docker-proxy) in network
namespaces.  Each flow natsim explains is probed there; each fix natsim proposes is applied
there with the very command it prints, and must flip the kernel's outcome too.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

pytest.importorskip("natsim.engine.simulation", reason="the engine (natsim.engine.simulation) is not in this build yet")

from natsim.explain.ask import ask  # noqa: E402
from tests.lab import Bridge, Container, Host, Listen, Publish, build  # noqa: E402

pytestmark = pytest.mark.kernel

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mysqlserver"
CLIENT = "192.0.2.1"  # the outside peer on eth0's network (the example's upstream router)
KERNEL_OK = {"connected"}


def example_host(rules: str, backend: str = "nft") -> Host:
    return Host(
        backend=backend,
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


def _probe(h, dst: str, port: int, source: str, expect_ok: bool = True):
    """One bounded probe: 1 s when a connection is expected (slack for a loaded machine), 0.3 s when a drop is."""
    r = h.probe(_lab_source(source), dst, port, timeout=1.0 if expect_ok else 0.3)
    h.flush_conntrack()
    return r


def _probe_flow(h, flow_answer, source: str, expect_ok: bool = True):
    """Probe the flow as natsim resolved it (label "SRC -> ADDRESS:PORT/PROTO")."""
    target = flow_answer.label.split(" -> ", 1)[1]
    address, port = target.rsplit("/", 1)[0].rsplit(":", 1)
    return _probe(h, address, int(port), source, expect_ok)


@pytest.fixture(scope="module", params=["nft", "legacy"])
def lab(request):
    with build(example_host((EXAMPLE / "iptables.rules").read_text(), request.param), prefix="explain") as h:
        yield h


@pytest.mark.parametrize(
    "source", [CLIENT, "host", "container:webapp"],
)
def test_example_flows_agree_with_the_kernel(lab, source: str) -> None:
    answer = ask(str(EXAMPLE), source, "host:8066/tcp")
    for fa in answer.flows:
        r = _probe_flow(lab, fa, source, fa.verdict == "reachable")
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
        assert _probe_flow(lab, fa, CLIENT, expect_ok=False).outcome not in KERNEL_OK
    finally:
        _undo(lab, applied)
    assert _probe_flow(lab, fa, CLIENT).outcome in KERNEL_OK


def test_open_fix_opens_input_policy_drop_in_the_kernel(tmp_path) -> None:
    """moby#27817: with INPUT policy DROP a container cannot reach a published port through docker-proxy."""
    snap = tmp_path / "snap"
    shutil.copytree(EXAMPLE, snap)
    # the filter table's INPUT (the one followed by FORWARD; nat has INPUT too)
    rules = re.sub(r"^:INPUT ACCEPT (\[\d+:\d+\])\n:FORWARD", r":INPUT DROP \1\n:FORWARD",
                   (snap / "iptables.rules").read_text(), flags=re.M)
    assert ":INPUT DROP" in rules
    (snap / "iptables.rules").write_text(rules)
    answer = ask(str(snap), "container:webapp", "host:8066/tcp", via="172.17.0.1")
    (fa,) = answer.flows
    assert fa.verdict == "blocked"
    assert fa.result.outcomes[0].deciding.chain == "INPUT"
    (fix,) = fa.fixes
    assert fix.purpose == "open" and fix.verdict_after == "reachable"
    with build(example_host(rules), prefix="explain") as h:
        assert _probe_flow(h, fa, "container:webapp", expect_ok=False).outcome not in KERNEL_OK
        _run_commands(h, fix.commands)
        r = _probe_flow(h, fa, "container:webapp")
        assert r.outcome in KERNEL_OK, (fix.commands, r)


def test_open_fix_for_direct_access_to_the_container(lab) -> None:
    """Docker 28+ drops packets sent straight to a container's address from outside (raw PREROUTING)."""
    answer = ask(str(EXAMPLE), CLIENT, "container:mysqlserver:3306/tcp")
    (fa,) = answer.flows
    assert fa.verdict == "blocked"
    assert _probe(lab, "172.17.0.2", 3306, CLIENT, expect_ok=False).outcome not in KERNEL_OK
    (fix,) = fa.fixes
    applied = _run_commands(lab, fix.commands)
    try:
        assert _probe(lab, "172.17.0.2", 3306, CLIENT).outcome in KERNEL_OK, fix.commands
    finally:
        _undo(lab, applied)


def test_open_fix_for_a_dropped_reply(tmp_path) -> None:
    """A DOCKER-USER rule that drops what containers send out also drops the replies of published ports."""
    snap = tmp_path / "snap"
    shutil.copytree(EXAMPLE, snap)
    rules = (snap / "iptables.rules").read_text().replace(
        "-A FORWARD -j DOCKER-USER\n", "-A FORWARD -j DOCKER-USER\n-A DOCKER-USER -i docker0 -o eth0 -j DROP\n"
    )
    (snap / "iptables.rules").write_text(rules)
    answer = ask(str(snap), "outside", "host:8066/tcp")
    (fa,) = answer.flows
    assert fa.verdict == "blocked"
    deciding = fa.result.outcomes[0].deciding
    assert (deciding.chain, deciding.rule_index) == ("DOCKER-USER", 1)
    assert any(leg.direction == "reply" and deciding in leg.steps for leg in fa.result.outcomes[0].legs)
    (fix,) = fa.fixes
    assert "--sport 3306" in fix.commands[0] and "-o eth0" in fix.commands[0]
    with build(example_host(rules), prefix="explain") as h:
        assert _probe(h, "192.0.2.10", 8066, CLIENT, expect_ok=False).outcome not in KERNEL_OK
        _run_commands(h, fix.commands)
        r = _probe(h, "192.0.2.10", 8066, CLIENT)
        assert r.outcome in KERNEL_OK, (fix.commands, r)


def test_open_fixes_for_input_and_output_policy_drop(tmp_path) -> None:
    """moby#20243: with INPUT and OUTPUT policy DROP the host cannot reach its own published port."""
    snap = tmp_path / "snap"
    shutil.copytree(EXAMPLE, snap)
    rules = (snap / "iptables.rules").read_text()
    rules = re.sub(r"^:INPUT ACCEPT (\[\d+:\d+\])\n:FORWARD", r":INPUT DROP \1\n:FORWARD", rules, flags=re.M)
    rules = re.sub(r"^(:FORWARD ACCEPT \[\d+:\d+\]\n):OUTPUT ACCEPT", r"\1:OUTPUT DROP", rules, flags=re.M)
    (snap / "iptables.rules").write_text(rules)
    answer = ask(str(snap), "host", "host:8066/tcp")
    assert [fa.verdict for fa in answer.flows] == ["blocked", "blocked"]
    # once opened, the path is the example's: the server sees what natsim says it sees there
    seen = {fa.label: str(fa.primary.seen_source) for fa in ask(str(EXAMPLE), "host", "host:8066/tcp", fixes=False).flows}
    with build(example_host(rules), prefix="explain") as h:
        for fa in answer.flows:
            (fix,) = fa.fixes
            assert _probe_flow(h, fa, "host", expect_ok=False).outcome not in KERNEL_OK
            applied = _run_commands(h, fix.commands)
            try:
                r = _probe_flow(h, fa, "host")
                assert r.outcome in KERNEL_OK, (fa.label, fix.commands, r)
                assert r.seen == seen[fa.label]
            finally:
                _undo(h, applied)


def test_hairpin_fix_when_dockers_masquerade_is_missing(tmp_path) -> None:
    """moby PR #48854 (SOURCES A10): userland-proxy=false, and without the hairpin MASQUERADE a container
    cannot reach itself through its own published port; natsim proposes Docker's rule, the kernel agrees."""
    from tests.lab.topology import to_toml

    golden = (ROOT / "fixtures" / "corpus" / "moby-iptabler-golden-noproxy-hairpin-icc-masq-nat.rules").read_text()
    hairpin = "-A POSTROUTING -s 192.168.0.2/32 -d 192.168.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE\n"
    assert hairpin in golden
    rules = golden.replace(hairpin, "")
    spec = Host(
        backend="nft", rules_v4=rules,
        bridges=(Bridge("br-dummy", "192.168.0.1/24", hairpin=True),),
        containers=(Container("c1", "br-dummy", "192.168.0.2", listen=(Listen("tcp", 80),)),),
        publish=(Publish("c1", 80, 8080),), userland_proxy=False, route_localnet=("br-dummy",),
        outside_v6=None, uplink_v6=(),
    )
    (tmp_path / "iptables.rules").write_text(rules)
    (tmp_path / "topology.toml").write_text(to_toml(spec))
    answer = ask(str(tmp_path / "iptables.rules"), "container:c1", "host:8080/tcp", [str(tmp_path / "topology.toml")],
                 via="198.18.0.1")
    (fa,) = answer.flows
    assert fa.verdict == "blocked"
    (fix,) = fa.fixes
    assert fix.commands == ("iptables -t nat -I POSTROUTING 1 " + hairpin.removeprefix("-A POSTROUTING ").strip(),)
    with build(spec, prefix="explain") as h:
        assert _probe(h, "198.18.0.1", 8080, "container:c1", expect_ok=False).outcome not in KERNEL_OK
        _run_commands(h, fix.commands)
        r = _probe(h, "198.18.0.1", 8080, "container:c1")
        assert r.outcome in KERNEL_OK, (fix.commands, r)
