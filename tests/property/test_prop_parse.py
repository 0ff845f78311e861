"""Parser properties: render -> parse is the identity; no text crashes the parser."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from natsim.errors import InputError
from natsim.parse import parse_text
from natsim.render.save import render_ruleset
from natsim.testing import rulesets
from natsim.testing.docker import docker_hosts, docker_rules
from natsim.testing.kube import kube_rules, kube_services

BUDGET = settings(max_examples=max(20, settings().max_examples // 2), deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("family", [4, 6])
@BUDGET
@given(data=st.data())
def test_render_then_parse_is_identity(family: int, data: st.DataObject) -> None:
    rs = data.draw(rulesets(family=family), label="ruleset")
    text = render_ruleset(rs)
    assert parse_text(text, family=family).ruleset == rs, text


@BUDGET
@given(docker_hosts())
def test_docker_rules_parse_and_render_back_verbatim(host) -> None:
    """Docker's rules as iptables-save prints them are natsim's canonical form too."""
    text = docker_rules(host)
    rs = parse_text(text).ruleset
    rendered = render_ruleset(rs, counters=True)
    assert [l for l in rendered.splitlines() if not l.startswith("#")] == text.splitlines()


@BUDGET
@given(kube_services())
def test_kube_rules_parse_render_parse(services) -> None:
    """(Verbatim text equality waits on fixtures/regressions/render-0001: REJECT's default is not printed.)"""
    model = parse_text(kube_rules(services)).ruleset
    assert parse_text(render_ruleset(model)).ruleset == model


def _mutations(text: str) -> st.SearchStrategy[str]:
    """Small edits of a valid dump: delete, duplicate or replace a span; insert a token."""
    tokens = st.sampled_from(["!", "-A", "-j", "-m", "--dport", "*nat", "COMMIT", ":", "[0:0]", '"', "\\", "/",
                              ",", "-", "--to-destination", "[", "]", "0x", "\n", " ", "\t", "\x00", "é", "-p tcp"])
    n = len(text)
    pos = st.integers(0, n)

    def edit(args: tuple[int, int, str, int]) -> str:
        i, j, tok, how = args
        i, j = min(i, j), max(i, j)
        if how == 0:
            return text[:i] + text[j:]
        if how == 1:
            return text[:i] + tok + text[i:]
        if how == 2:
            return text[:i] + tok + text[j:]
        return text[:j] + text[i:j] + text[j:]

    return st.tuples(pos, pos, tokens, st.integers(0, 3)).map(edit)


def _parse_or_located_error(text: str) -> None:
    try:
        parse_text(text)
    except InputError as err:
        assert err.line >= 0 and err.column >= 0 and err.found and err.expected
        assert err.render()  # renders without raising


@BUDGET
@given(st.text(max_size=300))
@example("*filter\n-A INPUT -j\nCOMMIT\n")
@example("*nat\n:DOCKER - [0:0]\n-A DOCKER -j DNAT --to-destination [::1\nCOMMIT\n")
@example("-A FORWARD -m comment --comment \"unterminated\n")
@example("*filter\n:INPUT ACCEPT [1:\nCOMMIT\n")
def test_arbitrary_text_never_crashes(text: str) -> None:
    _parse_or_located_error(text)


@BUDGET
@given(data=st.data())
def test_mutated_dumps_never_crash(data: st.DataObject) -> None:
    rs = data.draw(rulesets(family=data.draw(st.sampled_from((4, 6)))), label="ruleset")
    text = render_ruleset(rs)
    for _ in range(3):
        text = data.draw(_mutations(text), label="mutated")
        _parse_or_located_error(text)
