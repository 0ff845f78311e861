"""`natsim snapshot --show`: the topology a snapshot gives, as a user sees it; bad input exits 2 with a message."""

from __future__ import annotations

from pathlib import Path

import pytest

from natsim.cli import main

DATA = Path(__file__).parent / "data"

CONTAINERS = '''
[[container]]
name = "c1"
address = "172.17.0.2/16"
ports = ["8080:80"]
[[container]]
name = "c2"
address = "172.17.0.3/16"
'''


def test_show_prints_ports_hairpin_and_missing_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = tmp_path / "containers.toml"
    toml.write_text(CONTAINERS)
    assert main(["snapshot", "--show", str(DATA / "host1"), "--topology", str(toml)]) == 0
    out = capsys.readouterr().out
    assert "veth1 (veth) -, port of docker0 hairpin on" in out
    assert "container c1 (bridge) 172.17.0.2" in out and "publishes 8080:80/tcp" in out
    assert "sits on docker0 port veth1, hairpin on" in out
    assert "sits on docker0 port veth2, hairpin off" in out
    assert "docker-inspect.json" not in out.split("not known")[-1]  # the TOML supplied the containers
    assert "iptables.rules (the IPv4 rules)" in out


def test_show_of_a_bad_file_is_a_located_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "snap"
    d.mkdir()
    (d / "ip-addr.json").write_text('[{"ifindex":1,"ifname":"lo",')
    assert main(["snapshot", "--show", str(d)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{d / 'ip-addr.json'}:1:") and "truncated" in err


def test_show_of_no_snapshot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["snapshot", "--show", str(tmp_path)]) == 2
    assert "none of the snapshot files" in capsys.readouterr().err


def test_show_toml_reads_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from natsim.topology.toml_file import parse_toml

    assert main(["snapshot", "--show", str(DATA / "host1"), "--toml"]) == 0
    t = parse_toml(capsys.readouterr().out)
    assert t.host_namespace.link("veth1").hairpin is True and t.host_namespace.listeners == ()
    assert main(["snapshot", str(tmp_path / "x"), "--toml"]) == 2  # --toml without --show
