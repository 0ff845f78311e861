"""`natsim explain` and `natsim trace` end to end on the bundled example (a real snapshot)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from natsim.cli import main

EXAMPLE = str(Path(__file__).resolve().parents[2] / "examples" / "mysqlserver")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def explain_json(capsys, *argv: str) -> dict:
    code, out, err = run(capsys, "explain", EXAMPLE, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def test_outside_is_dnated_and_accepted_in_forward(capsys) -> None:
    code, out, _ = run(capsys, "explain", EXAMPLE, "--from", "outside", "--to", "host:8066/tcp")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "outside -> host:8066/tcp: REACHABLE"
    assert "deciding rule: " in out and "iptables.rules:21 (filter DOCKER rule 1)" in out
    assert "DNAT (request): " in out and "-> 172.17.0.2:3306" in out
    assert "un-DNAT (reply)" in out
    assert "to close it" in out and "iptables -I DOCKER-USER 1 -d 172.17.0.2/32 -i eth0 -o docker0" in out
    assert "assumptions:" in out


def test_outside_json(capsys) -> None:
    data = explain_json(capsys, "--from", "outside", "--to", "host:8066/tcp")
    assert data["verdict"] == "reachable"
    assert data["destination"] == "172.17.0.2" and data["destination_port"] == 3306
    assert data["seen_source"] == data["steps"][0]["packet"]["src"]  # no SNAT: the container sees the client
    assert data["deciding_rule"]["file"].endswith("iptables.rules") and data["deciding_rule"]["line"] == 21
    assert data["deciding_rule"]["text"].startswith("-A DOCKER -d 172.17.0.2/32")
    assert [n["what"] for n in data["nat"]] == ["DNAT", "un-DNAT"]
    assert data["fixes"][0]["purpose"] == "close" and data["fixes"][0]["verdict_after"] == "blocked"
    assert {"request", "reply"} <= {s["direction"] for s in data["steps"]}
    assert isinstance(data["assumptions"], list) and data["assumptions"]
    assert data["query"] == {"from": "outside", "to": "host:8066/tcp"}


def test_host_reaches_both_addresses_by_different_paths(capsys) -> None:
    data = explain_json(capsys, "--from", "host", "--to", "host:8066/tcp")
    flows = {f["flow"]: f for f in data["flows"]}
    public, loopback = flows["host -> 192.0.2.10:8066/tcp"], flows["host -> 127.0.0.1:8066/tcp"]
    assert (public["verdict"], public["via_proxy"], public["seen_source"]) == ("reachable", False, "192.0.2.10")
    assert (loopback["verdict"], loopback["via_proxy"], loopback["seen_source"]) == ("reachable", True, "172.17.0.1")
    assert data["verdict"] == "reachable"


def test_other_container_goes_through_docker_proxy(capsys) -> None:
    data = explain_json(capsys, "--from", "container:webapp", "--to", "host:8066/tcp", "--via", "172.17.0.1")
    assert len(data["flows"]) == 1
    assert (data["verdict"], data["via_proxy"], data["seen_source"]) == ("reachable", True, "172.17.0.1")
    assert data["server"] == "container:mysqlserver"


def test_blocked_direct_access_gets_a_verified_open_fix(capsys) -> None:
    data = explain_json(capsys, "--from", "outside", "--to", "container:mysqlserver:3306/tcp")
    assert data["verdict"] == "blocked"
    assert data["deciding_rule"]["table"] == "raw" and data["deciding_rule"]["line"] == 5
    (fix,) = data["fixes"]
    assert fix["purpose"] == "open" and fix["verdict_after"] == "reachable"
    assert fix["commands"][0].startswith("iptables -t raw -I PREROUTING 1 ")


def test_nothing_listening_is_blocked_without_a_rule_fix(capsys) -> None:
    data = explain_json(capsys, "--from", "outside", "--to", "host:3306/tcp")
    assert data["verdict"] == "blocked" and data["fixes"] == []
    assert "listens" in data["reason"]


def test_trace_lists_every_rule_with_file_line_and_both_directions(capsys) -> None:
    code, out, _ = run(capsys, "trace", EXAMPLE, "--from", "outside", "--to", "host:8066/tcp")
    assert code == 0
    assert "  request: tcp " in out and "  reply: tcp " in out
    assert "PREROUTING nat DOCKER #1  match" in out
    assert "iptables.rules:41  -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8066 -j DNAT" in out
    assert "FORWARD filter DOCKER-CT #1  no" in out
    assert "now:   tcp " in out


def test_trace_json_has_steps_for_request_and_reply(capsys) -> None:
    code, out, _ = run(capsys, "trace", EXAMPLE, "--from", "outside", "--to", "host:8066/tcp", "--json")
    assert code == 0
    data = json.loads(out)
    rules = [s for s in data["steps"] if s["kind"] == "rule"]
    assert rules and all(s["rule"]["file"] and s["rule"]["line"] and s["rule"]["text"] for s in rules)
    assert {s["direction"] for s in data["steps"]} == {"request", "reply"}
    assert any(s["packet_after"] and s["packet_after"]["dst"] == "172.17.0.2" for s in data["steps"])


def test_the_path_says_why_docker_proxy_and_not_dnat_served_a_container(capsys) -> None:
    data = explain_json(capsys, "--from", "container:webapp", "--to", "host:8066/tcp", "--via", "192.0.2.10")
    path = data["path"]
    assert any(p.startswith("no DNAT: ") and "iptables.rules:41 (nat DOCKER rule 1)" in p for p in path)
    assert "docker-proxy accepts on 192.0.2.10:8066/tcp and connects to 172.17.0.2:3306" in path
    code, out, _ = run(capsys, "explain", EXAMPLE, "--from", "container:webapp", "--to", "host:8066/tcp", "--via", "192.0.2.10")
    assert "  path: docker-proxy accepts on 192.0.2.10:8066/tcp" in out


def test_a_big_host_lists_the_assumptions_this_connection_touches(capsys, tmp_path) -> None:
    """A host with 1,000 published ports infers thousands of facts; the text lists those about the containers
    and networks on the connection's path and counts the rest, which --json keeps."""
    from natsim.generate import docker_host

    rules = tmp_path / "big.rules"
    rules.write_text(docker_host(1000, containers=100))
    code, out, err = run(capsys, "explain", str(rules), "--from", "outside", "--to", "host:10005/tcp", "--no-fix")
    assert code == 0, err
    assert "REACHABLE" in out.splitlines()[0]
    target = next(line.split("-> ")[-1].split(":")[0] for line in out.splitlines() if line.startswith("  DNAT"))
    listed = [line for line in out.splitlines() if line.startswith("  - ")]
    assert any(f"container {target} " in line for line in listed)  # the container the DNAT chose
    assert not any(line.startswith("  - container ") and f"container {target} " not in line for line in listed)
    folded = next(line for line in listed if line.startswith("  - and "))
    left_out = int(folded.split()[2])
    assert left_out > 1000 and "--json lists them all" in folded
    code, js, _ = run(capsys, "explain", str(rules), "--from", "outside", "--to", "host:10005/tcp", "--no-fix", "--json")
    assert len(json.loads(js)["assumptions"]) >= left_out + len(listed) - 1


def test_a_ruleset_the_kernel_refuses_is_answered_with_a_warning(capsys, tmp_path) -> None:
    """Decision 0153: every line reads, iptables-restore would refuse the whole; the answer says so."""
    rules = tmp_path / "refused.rules"
    rules.write_text("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -m tcp --dport 80 -j DROP\nCOMMIT\n")
    code, out, _ = run(capsys, "explain", str(rules), "--from", "outside", "--to", "host:80/tcp", "--no-fix")
    assert code == 0
    warning = next(line for line in out.splitlines() if "iptables-restore would refuse" in line)
    assert f"{rules}:3:1: found -m tcp in a rule without -p for it" in warning
    assert "answers for the rules as written" in warning
