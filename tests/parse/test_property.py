"""Properties: generated rulesets survive render -> parse; arbitrary text never crashes the parser."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from natsim.errors import InputError
from natsim.parse import parse_text
from natsim.render.save import render_ruleset
from natsim.validate import validate

from tests.parse.strategies import rulesets


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rulesets(version=4) | rulesets(version=6))
def test_render_parse_roundtrip(ruleset):
    text = render_ruleset(ruleset)
    parsed = parse_text(text, "gen")
    assert parsed.ruleset == ruleset, text
    assert validate(parsed) == []


WORDS = st.sampled_from([
    "-A", "-I", "-N", "-P", "-s", "-d", "-i", "-o", "-p", "-m", "-j", "-g", "!", "--dport", "--sport", "tcp", "udp",
    "INPUT", "FOO", "ACCEPT", "DNAT", "--to-destination", "10.0.0.1", "fd00::1", "1.2.3.4:80", "[fd::1]:80",
    "comment", "--comment", '"a b"', '"', "\\", "conntrack", "--ctstate", "NEW,ESTABLISHED", "80", "1:2",
    "-c", "[1:2]", "*filter", "*nat", ":INPUT", "COMMIT", "-", "--syn", "set", "--match-set", "x", "src,dst",
    "multiport", "--dports", "--to", "REJECT", "LOG", "--log-prefix", "MARK", "--set-mark", "0x1/0xff", "-f",
    "statistic", "--probability", "0.5", "limit", "--limit", "5/min", "recent", "--name", "ipv6-icmp", "-t",
])
LINES = st.lists(WORDS, max_size=12).map(" ".join) | st.text(max_size=60)


@settings(max_examples=200, deadline=None)
@given(st.lists(LINES, max_size=8), st.booleans())
def test_arbitrary_text_only_raises_input_error(lines, lenient):
    text = "\n".join(lines)
    try:
        parsed = parse_text(text, "fuzz", lenient=lenient)
    except InputError as err:
        assert err.file == "fuzz" and err.line >= 1 and err.column >= 1
        return
    for d in parsed.diagnostics:
        assert isinstance(d, InputError)
    validate(parsed)
    render_ruleset(parsed.ruleset)


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from(list('ab -"\\\t!x')), max_size=30))
def test_fast_split_equals_exact_split(line):
    from natsim.parse.lexer import UnterminatedQuote, split_located, split_words

    try:
        exact = split_located(line)
    except UnterminatedQuote:
        try:
            split_words(line)
        except UnterminatedQuote:
            return
        raise AssertionError("the fast split accepted an unterminated quote")
    words, quoted = split_words(line)
    assert words == [w.text for w in exact]
    if quoted is not None:
        assert quoted == [w.quoted for w in exact]
