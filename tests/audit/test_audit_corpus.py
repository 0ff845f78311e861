"""`natsim audit` on every corpus ruleset, and findings that follow from the rules."""

from __future__ import annotations

import json

import pytest

from natsim.audit.run import audit_ruleset
from natsim.cli import main
from tests.audit.conftest import corpus, corpus_files, ruleset_of


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_audit_runs_on_every_fixture(path, capsys) -> None:
    status = main(["audit", str(path), "--format", "json"])
    out = capsys.readouterr()
    assert status == 0, out.err
    doc = json.loads(out.out)
    assert doc["source"] == str(path)
    for f in doc["findings"]:
        assert f["severity"] in ("info", "low", "medium", "high", "critical")
        assert f["why"] and f["fix"] and f["title"]


def checks_of(findings) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in findings:
        out.setdefault(f.check, []).append(f)
    return out


def test_hostaudit_reports_the_redacted_lines(capsys) -> None:
    path = corpus("hostaudit-ufw-docker28-libvirt-counters.v4.rules")
    assert main(["audit", str(path), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    unparsed = sorted(r["line"] for f in doc["findings"] if f["check"] == "unparsed-line" for r in f["rules"])
    assert unparsed == [102, 103, 197, 202]
    # ufw + Docker 28 with no container: nothing is published, so nothing bypasses INPUT
    assert not [f for f in doc["findings"] if f["check"] == "docker-bypasses-input"]


def _with_published_port(text: str) -> str:
    """The hostaudit host after `docker run -p 8080:80`: Docker 28's DNAT and per-port ACCEPT."""
    text = text.replace(
        "[0:0] -A DOCKER ! -i docker0 -o docker0 -j DROP",
        "-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT\n"
        "[0:0] -A DOCKER ! -i docker0 -o docker0 -j DROP",
    )
    return text.replace(
        "[0:0] -A DOCKER -i docker0 -j RETURN",
        "[0:0] -A DOCKER -i docker0 -j RETURN\n"
        "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
    )


def test_docker_bypasses_ufw_on_the_hostaudit_host() -> None:
    text = corpus("hostaudit-ufw-docker28-libvirt-counters.v4.rules").read_text()
    rs = ruleset_of(_with_published_port(text), "hostaudit+port.rules")
    found = checks_of(audit_ruleset(rs))
    bypass = found["docker-bypasses-input"]
    assert len(bypass) == 1
    f = bypass[0]
    assert f.severity.label == "high"
    roles = {c.role: c for c in f.rules}
    assert "DNAT" in roles["publishes the port"].text
    # ufw's INPUT ends at its DROP policy for port 8080
    assert roles["INPUT denies it (policy)"].text == ":INPUT DROP"
    assert "--dport 80 -j ACCEPT" in roles["FORWARD accepts it"].text
    assert "DOCKER-USER" in f.fix and "--ctorigdstport 8080" in f.fix


def test_no_bypass_when_input_allows_the_port() -> None:
    text = corpus("hostaudit-ufw-docker28-libvirt-counters.v4.rules").read_text()
    text = _with_published_port(text).replace(
        ":ufw-user-input - [0:0]",
        ":ufw-user-input - [0:0]\n-A ufw-user-input -p tcp -m tcp --dport 8080 -j ACCEPT",
        1,
    )
    rs = ruleset_of(text)
    assert "docker-bypasses-input" not in checks_of(audit_ruleset(rs))


def test_hairpin_rule_present_with_userland_proxy_off() -> None:
    rs = ruleset_of(corpus("moby-iptabler-golden-noproxy-hairpin-icc-masq-nat.rules").read_text())
    assert "missing-hairpin-masquerade" not in checks_of(audit_ruleset(rs))


def test_hairpin_rule_missing_with_userland_proxy_off() -> None:
    text = corpus("moby-iptabler-golden-noproxy-hairpin-icc-masq-nat.rules").read_text()
    hairpin = "-A POSTROUTING -s 192.168.0.2/32 -d 192.168.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE\n"
    assert hairpin in text
    found = checks_of(audit_ruleset(ruleset_of(text.replace(hairpin, ""))))
    [f] = found["missing-hairpin-masquerade"]
    assert "192.168.0.2" in f.title and "--dport 80 -j MASQUERADE" in f.fix


def test_no_hairpin_needed_with_the_proxy() -> None:
    rs = ruleset_of(corpus("moby-iptabler-golden-default-proxy-icc-masq-nat.rules").read_text())
    assert "missing-hairpin-masquerade" not in checks_of(audit_ruleset(rs))


def test_direct_container_access() -> None:
    # Docker 29, gateway mode nat: raw PREROUTING drops direct access
    rs = ruleset_of(corpus("moby-iptabler-golden-default-proxy-icc-masq-nat.rules").read_text())
    assert "container-directly-reachable" not in checks_of(audit_ruleset(rs))
    # nat-unprotected: every port of the container is open to the outside
    rs = ruleset_of(corpus("moby-iptabler-golden-proxy-nat-unprotected.rules").read_text())
    [f] = checks_of(audit_ruleset(rs))["container-directly-reachable"]
    assert "192.168.0.2" in f.title and "unpublished ports too" in f.why
    # the same ruleset without its raw DROP (a pre-28 layout) exposes the published port
    text = corpus("moby-iptabler-golden-default-proxy-icc-masq-nat.rules").read_text()
    text = text.replace("-A PREROUTING -d 192.168.0.2/32 ! -i br-dummy -j DROP\n", "")
    [f] = checks_of(audit_ruleset(ruleset_of(text)))["container-directly-reachable"]
    assert "80/tcp" in f.why


def test_partial_dump_leaves_absent_tables_unknown() -> None:
    # the v29 noicc doc lists filter and nat only: raw is not known, so no claim
    path = corpus("moby-iptablesdoc-v29-usernet-portmap-noicc.S.txt")
    rs = ruleset_of(path.read_text())
    assert "container-directly-reachable" not in checks_of(audit_ruleset(rs, tables_complete=False))


def test_fail_on(capsys) -> None:
    path = corpus("moby-iptabler-golden-proxy-nat-unprotected.rules")
    assert main(["audit", str(path), "--fail-on", "medium"]) == 1
    assert main(["audit", str(path), "--fail-on", "high"]) == 0
    assert main(["audit", str(path), "--fail-on", "bogus"]) == 2
    assert "unknown severity" in capsys.readouterr().err


def test_sarif_shape(capsys) -> None:
    path = corpus("fffuu-synology-ds414-ip6.rules")
    assert main(["audit", str(path), "--format", "sarif"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    ids = [r["id"] for r in run["tool"]["driver"]["rules"]]
    assert run["results"]
    for res in run["results"]:
        assert res["ruleId"] in ids and ids[res["ruleIndex"]] == res["ruleId"]
        assert res["level"] in ("error", "warning", "note")
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == str(path)
        assert loc["region"]["startLine"] >= 1


def test_audit_of_a_snapshot_directory(capsys) -> None:
    from tests.audit.conftest import ROOT

    path = ROOT / "examples" / "mysqlserver"
    if not path.exists():
        pytest.skip("examples/mysqlserver is not in the tree")
    assert main(["audit", str(path), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    [f] = [f for f in doc["findings"] if f["check"] == "published-on-all-addresses"]
    assert "MySQL" in f["title"] and f["rules"][0]["line"] == 41
    # Docker 29 drops direct access in raw PREROUTING: no direct-access finding
    assert not [f for f in doc["findings"] if f["check"] == "container-directly-reachable"]
