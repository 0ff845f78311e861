"""Replays every counterexample the property suites found (fixtures/regressions/*.json).

Each record says what the kernel did (recorded per backend) and what natsim must do:
* ``roundtrip``: parsing the input must give the model of the kernel's own dump of it;
* ``refused``: a backend refuses the input; natsim must refuse it too (decision 0023: natsim refuses
  what only one backend accepts);
* ``render``: natsim renders the parsed input back as the same iptables-save text;
* ``differential``: natsim's verdict and seen address for the flow equal the kernel's.
``status: open`` records are strict xfails: when the owner fixes natsim they fail, and the
record becomes ``fixed``.  Kernel-marked tests re-measure each record so it cannot rot.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from natsim.engine import Network, simulate
from natsim.errors import InputError
from natsim.parse import parse_text
from natsim.testing.docker import docker_rules, host_from_dict
from natsim.testing.topology import FlowSpec, flow_of, topology_of
from natsim.testing.verdicts import compare

from propkit import scratch_netns

ROOT = Path(__file__).resolve().parents[2] / "fixtures" / "regressions"
RECORDS = {p.stem: json.loads(p.read_text()) for p in sorted(ROOT.glob("*.json"))}


def _params(kind: str) -> list:
    out = []
    for name, rec in RECORDS.items():
        if rec["kind"] != kind:
            continue
        marks = []
        if rec["status"] == "open":
            marks.append(pytest.mark.xfail(strict=True, reason=f"open, for the {rec['owner']} engineer: {rec['finding']}"))
        out.append(pytest.param(name, marks=marks, id=name))
    return out


def _tables(text: str, names: set[str] | None = None) -> dict:
    rs = parse_text(text).ruleset
    return {t.name: {c.name: (c.policy, c.rules) for c in t.chains} for t in rs.tables
            if names is None or t.name in names}


def test_there_are_records() -> None:
    assert {r["kind"] for r in RECORDS.values()} >= {"roundtrip", "refused", "differential"}


@pytest.mark.parametrize("name", _params("roundtrip"))
def test_roundtrip_record(name: str) -> None:
    rec = RECORDS[name]
    mine = _tables(rec["input"])
    for backend, kernel in rec["kernel"].items():
        assert _tables(kernel["save"], set(mine)) == mine, f"{backend}: {rec['finding']}"


@pytest.mark.parametrize("name", _params("refused"))
def test_refused_record(name: str) -> None:
    from natsim.validate import validate

    rec = RECORDS[name]
    try:
        problems = validate(parse_text(rec["input"]))
    except InputError as err:  # refused while parsing: as good as a validation error
        problems = [err]
    assert problems, rec["finding"]


@pytest.mark.parametrize("name", _params("render"))
def test_render_record(name: str) -> None:
    from natsim.render.save import render_ruleset

    rec = RECORDS[name]
    rendered = render_ruleset(parse_text(rec["input"]).ruleset, counters=True)
    assert [l for l in rendered.splitlines() if not l.startswith("#")] == rec["input"].splitlines(), rec["finding"]


@pytest.mark.parametrize("name", _params("differential"))
def test_differential_record(name: str) -> None:
    rec = RECORDS[name]
    host = host_from_dict(rec["host"])
    spec = FlowSpec(**rec["flow"])
    net = Network(rulesets={4: parse_text(docker_rules(host)).ruleset}, ipsets=None, topology=topology_of(host))
    result = simulate(net, flow_of(host, spec))

    class Probe:
        def __init__(self, d: dict) -> None:
            self.outcome, self.seen = d["outcome"], d.get("seen")

    for backend, kernel in rec["kernel"].items():
        assert compare(spec, Probe(kernel), result) is None, f"{backend}: {rec['finding']}"


# ---------------------------------------------------------------- the records still hold in the kernel

@pytest.fixture(scope="module")
def netns():
    with scratch_netns("prop-reg") as name:
        yield name


@pytest.mark.kernel
@pytest.mark.parametrize("backend", ["legacy", "nft"])
@pytest.mark.parametrize("name", [n for n, r in RECORDS.items() if r["kind"] in ("roundtrip", "refused")])
def test_record_still_matches_the_kernel(netns: str, name: str, backend: str) -> None:
    rec = RECORDS[name]
    exec_ = ["ip", "netns", "exec", netns]
    p = subprocess.run([*exec_, f"iptables-{backend}-restore"], input=rec["input"], text=True,
                       capture_output=True, timeout=20)
    kernel = rec["kernel"][backend]
    assert (p.returncode != 0) == kernel["refused"], p.stderr
    if not kernel["refused"]:
        save = subprocess.run([*exec_, f"iptables-{backend}-save"], text=True, capture_output=True, timeout=20).stdout
        names = set(_tables(rec["input"]))
        assert _tables(save, names) == _tables(kernel["save"], names)
