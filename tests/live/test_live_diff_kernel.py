"""``natsim diff FILE live``: a rule inserted live and a published port removed live are found."""

from __future__ import annotations

import json
import subprocess

import pytest

from natsim.cli import main
from tests.live.conftest import FIXTURES, restore, save

pytestmark = pytest.mark.kernel

SERVER = FIXTURES / "serveraudit-docker29-default-ubuntu2404.rules"
GOLDEN = FIXTURES / "moby-iptabler-golden-default-proxy-icc-masq-nat.rules"


def iptables(ns: str, backend: str, *args: str) -> None:
    p = subprocess.run(["ip", "netns", "exec", ns, f"iptables-{backend}", *args], capture_output=True, text=True,
                       timeout=10)
    assert p.returncode == 0, p.stderr


def diff_json(capsys, *argv: str) -> tuple[int, dict]:
    code = main(["diff", "--structural", "--json", *argv])
    out = capsys.readouterr().out
    return code, json.loads(out)


@pytest.mark.parametrize("backend", ["legacy", "nft"])
def test_docker_user_rule_inserted_live(make_netns, capsys, backend: str) -> None:
    ns = make_netns("dockeruser")
    restore(ns, SERVER.read_text(), backend=backend)
    code, data = diff_json(capsys, "--netns", ns, str(SERVER), "live")
    assert code == 0 and data["equal"], data["structural"]
    iptables(ns, backend, "-I", "DOCKER-USER", "-s", "198.51.100.0/24", "-j", "DROP")
    before = save(ns, backend=backend)
    code, data = diff_json(capsys, str(SERVER), f"live:{ns}")
    assert code == 1
    (change,) = data["structural"]["rules"]
    assert (change["kind"], change["table"], change["chain"], change["new_index"]) == (
        "added", "filter", "DOCKER-USER", 1)
    assert change["new"]["text"] == "-A DOCKER-USER -s 198.51.100.0/24 -j DROP"
    assert save(ns, backend=backend) == before  # reading changed nothing


def test_published_port_removed_live(make_netns, capsys) -> None:
    ns = make_netns("unpublish")
    restore(ns, GOLDEN.read_text(), backend="nft")
    iptables(ns, "nft", "-t", "nat", "-D", "DOCKER", "!", "-i", "br-dummy", "-p", "tcp", "-m", "tcp",
             "--dport", "8080", "-j", "DNAT", "--to-destination", "192.168.0.2:80")
    iptables(ns, "nft", "-D", "DOCKER", "-d", "192.168.0.2/32", "!", "-i", "br-dummy", "-o", "br-dummy",
             "-p", "tcp", "-m", "tcp", "--dport", "80", "-j", "ACCEPT")
    code, data = diff_json(capsys, "--netns", ns, str(GOLDEN), "live")
    assert code == 1
    got = sorted((c["kind"], c["table"], c["chain"], c["old_index"]) for c in data["structural"]["rules"])
    assert got == [("removed", "filter", "DOCKER", 1), ("removed", "nat", "DOCKER", 1)]
    assert data["structural"]["rules"][0]["old"]["file"] == str(GOLDEN)


def test_same_rules_in_both_backends_of_two_namespaces_are_equal(make_netns, capsys) -> None:
    """live:NS1 (legacy, read by python-iptables) vs live:NS2 (nft, read by iptables-nft-save)."""
    old, new = make_netns("legacy"), make_netns("nft")
    text = SERVER.read_text()
    restore(old, text, backend="legacy")
    restore(new, text, backend="nft")
    code, data = diff_json(capsys, f"live:{old}", f"live:{new}")
    assert code == 0 and data["equal"], data["structural"]
    assert any("legacy backend with python-iptables" in n for n in data["notes"])
    assert any("nft backend with iptables-nft-save" in n for n in data["notes"])
