"""Rendering: parse(render(m)) == m, rule text, JSON, and the `natsim parse` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from natsim.cli import main
from natsim.parse import parse_file, parse_text
from natsim.render import json as render_json
from natsim.render.save import quote, render_rule, render_ruleset

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"
FILES = sorted(p for p in CORPUS.iterdir() if p.suffix in (".rules", ".txt"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_render_then_parse_is_identity_on_the_corpus(path: Path):
    parsed = parse_file(path, lenient=True)
    again = parse_text(render_ruleset(parsed.ruleset), "rendered")
    assert again.ruleset == parsed.ruleset
    assert again.ruleset.family == parsed.ruleset.family


def test_rule_text_is_iptables_save_order():
    rule = parse_text("*nat\n-A DOCKER -p tcp ! -i br0 --dport 8080 -j DNAT --to-destination 172.17.0.2:80\n"
                      "COMMIT\n").ruleset.chain("nat", "DOCKER").rules[0]
    assert render_rule(rule, "DOCKER") == \
        "-A DOCKER ! -i br0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"


def test_quote_follows_xtables_save_string():
    assert quote("abc-1_2") == "abc-1_2"
    assert quote("ns1/svc1:p80") == '"ns1/svc1:p80"'
    assert quote('a "b"') == '"a \\"b\\""'
    assert quote("") == '""'


def test_json_has_locations_and_typed_parts():
    parsed = parse_file(CORPUS / "moby-iptabler-golden-noproxy-hairpin-icc-masq-nat.rules")
    data = json.loads(render_json.dumps(parsed.ruleset))
    nat = next(t for t in data["tables"] if t["name"] == "nat")
    docker = next(c for c in nat["chains"] if c["name"] == "DOCKER")
    dnat = docker["rules"][-1]
    assert dnat["target"]["target"] == "DNAT"
    assert dnat["location"].endswith(".rules:" + dnat["location"].rsplit(":", 1)[1])
    assert dnat["matches"][0]["module"] == "tcp"


def test_cli_prints_canonical_form_and_summary(capsys):
    path = CORPUS / "moby-iptablesdoc-v29-usernet-portmap-lo.S.txt"
    assert main(["parse", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "-A PREROUTING -d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport 8080 -j DROP" in out
    assert "commands, IPv4, 1 tables, 2 chains, 2 rules" in err
    assert parse_text(out).ruleset == parse_file(path).ruleset


def test_cli_json(capsys):
    assert main(["parse", "--format", "json", str(CORPUS / "moby-iptabler-golden-cleaned-proxy.rules")]) == 0
    assert json.loads(capsys.readouterr().out)["family"] == 4


def test_cli_error_is_located_exit_2_and_lenient_exit_0(capsys):
    path = CORPUS / "hostaudit-ufw-docker28-libvirt-counters.v4.rules"
    assert main(["parse", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:102:78: found 'REDACTED_COMMENT'" in err
    assert err.rstrip().endswith("^")
    assert "Traceback" not in err
    assert main(["parse", "--lenient", str(path)]) == 0
    err = capsys.readouterr().err
    assert "4 bad lines skipped" in err


def test_cli_missing_file(capsys, tmp_path):
    assert main(["parse", str(tmp_path / "nope")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_cli_reads_ipset_save(capsys, tmp_path):
    path = tmp_path / "sets"
    path.write_text("create s hash:net family inet hashsize 1024 maxelem 65536\nadd s 10.0.0.0/8\n")
    assert main(["parse", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "add s 10.0.0.0/8" in out and "1 sets, 1 entries" in err
