"""Semantic diff: flows whose outcome changed, each with both deciding rules; equivalent rewrites agree."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from natsim.cli import main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"
GOLDEN = FIXTURES / "moby-iptabler-golden-default-proxy-icc-masq-nat.rules"
HOST = Path(__file__).with_name("data") / "golden-host.toml"  # eth0 203.0.113.10, br-dummy, c1 and c2


def variant(tmp_path: Path, old: str, new: str) -> str:
    text = GOLDEN.read_text()
    assert old in text
    path = tmp_path / "b.rules"
    path.write_text(text.replace(old, new))
    return str(path)


def diff(capsys: pytest.CaptureFixture[str], b: str, *extra: str) -> tuple[int, dict]:
    code = main(["diff", "--json", "--topology", str(HOST), *extra, str(GOLDEN), b])
    return code, json.loads(capsys.readouterr().out)


def test_changed_accept_port_blocks_the_published_port(tmp_path, capsys) -> None:
    b = variant(tmp_path, "--dport 80 -j ACCEPT", "--dport 81 -j ACCEPT")
    code, data = diff(capsys, b)
    assert code == 1 and not data["equivalent"]
    changes = data["semantic"]["changes"]
    assert changes and all(c["changed"] == ["verdict"] for c in changes)
    outside = [c for c in changes if c["zone"].startswith("outside")]
    assert outside and "203.0.113.10:8080/tcp" in outside[0]["flow"]
    a, b_ = outside[0]["a"][0], outside[0]["b"][0]
    assert (a["verdict"], a["destination"], a["destination_port"]) == ("reachable", "192.168.0.2", 80)
    assert str(GOLDEN) in a["deciding"]  # a rule of A decided (which one is the engine's choice)
    assert b_["verdict"] == "blocked" and "b.rules:17" in b_["deciding"] and "-j DROP" in b_["deciding"]


@pytest.mark.parametrize(
    "old,new",
    [
        # one rule, written differently: a multiport list instead of --dport
        ("-p tcp -m tcp --dport 80 -j ACCEPT", "-p tcp -m multiport --dports 80,80 -j ACCEPT"),
        # two independent jumps in the other order (DOCKER-INTERNAL is empty)
        ("-A DOCKER-FORWARD -j DOCKER-CT\n-A DOCKER-FORWARD -j DOCKER-INTERNAL\n",
         "-A DOCKER-FORWARD -j DOCKER-INTERNAL\n-A DOCKER-FORWARD -j DOCKER-CT\n"),
        # one rule split into two that together match the same packets
        ("-A DOCKER-FORWARD -i br-dummy -j ACCEPT\n",
         "-A DOCKER-FORWARD -i br-dummy -o br-dummy -j ACCEPT\n-A DOCKER-FORWARD -i br-dummy ! -o br-dummy -j ACCEPT\n"),
    ],
    ids=["multiport", "reordered", "split"],
)
def test_textually_different_equivalent_rulesets(tmp_path, capsys, old: str, new: str) -> None:
    code, data = diff(capsys, variant(tmp_path, old, new))
    assert not data["equal"] and data["structural"]["rules"]
    assert data["semantic"]["changes"] == [] and data["semantic"]["flows_checked"] > 0
    if data["semantic"]["unexercised"]:
        pytest.fail(f"flows did not reach the change: {data['semantic']['unexercised']}")
    assert code == 0 and data["equivalent"]


def test_published_port_removed_changes_what_the_container_sees(tmp_path, capsys) -> None:
    text = "".join(ln + "\n" for ln in GOLDEN.read_text().splitlines()
                   if "--dport 8080" not in ln and "--dport 80 " not in ln)
    b = tmp_path / "b.rules"
    b.write_text(text)
    code, data = diff(capsys, str(b))
    assert code == 1
    outside = [c for c in data["semantic"]["changes"] if c["zone"].startswith("outside")]
    # Without the DNAT the connection ends at docker-proxy on the host, which connects from the gateway.
    assert outside and outside[0]["b"][0]["seen_source"] == "192.168.0.1"
    assert outside[0]["a"][0]["seen_source"] != "192.168.0.1"


def test_a_change_no_flow_reaches_is_not_called_equivalent(tmp_path, capsys) -> None:
    b = variant(tmp_path, "--dport 80 -j ACCEPT", "--dport 81 -j ACCEPT")
    code = main(["diff", "--json", str(GOLDEN), b])  # no topology: no outside link, FORWARD is never reached
    data = json.loads(capsys.readouterr().out)
    if data["semantic"]["changes"]:
        pytest.skip("the inferred topology now reaches FORWARD; covered by the test above")
    assert code == 1 and not data["equivalent"] and data["semantic"]["unexercised"]


def test_docker_user_drop_in_a_snapshot_closes_the_published_port(tmp_path, capsys) -> None:
    """The usual fix for "Docker bypasses my firewall", checked on a full snapshot (topology included)."""
    import shutil

    example = Path(__file__).resolve().parents[2] / "examples" / "mysqlserver"
    new = tmp_path / "after"
    shutil.copytree(example, new)
    rules = (new / "iptables.rules").read_text().replace(
        "-A FORWARD -j DOCKER-FORWARD\n",
        "-A FORWARD -j DOCKER-FORWARD\n-A DOCKER-USER -i eth0 -p tcp -m conntrack --ctorigdstport 8066 -j DROP\n")
    (new / "iptables.rules").write_text(rules)
    code = main(["diff", "--json", str(example), str(new)])
    data = json.loads(capsys.readouterr().out)
    assert code == 1
    (added,) = data["structural"]["rules"]
    assert (added["kind"], added["chain"], added["new_index"]) == ("added", "DOCKER-USER", 1)
    changed = [c for c in data["semantic"]["changes"] if c["zone"].startswith("outside")]
    assert changed and all(":8066/tcp" in c["flow"] for c in changed)
    assert changed[0]["a"][0]["verdict"] == "reachable" and changed[0]["a"][0]["destination"] == "172.17.0.2"
    assert changed[0]["b"][0]["verdict"] == "blocked" and "DOCKER-USER rule 1" in changed[0]["b"][0]["deciding"]
    # Nothing but the outside flows to that port changed: the host and the containers still reach it.
    assert all(c["zone"].startswith("outside") for c in data["semantic"]["changes"])
