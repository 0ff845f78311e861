"""Chain-walk semantics (ip_tables.c ipt_do_table): jump, goto, RETURN, policies, and the index.

Each test builds a tiny ruleset whose verdict differs depending on exactly the rule of
the kernel under test, so a wrong implementation fails it.
"""

from __future__ import annotations

import ipaddress
import random

from enginehosts import Host, ip

from natsim.engine import Flow, Network, simulate
from natsim.engine import chains
from natsim.engine.branches import Decider
from natsim.engine.packet import Packet
from natsim.engine.walk import HookEnv, Run
from natsim.parse import parse_text


def filter_net(rules: str, policy: str = "ACCEPT") -> Network:
    text = f"*filter\n:INPUT {policy} [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n{rules}\nCOMMIT\n"
    rs = parse_text(text, "test.rules", family=4).ruleset
    return Network(rulesets={4: rs}, topology=Host([], []).topology())


def outside_to_host(net: Network, port: int = 22):
    return simulate(net, Flow("outside", ip("192.0.2.10"), "tcp", port, source_address=ip("192.0.2.99")))


def test_goto_then_return_goes_back_to_the_callers_caller() -> None:
    rules = ":X - [0:0]\n:Y - [0:0]\n-A INPUT -j X\n-A INPUT -j ACCEPT\n-A X -g Y\n-A X -j DROP\n-A Y -j RETURN"
    assert outside_to_host(filter_net(rules, "DROP")).verdict == "reachable"


def test_jump_then_return_goes_back_to_the_caller() -> None:
    rules = ":X - [0:0]\n:Y - [0:0]\n-A INPUT -j X\n-A INPUT -j ACCEPT\n-A X -j Y\n-A X -j DROP\n-A Y -j RETURN"
    r = outside_to_host(filter_net(rules, "DROP"))
    assert r.verdict == "blocked"
    d = r.outcomes[0].deciding
    assert (d.chain, d.rule_index) == ("X", 2)


def test_falling_off_a_user_chain_returns_and_builtin_uses_policy() -> None:
    rules = ":X - [0:0]\n-A INPUT -j X\n-A X -p udp -j ACCEPT"
    r = outside_to_host(filter_net(rules, "DROP"))
    assert r.verdict == "blocked"
    assert r.outcomes[0].deciding.kind == "policy"
    assert "policy of filter INPUT" in r.outcomes[0].reason


def test_return_in_builtin_chain_applies_policy() -> None:
    r = outside_to_host(filter_net("-A INPUT -j RETURN\n-A INPUT -j ACCEPT", "DROP"))
    assert r.verdict == "blocked"


def test_reject_is_refused_and_drop_is_timeout() -> None:
    assert outside_to_host(filter_net("-A INPUT -p tcp --dport 22 -j REJECT --reject-with tcp-reset")).outcomes[0].end \
        == "refused"
    assert outside_to_host(filter_net("-A INPUT -p tcp --dport 22 -j DROP")).outcomes[0].end == "timeout"
    r = outside_to_host(filter_net("-A INPUT -j REJECT --reject-with icmp-host-prohibited"))
    assert r.outcomes[0].end == "unreachable"


def test_unknown_match_branches_with_conditions() -> None:
    r = outside_to_host(filter_net("-A INPUT -m frobnicate --level 3 -j DROP"))
    assert r.verdict == "unknown"
    verdicts = sorted(o.verdict for o in r.outcomes)
    assert verdicts == ["blocked", "reachable"]
    for o in r.outcomes:
        assert any("frobnicate" in c for c in o.conditions)
        assert any("frobnicate" in u.reason for u in o.unknowns)


def test_unknown_that_does_not_matter_is_merged_away() -> None:
    # both answers of the unknown match end in ACCEPT: one outcome, no condition
    r = outside_to_host(filter_net("-A INPUT -m frobnicate -j ACCEPT\n-A INPUT -j ACCEPT", "DROP"))
    assert r.verdict == "reachable"
    assert len(r.outcomes) == 1 and r.outcomes[0].conditions == ()
    assert r.outcomes[0].probability == 1.0  # two answers to one question are not two draws


def test_ipset_without_contents_is_unknown_and_with_contents_decides() -> None:
    rules = "-A INPUT -m set --match-set allowed src -j ACCEPT"
    net = filter_net(rules, "DROP")
    r = outside_to_host(net)
    assert r.verdict == "unknown"
    assert any("ipset allowed" in u.reason for o in r.outcomes for u in o.unknowns)
    from natsim.parse import parse_ipset_text

    for member, verdict in (("192.0.2.0/24", "reachable"), ("198.51.100.0/24", "blocked")):
        sets = parse_ipset_text(f"create allowed hash:net family inet\nadd allowed {member}\n", "sets")
        net2 = Network(rulesets=net.rulesets, ipsets=sets, topology=net.topology)
        assert outside_to_host(net2).verdict == verdict


def _walk(cc_threshold: int, rs, packets):
    old = chains.INDEX_THRESHOLD
    chains.INDEX_THRESHOLD = cc_threshold
    try:
        crs = chains.compile_ruleset(rs)
    finally:
        chains.INDEX_THRESHOLD = old
    net = Network(rulesets={4: rs}, topology=Host([], []).topology())
    out = []
    for p in packets:
        run = Run(net, Decider())
        env = HookEnv("FORWARD", 4, net.world.ns("host"), None)
        v = chains.walk(run, "host", crs, "filter", "FORWARD", p, env)
        out.append((v.kind, v.step.rule_index if v.step else None, v.step.chain if v.step else None))
    return out


def test_index_gives_the_same_first_match_as_a_linear_scan() -> None:
    rnd = random.Random(7)
    lines = [":SUB - [0:0]"]
    for i in range(300):
        parts = []
        if rnd.random() < 0.5:
            parts.append(f"-d 10.0.0.{rnd.randrange(8)}/32")
        if rnd.random() < 0.3:
            parts.append(f"{'! ' if rnd.random() < 0.2 else ''}-o br{rnd.randrange(3)}")
        if rnd.random() < 0.3:
            parts.append(f"-i br{rnd.randrange(3)}")
        if rnd.random() < 0.6:
            parts.append(f"-p tcp -m tcp --dport {rnd.randrange(78, 84)}")
        target = rnd.choice(["ACCEPT", "DROP", "RETURN", "SUB", "LOG"])
        lines.append(f"-A FORWARD {' '.join(parts)} -j {target}")
        if i % 10 == 0:
            lines.append(f"-A SUB -p tcp -m tcp --dport {rnd.randrange(78, 84)} -j DROP")
    text = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n" + "\n".join(lines) + "\nCOMMIT\n"
    rs = parse_text(text, "random.rules", family=4).ruleset
    packets = [Packet(4, ipaddress.ip_address("192.0.2.1"), ipaddress.ip_address(f"10.0.0.{rnd.randrange(9)}"), "tcp",
                      40000, rnd.randrange(77, 85), in_iface=f"br{rnd.randrange(4)}", out_iface=f"br{rnd.randrange(4)}")
               for _ in range(200)]
    assert _walk(10**9, rs, packets) == _walk(2, rs, packets)


def test_bad_flows_are_usage_errors() -> None:
    import pytest

    from natsim.errors import UsageError

    net = filter_net("")
    for flow in (Flow("nowhere", ip("192.0.2.10"), "tcp", 22), Flow("outside", ip("192.0.2.10"), "tcp", None),
                 Flow("outside", ip("192.0.2.10"), "tcp", 22, source_address=ip("2001:db8::1"))):
        with pytest.raises(UsageError):
            simulate(net, flow)
