"""Every corpus file parses; the author-redacted ones fail with a located error and pass leniently."""

from __future__ import annotations

from pathlib import Path

import pytest

from natsim.errors import InputError
from natsim.parse import parse_file

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"
FILES = sorted(p for p in CORPUS.iterdir() if p.suffix in (".rules", ".txt"))
REDACTED = {p for p in FILES if p.name.startswith("hostaudit-")}


def test_corpus_is_copied():
    assert len(FILES) >= 48
    assert (CORPUS / "SOURCES.md").is_file()


@pytest.mark.parametrize("path", [p for p in FILES if p not in REDACTED], ids=lambda p: p.name)
def test_corpus_file_parses(path: Path):
    parsed = parse_file(path)
    assert parsed.ruleset.rule_count() > 0
    assert parsed.diagnostics == ()
    expected_family = 6 if ("ip6" in path.name or path.name.endswith(".ip6.rules")) else 4
    assert parsed.ruleset.family == expected_family
    expected_format = "commands" if path.name.endswith(".S.txt") else "save"
    assert parsed.format == expected_format


@pytest.mark.parametrize("path", sorted(REDACTED), ids=lambda p: p.name)
def test_redacted_file_fails_located_and_passes_leniently(path: Path):
    text = path.read_text()
    with pytest.raises(InputError) as info:
        parse_file(path)
    err = info.value
    assert err.file == str(path)
    bad_line = text.splitlines()[err.line - 1]
    assert "REDACTED_COMMENT" in bad_line or "IP4_1" in bad_line
    assert bad_line[err.column - 1:].lstrip("\"").startswith(("REDACTED_COMMENT", "IP4_1"))
    lenient = parse_file(path, lenient=True)
    assert lenient.diagnostics, "the bad lines are reported"
    bad_lines = {d.line for d in lenient.diagnostics}
    for d in lenient.diagnostics:
        line = text.splitlines()[d.line - 1]
        assert "REDACTED_COMMENT" in line or "IP4_1" in line
    good_rules = sum(1 for n, line in enumerate(text.splitlines(), 1)
                     if "-A " in line and n not in bad_lines)
    assert lenient.ruleset.rule_count() == good_rules


def test_counters_are_read():
    parsed = parse_file(CORPUS / "hostaudit-ufw-docker28-libvirt-counters.v4.rules", lenient=True)
    chain = parsed.ruleset.chain("mangle", "POSTROUTING")
    assert chain is not None and chain.counters is not None
    assert chain.counters.packets == 1800017
    assert chain.rules[0].counters is not None and chain.rules[0].counters.bytes == 4442898212


def test_s_format_tables_from_comments():
    parsed = parse_file(CORPUS / "moby-iptablesdoc-v28.0.0-usernet-portmap.S.txt")
    rs = parsed.ruleset
    assert [t.name for t in rs.tables] == ["raw", "nat", "filter"]
    dnat = rs.chain("nat", "DOCKER").rules[-1]
    assert dnat.target.name == "DNAT"
    assert str(dnat.target.to_destination[0]) == "192.0.2.2:80"
    assert rs.chain("filter", "FORWARD").rules[0].target.name == "DOCKER-USER"
