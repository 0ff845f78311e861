"""dump_toml writes what parse_toml reads: a snapshot exported for what-if editing reads back as the same model."""

from __future__ import annotations

import re
from pathlib import Path

from natsim.topology.docker_inspect import load_docker_json
from natsim.topology.merge import merge
from natsim.topology.snapshot import read_snapshot
from natsim.topology.toml_dump import dump_toml
from natsim.topology.toml_file import parse_toml

DATA = Path(__file__).parent / "data"
DOC = Path(__file__).resolve().parents[2] / "docs" / "snapshot.md"


def same(a, b) -> None:
    assert a.namespaces == b.namespaces
    assert a.networks == b.networks
    assert a.containers == b.containers
    assert a.daemon == b.daemon
    assert a.host == b.host


def test_the_documented_example_round_trips() -> None:
    (block,) = re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    t = parse_toml(block, "doc.toml")
    same(parse_toml(dump_toml(t), "dumped.toml"), t)


def test_a_recorded_snapshot_with_docker_facts_round_trips() -> None:
    t = merge(read_snapshot(DATA / "host1").topology, load_docker_json(DATA / "docker-inspect.json"),
              load_docker_json(DATA / "docker-network-inspect.json"))
    text = dump_toml(t)
    back = parse_toml(text, "dumped.toml")
    same(back, t)
    assert back.host_namespace.sysctl("net.ipv4.ip_forward").provenance.source == "dumped.toml"
    assert "# not known: iptables.rules" in text


def test_an_edited_dump_answers_the_what_if() -> None:
    t = read_snapshot(DATA / "host1").topology
    text = dump_toml(t)
    # veth2's hairpin off -> on
    edited = re.sub(r'(name = "veth2"(?:\n  [^\n]*)*?\n  hairpin = )false', r"\1true", text)
    assert edited != text
    assert parse_toml(edited).host_namespace.link("veth2").hairpin is True
