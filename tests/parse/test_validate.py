"""Whole-ruleset checks (each claim is also checked against iptables-restore in tests/kernel)."""

from __future__ import annotations

from pathlib import Path

import pytest

from natsim.parse import parse_file, parse_text
from natsim.validate import validate

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"


def problems(text: str):
    return validate(parse_text(text, "v.rules"))


def test_corpus_is_valid():
    for path in sorted(CORPUS.iterdir()):
        if path.suffix in (".rules", ".txt") and not path.name.startswith(("hostaudit-", "kube-proxy-")):
            assert validate(parse_file(path)) == [], path.name


def test_kube_partial_ruleset_only_lacks_nothing_declared():
    # The kube-proxy file is a partial restore input: every chain it uses is declared.
    assert validate(parse_file(CORPUS / "kube-proxy-test-overall-iptables-rules.restore.rules")) == []


@pytest.mark.parametrize("text, line, fragment", [
    ("*filter\n-A FOO -j ACCEPT\nCOMMIT\n", 2, "undeclared chain FOO"),
    ("*filter\n:FOO - [0:0]\n:FOO - [0:0]\nCOMMIT\n", 3, "declared again"),
    ("*filter\n-A INPUT -j NOSUCH\nCOMMIT\n", 2, "-j NOSUCH"),
    ("*filter\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-A B -j A\n-A INPUT -j A\nCOMMIT\n", 5, "loop"),
    ("*filter\n-A INPUT -p tcp -j DNAT --to-destination 1.2.3.4\nCOMMIT\n", 2, "DNAT in table filter"),
    ("*nat\n:X - [0:0]\n-A PREROUTING -j X\n-A X -j MASQUERADE\nCOMMIT\n", 4, "reached from PREROUTING"),
    ("*nat\n-A POSTROUTING -j REJECT\nCOMMIT\n", 2, "REJECT in table nat"),
    ("*filter\n:X - [0:0]\n-A X -j INPUT\nCOMMIT\n", 3, "built-in chain INPUT"),
    ("*filter\n-A INPUT ! -d 0.0.0.0/0 -j ACCEPT\nCOMMIT\n", 2, "! -d 0.0.0.0/0"),
    ("*filter\n-A INPUT -m limit --limit 1/day --limit-burst 5\nCOMMIT\n", 2, "-m limit"),
    ("*raw\n-A OUTPUT -j REJECT\nCOMMIT\n", 2, "REJECT in table raw"),
])
def test_problems_are_located(text, line, fragment):
    found = problems(text)
    assert found, text
    assert found[0].line == line and found[0].file == "v.rules"
    assert fragment in found[0].found, found[0].render()


def test_target_in_unreached_chain_is_fine():
    assert problems("*nat\n:X - [0:0]\n-A X -j MASQUERADE\nCOMMIT\n") == []


def test_s_format_undeclared_chain_asks_for_dash_n():
    (p,) = problems("-A FOO -j ACCEPT\n")
    assert "-N FOO" in p.expected


@pytest.mark.parametrize("rule", [
    "-p 6 -m tcp --dport 80 -j ACCEPT", "-p TCP -m tcp --dport 80 -j ACCEPT", "-p udp -m multiport --dports 53 -j ACCEPT",
    "-p tcp -j REJECT --reject-with tcp-reset", "-m statistic --mode nth --every 3 --packet 2 -j ACCEPT",
    "-p icmp -m icmp --icmp-type 8 -j ACCEPT",
])
def test_protocol_bound_options_with_their_protocol_are_fine(rule: str) -> None:
    assert problems(f"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT {rule}\nCOMMIT\n") == []


@pytest.mark.parametrize("rule, found", [
    ("-m tcp --dport 80 -j ACCEPT", "found -m tcp in a rule without -p for it"),
    ("-p udp -m tcp --dport 80 -j ACCEPT", "found -m tcp in a rule without -p for it"),
    ("! -p udp -m udp --dport 53 -j ACCEPT", "found -m udp in a rule without -p for it"),
    ("-m multiport --dports 80,443 -j ACCEPT", "found -m multiport in a rule without -p for it"),
    ("-p all -j REJECT --reject-with tcp-reset", "found -j REJECT --reject-with tcp-reset in a rule without -p tcp"),
    ("-m statistic --mode nth --every 3 -j ACCEPT", "found -m statistic --mode nth --every 3 without --packet"),
    ("-m statistic --mode nth --every 2 --packet 2 -j ACCEPT", "found --packet 2 with --every 2"),
])
def test_what_needs_its_protocol_or_option_is_refused(rule: str, found: str) -> None:
    got = problems(f"*filter\n:INPUT ACCEPT [0:0]\n-A INPUT {rule}\nCOMMIT\n")
    assert [(p.line, p.found) for p in got] == [(3, found)]


def test_parse_command_reports_what_the_kernel_refuses(tmp_path, capsys) -> None:
    """Every line reads, but iptables-restore would refuse the ruleset: located report, exit 2 (0 with --lenient)."""
    from natsim.cli import main

    path = tmp_path / "v.rules"
    path.write_text("*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j NOPE\n-A INPUT -m tcp --dport 80 -j ACCEPT\nCOMMIT\n")
    assert main(["parse", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:3:1: found -j NOPE" in err and f"{path}:4:1: found -m tcp in a rule without -p for it" in err
    assert main(["parse", "--lenient", str(path)]) == 0
    capsys.readouterr()
    assert main(["audit", str(path), "--format", "json"]) == 0
    import json

    found = [f for f in json.loads(capsys.readouterr().out)["findings"] if f["check"] == "kernel-refuses"]
    assert [f["severity"] for f in found] == ["medium", "medium"]
