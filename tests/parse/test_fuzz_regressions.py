"""Inputs found by fuzzing the parser with mutated corpus dumps (docs/decisions/0150-*).

Each was a crash (exit 3), a line iptables refuses but natsim read, or a wrong reading; each must
now be a located error with exit status 2, or the right rules.
"""

from __future__ import annotations

import pytest

from natsim.cli import main
from natsim.errors import InputError
from natsim.model import targets as t
from natsim.parse import parse_text


def _text(*lines: str) -> str:
    return "*filter\n:INPUT ACCEPT [0:0]\n:X - [0:0]\n" + "\n".join(lines) + "\nCOMMIT\n"


def _error(*lines: str) -> InputError:
    with pytest.raises(InputError) as info:
        parse_text(_text(*lines), "f.rules")
    return info.value


@pytest.mark.parametrize("line, column, found, expected", [
    ('-A INPUT -m statistic --mode random --probability nan', 51, "'nan'", "a probability between 0 and 1"),
    ('-A INPUT -m statistic --mode random --probability inf', 51, "'inf'", "a probability between 0 and 1"),
    ('-A INPUT -m statistic --mode random --probability 1e400', 51, "'1e400'", "a probability between 0 and 1"),
    ('-A INPUT -m statistic --mode random --probability 2', 51, "'2'", "a probability between 0 and 1"),
    ('-A INPUT -m statistic --mode random --probability -0.5', 51, "'-0.5'", "a probability between 0 and 1"),
    ('-A INPUT -m statistic --mode random --probability 1_0', 51, "'1_0'", "a probability between 0 and 1"),
    ('-A INPUT -m "" --dst-type LOCAL -j ACCEPT', 13, "''", "a match module name (iptables refuses an empty one)"),
    ('-A INPUT -m "a b" -j ACCEPT', 13, "'a b'", "a match module name without blanks"),
    ('-A INPUT -m ' + "a" * 29 + ' -j ACCEPT', 13, "'" + "a" * 29 + "'",
     "a match module name of at most 28 characters"),
    ('-A INPUT -j ""', 13, "''", "a target or chain name (iptables refuses an empty one)"),
    ('-A INPUT -g ""', 13, "''", "a target or chain name (iptables refuses an empty one)"),
    ('-A INPUT -j "a b"', 13, "'a b'", "a target or chain name without blanks"),
    ('-A INPUT -j ' + "b" * 29, 13, "'" + "b" * 29 + "'", "a target or chain name of at most 28 characters"),
    ('-A INPUT -i "" -j ACCEPT', 13, "''", "an interface name (iptables refuses an empty -i/-o)"),
    ('-A INPUT ! -o "" -j ACCEPT', 15, "''", "an interface name (iptables refuses an empty -i/-o)"),
    (':ACCEPT - [0:0]', 1, "':ACCEPT'", "a chain name other than ACCEPT, which iptables reserves for its verdict"),
    ('-N RETURN', 4, "'RETURN'", "a chain name other than RETURN, which iptables reserves for its verdict"),
    ('-A QUEUE -j ACCEPT', 4, "'QUEUE'", "a chain name other than QUEUE, which iptables reserves for its verdict"),
    ('-N "a b"', 4, "'a b'", "a chain name without blanks"),
])
def test_refused_with_location(line, column, found, expected):
    err = _error(line)
    assert (err.file, err.line, err.column) == ("f.rules", 4, column)
    assert err.found == f"found {found}"
    assert err.expected == f"expected {expected}"


def test_bad_name_after_a_good_line_of_the_same_shape_is_refused():
    # The second line reuses the first one's compiled builder; the check must still run.
    err = _error("-A INPUT -j X", '-A INPUT -g "a b"')
    assert (err.line, err.column, err.found) == (5, 13, "found 'a b'")
    err = _error("-A INPUT -i eth0 -j ACCEPT", '-A INPUT -i "" -j ACCEPT')
    assert (err.line, err.column) == (5, 13)


def test_quoted_steering_words_are_not_confused_by_the_line_cache():
    rules = parse_text(_text('-A INPUT -j "ACCEPT"', '-A INPUT -j "DROP"',
                             '-A INPUT -p "tcp" --dport 80', '-A INPUT -p "udp" --dport 80',
                             '-A INPUT -p tcp -m "tcp" --dport 81', '-A INPUT -p tcp -m "udp" --dport 81'),
                       "f.rules").ruleset.chain("filter", "INPUT").rules
    assert isinstance(rules[0].target, t.Accept) and isinstance(rules[1].target, t.Drop)
    assert [r.protocol.value for r in rules[2:4]] == ["tcp", "udp"]
    assert [type(r.matches[0]).__name__ for r in rules[4:6]] == ["Tcp", "Udp"]


@pytest.mark.parametrize("word, stored", [("0x0.8", "0.50000000000"), ("0x1p-1", "0.50000000000"),
                                          (".5", "0.50000000000"), ("1", "1.00000000000"),
                                          ("-0", "0.00000000000")])
def test_probabilities_strtod_reads_are_accepted(word, stored):
    (rule,) = parse_text(_text(f"-A INPUT -m statistic --mode random --probability {word}"),
                         "f.rules").ruleset.chain("filter", "INPUT").rules
    assert rule.matches[0].probability.value == stored


def test_target_names_iptables_restore_creates_are_still_chains():
    rs = parse_text(_text(":DNAT - [0:0]", "-A X -j ACCEPT", "-A INPUT -m physdev --physdev-in x -j X"),
                    "f.rules").ruleset
    assert rs.chain("filter", "DNAT") is not None


@pytest.mark.parametrize("command", ["parse", "explain"])
def test_cli_exit_status_and_message(tmp_path, capsys, command):
    path = tmp_path / "p.rules"
    path.write_text(_text("-A INPUT -m statistic --mode random --probability nan -j DROP"))
    argv = ["parse", str(path)] if command == "parse" else ["explain", str(path), "--from", "outside",
                                                            "--to", "host:80/tcp", "--no-fix"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"{path}:4:51: found 'nan'; expected a probability between 0 and 1" in err
    assert "internal error" not in err
