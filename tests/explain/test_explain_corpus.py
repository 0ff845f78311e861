"""explain on real Docker rulesets from the corpus (moby's iptablesdoc output for every era), with the
topology SOURCES.md states for them given as a TOML file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from natsim.cli import main

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fixtures" / "corpus"
HOST_TOML = str(Path(__file__).parent / "data" / "moby-usernet-host.toml")

PORTMAP = [
    "moby-iptablesdoc-v28.0.0-usernet-portmap.S.txt",
    "moby-iptablesdoc-v28.0.0-usernet-portmap-noproxy.S.txt",
    "moby-iptablesdoc-v28.5.2-usernet-portmap.S.txt",
    "moby-iptablesdoc-v28.5.2-usernet-portmap-noicc.S.txt",
    "moby-iptablesdoc-v28.5.2-usernet-portmap-noproxy.S.txt",
    "moby-iptablesdoc-v29-usernet-portmap.S.txt",
    "moby-iptablesdoc-v29-usernet-portmap-noicc.S.txt",
    "moby-iptablesdoc-v29-usernet-portmap-noproxy.S.txt",
]


def explain(capsys, rules: str, *argv: str) -> dict:
    code = main(["explain", rules, "--topology", HOST_TOML, *argv, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


@pytest.mark.parametrize("name", PORTMAP)
def test_published_port_from_outside_in_every_era(capsys, name: str) -> None:
    """`-p 8080:80` on bridge1 (c1 = 192.0.2.2): DNAT to the container, which sees the real client."""
    data = explain(capsys, str(CORPUS / name), "--from", "outside", "--to", "host:8080/tcp")
    assert data["verdict"] == "reachable"
    assert (data["destination"], data["destination_port"]) == ("192.0.2.2", 80)
    assert data["seen_source"] == data["steps"][0]["packet"]["src"]
    assert data["via_proxy"] is False
    rule = data["deciding_rule"]
    assert rule["file"] == str(CORPUS / name) and rule["line"] > 0
    assert rule["text"] == (CORPUS / name).read_text().splitlines()[rule["line"] - 1]


def _forward_drop(tmp_path: Path) -> Path:
    """Docker 28.0.0 as the daemon really leaves it when it enabled ip_forward: FORWARD policy DROP."""
    text = (CORPUS / "moby-iptablesdoc-v28.0.0-usernet-portmap.S.txt").read_text()
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "iptables.rules").write_text(text.replace("-P FORWARD ACCEPT\n", "-P FORWARD DROP\n"))
    return snap


def test_unknown_ipset_contents_give_both_branches(capsys, tmp_path) -> None:
    snap = _forward_drop(tmp_path)
    data = explain(capsys, str(snap), "--from", "outside", "--to", "host:8080/tcp")
    assert data["verdict"] == "unknown"
    assert any("docker-ext-bridges-v4" in d for d in data["depends_on"])
    by_verdict = {o["verdict"]: o for o in data["outcomes"]}
    assert set(by_verdict) == {"reachable", "blocked"}
    assert by_verdict["blocked"]["deciding_rule"]["text"] == "-P FORWARD DROP"
    assert all(o["conditions"] for o in data["outcomes"])
    assert data["fixes"] == []
    main(["explain", str(snap), "--topology", HOST_TOML, "--from", "outside", "--to", "host:8080/tcp"])
    text = capsys.readouterr().out
    assert text.splitlines()[0] == "outside -> host:8080/tcp: UNKNOWN"
    assert "depends on: ipset docker-ext-bridges-v4" in text and "2 possible outcomes:" in text


def test_ipset_contents_settle_it(capsys, tmp_path) -> None:
    snap = _forward_drop(tmp_path)
    (snap / "ipset.txt").write_text(
        "create docker-ext-bridges-v4 hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1\n"
        "add docker-ext-bridges-v4 172.17.0.0/16\nadd docker-ext-bridges-v4 192.0.2.0/24\n"
    )
    data = explain(capsys, str(snap), "--from", "outside", "--to", "host:8080/tcp")
    assert data["verdict"] == "reachable" and data["depends_on"] == []


def test_host_stands_for_both_families_when_both_rulesets_are_given(capsys, tmp_path) -> None:
    """moby's golden (proxy on) for IPv4 and IPv6: one flow per family, each DNATed to c1's own address."""
    snap = tmp_path / "snap"
    snap.mkdir()
    golden = "moby-iptabler-golden-default-proxy-icc-masq-nat"
    (snap / "iptables.rules").write_text((CORPUS / f"{golden}.rules").read_text())
    (snap / "ip6tables.rules").write_text((CORPUS / f"{golden}.ip6.rules").read_text())
    code = main(["explain", str(snap), "--topology", str(Path(__file__).parent / "data" / "golden-dual-host.toml"),
                 "--from", "outside", "--to", "host:8080/tcp", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    flows = json.loads(out)["flows"]
    assert [(f["flow"], f["verdict"], f["destination"]) for f in flows] == [
        ("outside -> 203.0.113.10:8080/tcp", "reachable", "192.168.0.2"),
        ("outside -> [2001:db8:ff::10]:8080/tcp", "reachable", "fd49:efd7:54aa::1"),
    ]
    assert flows[1]["deciding_rule"]["file"].endswith("ip6tables.rules")
    assert flows[1]["fixes"][0]["commands"][0].startswith("ip6tables -I FORWARD 1 -d fd49:efd7:54aa::1/128")


def test_a_pasted_ruleset_alone_is_answered_on_stated_assumptions(capsys) -> None:
    """No snapshot, no topology: the host's address and uplink are assumed, and the answer says so."""
    code = main(["explain", str(CORPUS / "moby-iptabler-golden-default-proxy-icc-masq-nat.rules"),
                 "--from", "outside", "--to", "host:8080/tcp", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert len(data["flows"]) == 1 and data["verdict"] in ("reachable", "unknown")
    assert data["destination"] == "192.168.0.2"
    assert any("uplink" in a for a in data["assumptions"])
    assert any("inferred from rule" in a and ":34" in a for a in data["assumptions"])  # the DNAT that names c1
