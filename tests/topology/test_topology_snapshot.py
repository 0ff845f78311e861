"""A snapshot directory read into a topology, and the issue-8 join: container → MAC → bridge port → hairpin."""

from __future__ import annotations

import ipaddress
import shutil
from pathlib import Path

import pytest

from natsim.engine.tri import Unknown
from natsim.errors import UsageError
from natsim.topology.merge import merge
from natsim.topology.model import Container, Endpoint, Topology
from natsim.topology.snapshot import SNAPSHOT_FILES, read_snapshot
from natsim.topology.toml_file import parse_toml

DATA = Path(__file__).parent / "data"
ip = ipaddress.ip_address

#: the two "containers" of host1, known only by address (as inference from rules gives them)
CONTAINERS = Topology(containers=(
    Container("c1", network_mode="bridge", endpoints=(Endpoint("bridge", ip("172.17.0.2"), 16),)),
    Container("c2", network_mode="bridge", endpoints=(Endpoint("bridge", ip("172.17.0.3"), 16),)),
))


@pytest.fixture
def snap(tmp_path: Path) -> Path:
    d = tmp_path / "snap"
    shutil.copytree(DATA / "host1", d)
    return d


def test_snapshot_reads_every_file(snap: Path) -> None:
    s = read_snapshot(snap)
    host = s.topology.host_namespace
    assert host is not None and host.role == "host"
    assert host.link("docker0").kind == "bridge"
    assert {p.name for p in host.ports_of("docker0")} == {"veth1", "veth2"}
    assert host.sysctl_int("net.ipv4.ip_forward") == 1
    assert host.listeners == ()
    assert host.is_local(ip("172.17.0.1")) is True
    assert "iptables.rules (the IPv4 rules)" in s.missing
    assert any(m.startswith("docker-inspect.json") for m in s.missing)
    assert "ip-addr.json" in s.present and s.iptables is None


def test_bridge_port_by_neigh_and_fdb(snap: Path) -> None:
    t = merge(read_snapshot(snap).topology, CONTAINERS)
    c1, c2 = t.bridge_port("c1"), t.bridge_port("c2")
    assert (c1.bridge, c1.port, c1.hairpin) == ("docker0", "veth1", True)
    assert (c2.bridge, c2.port, c2.hairpin) == ("docker0", "veth2", False)
    assert any("bridge-fdb.json" in str(p) for p in c1.sources)


def test_without_neigh_and_fdb_the_hairpin_is_unknown_and_names_the_files(snap: Path) -> None:
    (snap / "ip-neigh.json").unlink()
    (snap / "bridge-fdb.json").unlink()
    t = merge(read_snapshot(snap).topology, CONTAINERS)
    hp = t.hairpin("c1")
    assert isinstance(hp, Unknown)
    assert "ip-neigh.json" in hp.reason and "differ in hairpin" in hp.reason
    assert t.bridge_port("c1").port is None


def test_docker_inspect_mac_replaces_ip_neigh(snap: Path) -> None:
    (snap / "ip-neigh.json").unlink()
    neigh = (DATA / "host1" / "ip-neigh.json").read_text()
    mac = neigh.split('"lladdr":"')[1].split('"')[0]  # c1's MAC, as docker inspect would report it
    with_mac = Topology(containers=(Container("c1", network_mode="bridge",
                                              endpoints=(Endpoint("bridge", ip("172.17.0.2"), 16, mac=mac),)),))
    t = merge(read_snapshot(snap).topology, with_mac)
    bp = t.bridge_port("c1")
    assert (bp.port, bp.hairpin, bp.mac) == ("veth1", True, mac)


def test_without_fdb_but_ports_agreeing_the_shared_value_is_used_and_said() -> None:
    t = parse_toml('''
[[network]]
name = "bridge"
bridge = "docker0"
subnet = "172.17.0.0/16"
[[container]]
name = "a"
address = "172.17.0.2/16"
[[namespace]]
name = "host"
  [[namespace.interface]]
  name = "docker0"
  kind = "bridge"
  addresses = ["172.17.0.1/16"]
  [[namespace.interface]]
  name = "veth1"
  master = "docker0"
  hairpin = true
  [[namespace.interface]]
  name = "veth2"
  master = "docker0"
  hairpin = true
''')
    bp = t.bridge_port("a")
    assert bp.hairpin is True and bp.port is None
    assert any("every port of docker0 has hairpin on" in n for n in bp.notes)


def test_bridge_port_of_other_network_modes() -> None:
    t = parse_toml('''
[[container]]
name = "h"
network-mode = "host"
[[container]]
name = "side"
network-mode = "container:web"
[[container]]
name = "web"
address = "172.17.0.2/16"
''')
    assert isinstance(t.hairpin("h"), Unknown)
    side = t.bridge_port("side")
    assert isinstance(side.hairpin, Unknown) and any("shares web" in n for n in side.notes)
    assert isinstance(t.hairpin("nobody"), Unknown)


def test_snapshot_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        read_snapshot(tmp_path / "nope")
    with pytest.raises(UsageError, match="none of the snapshot files"):
        read_snapshot(tmp_path)


def test_snapshot_notes_unknown_files(snap: Path) -> None:
    (snap / "notes.txt").write_text("x")
    s = read_snapshot(snap)
    assert any("notes.txt" in f.message for f in s.topology.findings)


def test_snapshot_file_list_matches_the_documentation() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "snapshot.md").read_text()
    for f in SNAPSHOT_FILES:
        assert f"> {f.name}" in doc, f"docs/snapshot.md's copy-paste block lacks {f.name}"


def test_containers_without_their_namespace_files_are_listed_as_missing(snap: Path) -> None:
    shutil.copy(DATA / "docker-inspect.json", snap / "docker-inspect.json")
    missing = read_snapshot(snap).missing
    assert "containers/mysqlserver/ (which addresses container mysqlserver's servers listen on)" in missing
    assert not any(m.startswith("containers/metrics/") for m in missing)  # --net=host: the host's own files
