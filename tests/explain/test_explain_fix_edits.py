"""Fix edits on the model: the rule lands where the command says, and matches only the flow."""

from __future__ import annotations

import shlex

from natsim.engine.packet import Packet, address
from natsim.explain.fixes import RuleEdit, flow_rule
from natsim.model.ruleset import Chain, Rule, Ruleset, Table
from natsim.model.targets import Accept, Drop, Jump
from natsim.parse import parse_text

PACKET = Packet(4, address("198.51.100.7"), address("172.17.0.2"), "tcp", 40000, 3306, in_iface="eth0", out_iface="docker0")


def _ruleset() -> Ruleset:
    forward = Chain("FORWARD", "DROP", rules=(Rule(target=Jump("DOCKER-USER")), Rule(target=Drop())))
    user = Chain("DOCKER-USER", None)
    return Ruleset(4, (Table("filter", (Chain("INPUT", "ACCEPT"), forward, user)),))


def _command(rule: Rule, family: int = 4) -> str:
    return RuleEdit("filter", "FORWARD", 1, rule).command(family)


def test_request_rule_matches_the_server_port_and_interfaces() -> None:
    assert _command(flow_rule(PACKET, Accept(), "request")) == (
        "iptables -I FORWARD 1 -s 198.51.100.7/32 -d 172.17.0.2/32 -i eth0 -o docker0 -p tcp -m tcp --dport 3306 -j ACCEPT"
    )


def test_reply_rule_matches_the_server_port_as_source_port() -> None:
    reply = Packet(4, address("172.17.0.2"), address("198.51.100.7"), "tcp", 3306, 40000)
    words = _command(flow_rule(reply, Accept(), "reply")).split()
    assert words[words.index("--sport") + 1] == "3306" and "--dport" not in words


def test_icmp_rule_names_the_echo_type() -> None:
    ping = Packet(4, address("198.51.100.7"), address("192.0.2.10"), "icmp", icmp_type=8, icmp_code=0)
    assert _command(flow_rule(ping, Drop(), "request")).endswith("-p icmp -m icmp --icmp-type 8 -j DROP")


def test_insert_and_append_edit_the_right_chain() -> None:
    rule = flow_rule(PACKET, Accept(), "request")
    rs = _ruleset()
    inserted = RuleEdit("filter", "FORWARD", 2, rule).apply(rs)
    assert inserted.chain("filter", "FORWARD").rules[1] == rule  # type: ignore[union-attr]
    assert len(inserted.chain("filter", "FORWARD").rules) == 3  # type: ignore[union-attr]
    assert rs.chain("filter", "FORWARD").rules[1].target == Drop()  # type: ignore[union-attr]  # original untouched
    appended = RuleEdit("filter", "DOCKER-USER", None, rule)
    assert appended.apply(rs).chain("filter", "DOCKER-USER").rules == (rule,)  # type: ignore[union-attr]
    assert appended.command(4).startswith("iptables -A DOCKER-USER -s 198.51.100.7/32")
    assert RuleEdit("raw", "PREROUTING", 1, rule).command(6).startswith("ip6tables -t raw -I PREROUTING 1 ")


def test_the_command_shown_parses_to_the_rule_that_was_simulated() -> None:
    """What the user runs must be what natsim verified: parse the printed command back."""
    for packet, target, direction in (
        (PACKET, Accept(), "request"),
        (Packet(4, address("172.17.0.2"), address("198.51.100.7"), "udp", 53, 40000), Drop(), "reply"),
        (Packet(4, address("198.51.100.7"), address("192.0.2.10"), "icmp", icmp_type=8, icmp_code=0), Drop(), "request"),
        (Packet(6, address("2001:db8::7"), address("2001:db8::10"), "tcp", 40000, 80, in_iface="eth0"), Accept(), "request"),
    ):
        rule = flow_rule(packet, target, direction)
        words = shlex.split(_command(rule, packet.family))
        text = "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD " + " ".join(words[4:]) + "\nCOMMIT\n"
        parsed = parse_text(text, family=packet.family).ruleset.chain("filter", "FORWARD").rules[0]  # type: ignore[union-attr]
        assert parsed == rule, words
