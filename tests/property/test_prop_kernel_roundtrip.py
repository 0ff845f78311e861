"""render -> kernel restore -> kernel save -> parse gives the same model, on both iptables backends.

Rulesets come from ``natsim.testing.rulesets(kernel=True)``: the modules and forms the kernel
accepts and prints back.  One network namespace per backend and family is reused; each example
restores its tables (which replaces them whole) and compares table by table.
"""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from natsim.parse import parse_text
from natsim.render.save import render_ruleset
from natsim.testing import rulesets
from natsim.testing.docker import docker_hosts, docker_ipsets, docker_rules
from natsim.testing.kube import kube_rules, kube_services

from propkit import scratch_netns

pytestmark = pytest.mark.kernel

TOOLS = {("legacy", 4): "iptables-legacy", ("nft", 4): "iptables-nft",
         ("legacy", 6): "ip6tables-legacy", ("nft", 6): "ip6tables-nft"}
BUDGET = settings(max_examples=max(15, settings().max_examples // 6), deadline=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def netns():
    with scratch_netns("prop-rt") as name:
        yield name


def kernel_roundtrip(netns: str, backend: str, family: int, text: str) -> str:
    tool = TOOLS[(backend, family)]
    run = ["ip", "netns", "exec", netns]
    restore = subprocess.run([*run, f"{tool}-restore", "-w"] if backend == "legacy" else [*run, f"{tool}-restore"],
                             input=text, text=True, capture_output=True, timeout=20)
    assert restore.returncode == 0, f"the kernel refused natsim's rendering:\n{restore.stderr}\n{text}"
    save = subprocess.run([*run, f"{tool}-save"], text=True, capture_output=True, timeout=20, check=True)
    return save.stdout


@pytest.mark.parametrize("family", [4, 6])
@pytest.mark.parametrize("backend", ["legacy", "nft"])
@BUDGET
@given(data=st.data())
def test_render_restore_save_parse(netns: str, backend: str, family: int, data: st.DataObject) -> None:
    model = data.draw(rulesets(family=family, kernel=True), label="ruleset")
    text = render_ruleset(model, counters=False)
    saved = parse_text(kernel_roundtrip(netns, backend, family, text), family=family).ruleset
    for table in model.tables:
        back = saved.table(table.name)
        assert back is not None, f"iptables-save printed no {table.name} table"
        mine = {c.name: (c.policy, c.rules) for c in table.chains}
        theirs = {c.name: (c.policy, tuple(r for r in c.rules)) for c in back.chains}
        assert mine == theirs, f"{backend} iptables-save differs for table {table.name}:\n{text}"


def _tables(text: str, names: set[str]) -> dict:
    return {t.name: {c.name: (c.policy, c.rules) for c in t.chains}
            for t in parse_text(text).ruleset.tables if t.name in names}


@pytest.mark.parametrize("backend", ["legacy", "nft"])
@BUDGET
@given(data=st.data())
def test_docker_and_kube_layouts_are_what_the_kernel_prints(netns: str, backend: str, data: st.DataObject) -> None:
    """The era layouts of natsim.testing are exactly iptables-save's output (so they are real shapes)."""
    if data.draw(st.booleans(), label="docker"):
        host = data.draw(docker_hosts(), label="host")
        text = docker_rules(host)
        if ipsets := docker_ipsets(host):
            subprocess.run(["ip", "netns", "exec", netns, "ipset", "restore", "-exist"], input=ipsets, text=True,
                           check=True, timeout=20)
    else:
        text = kube_rules(data.draw(kube_services(), label="services"))
    mine = _tables(text, {"raw", "nat", "filter"})
    assert _tables(kernel_roundtrip(netns, backend, 4, text), set(mine)) == mine, text
