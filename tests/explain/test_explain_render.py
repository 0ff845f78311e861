"""Renderers on hand-made engine results: what a user reads, and what a script parses."""

from __future__ import annotations

import json

from explain_handmade import reachable_result, unknown_result

from natsim.explain.answer import Answer, Fix, FlowAnswer
from natsim.explain.endpoints import parse_destination, parse_source
from natsim.explain.render_json import answer_json
from natsim.explain.render_text import explain_text, trace_text


def _answer(result, fixes=()) -> Answer:
    return Answer(
        parse_source("outside"),
        parse_destination("host:8066/tcp"),
        (FlowAnswer(result.description, result, fixes),),
        assumptions=("bridge docker0 inferred from rules.v4:40",),
    )


def test_explain_text_puts_the_verdict_first_and_cites_the_rule() -> None:
    text = explain_text(_answer(reachable_result()))
    first = text.splitlines()[0]
    assert first == "outside -> host:8066/tcp: REACHABLE"
    assert "deciding rule: rules.v4:17 (filter DOCKER rule 1)" in text
    assert "-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0" in text
    assert "DNAT (request): 198.51.100.7:40000 -> 203.0.113.10:8066  =>  198.51.100.7:40000 -> 172.17.0.2:3306" in text
    assert "un-DNAT (reply)" in text
    assert "it sees the client as 198.51.100.7:40000" in text
    assert "bridge docker0 inferred from rules.v4:40" in text
    assert "host address 203.0.113.10 on eth0" in text


def test_json_has_the_documented_keys() -> None:
    fix = Fix("close", ("iptables -I DOCKER-USER -i eth0 -p tcp --dport 3306 -j DROP",), "x", "blocked")
    data = json.loads(json.dumps(answer_json(_answer(reachable_result(), (fix,)))))
    assert data["verdict"] == "reachable"
    assert data["seen_source"] == "198.51.100.7"
    assert data["destination"] == "172.17.0.2"
    assert data["destination_port"] == 3306
    assert data["deciding_rule"]["file"] == "rules.v4"
    assert data["deciding_rule"]["line"] == 17
    assert data["deciding_rule"]["text"].startswith("-A DOCKER -d 172.17.0.2/32")
    assert "host address 203.0.113.10 on eth0" in data["assumptions"]
    assert [s["direction"] for s in data["steps"]] == ["request"] * 3 + ["reply"]
    assert data["steps"][0]["packet_after"]["dst"] == "172.17.0.2"
    assert data["fixes"][0]["commands"][0].startswith("iptables -I DOCKER-USER")
    assert len(data["flows"]) == 1 and data["outcomes"][0]["verdict"] == "reachable"


def test_unknown_shows_both_branches_and_what_it_depends_on() -> None:
    answer = _answer(unknown_result())
    text = explain_text(answer)
    assert text.splitlines()[0].endswith("UNKNOWN")
    assert "if: ipset docker-ext-bridges-v4 contains 172.17.0.2" in text
    assert "if: ipset docker-ext-bridges-v4 does not contain 172.17.0.2" in text
    assert "depends on: ipset docker-ext-bridges-v4 is not in the snapshot" in text
    data = answer_json(answer)
    assert data["verdict"] == "unknown"
    assert {o["verdict"] for o in data["outcomes"]} == {"reachable", "blocked"}
    assert data["outcomes"][0]["depends_on"] == ["ipset docker-ext-bridges-v4 is not in the snapshot"]
    assert data["steps"][0]["matched"] == {"unknown": "ipset docker-ext-bridges-v4 is not in the snapshot"}


def test_trace_lists_every_step_with_file_line_and_packets() -> None:
    text = trace_text(_answer(reachable_result()))
    assert "request: tcp 198.51.100.7:40000 -> 203.0.113.10:8066 (in=eth0)  => delivered" in text
    assert "PREROUTING nat DOCKER #1  match" in text
    assert "rules.v4:31  -A DOCKER ! -i docker0 -p tcp -m tcp --dport 8066 -j DNAT" in text
    assert "now:   tcp 198.51.100.7:40000 -> 172.17.0.2:3306 (in=eth0)" in text
    assert "reply:" in text


def test_a_policy_verdict_cites_the_chains_declaration() -> None:
    from natsim.engine.result import FlowResult, Leg, Outcome, Step
    from natsim.model.location import Location

    from explain_handmade import DNATED

    policy = Step("policy", "host", "FORWARD", "filter", "FORWARD", None, None, None, DNATED, None, "policy DROP")
    outcome = Outcome("blocked", (Leg("request", (policy,), False, policy),), policy, reason="FORWARD policy DROP")
    result = FlowResult("outside -> 203.0.113.10:8066/tcp", (outcome,))
    answer = Answer(
        parse_source("outside"), parse_destination("host:8066/tcp"), (FlowAnswer(result.description, result),),
        chain_sites={(4, "filter", "FORWARD"): Location("rules.v4", 9)},
    )
    assert "deciding rule: rules.v4:9 (filter FORWARD)\n      -P FORWARD DROP" in explain_text(answer)
    assert answer_json(answer)["deciding_rule"] == {
        "file": "rules.v4", "line": 9, "text": "-P FORWARD DROP", "table": "filter", "chain": "FORWARD", "rule_number": None,
    }


def test_flows_that_disagree_say_the_answer_depends_on_the_address() -> None:
    from natsim.engine.result import FlowResult, Outcome

    blocked = FlowResult("host -> 127.0.0.1:8066/tcp", (Outcome("blocked", (), None, reason="nothing listens"),))
    reachable = reachable_result()
    answer = Answer(
        parse_source("host"), parse_destination("host:8066/tcp"),
        (FlowAnswer("host -> 203.0.113.10:8066/tcp", reachable), FlowAnswer(blocked.description, blocked)),
    )
    first = explain_text(answer).splitlines()[0]
    assert first == (
        "host -> host:8066/tcp: DEPENDS ON THE ADDRESS "
        "(reachable to 203.0.113.10:8066/tcp, blocked to 127.0.0.1:8066/tcp)"
    )
    data = answer_json(answer)
    assert data["verdict"] == "unknown"
    assert [f["verdict"] for f in data["flows"]] == ["reachable", "blocked"]


def test_statistic_branches_show_their_probability() -> None:
    from natsim.engine.result import FlowResult, Outcome

    outs = tuple(
        Outcome("reachable", (), None, probability=p, conditions=(f"statistic branch {i} of 3",), reason=f"endpoint {i}")
        for i, p in enumerate((1 / 3, 1 / 3, 1 / 3), 1)
    )
    result = FlowResult("host -> 10.96.0.10:53/udp", outs)
    answer = Answer(parse_source("host"), parse_destination("10.96.0.10:53/udp"), (FlowAnswer(result.description, result),))
    text = explain_text(answer)
    assert text.splitlines()[0] == "host -> 10.96.0.10:53/udp: REACHABLE"
    assert "  2. REACHABLE (probability 0.333)" in text and "if: statistic branch 2 of 3" in text
    assert [o["probability"] for o in answer_json(answer)["outcomes"]] == [1 / 3] * 3


def test_assumptions_with_one_source_are_told_once_in_text() -> None:
    from natsim.explain.render_text import _grouped

    rule = "inferred from rule `-A POSTROUTING -s 10.0.0.0/24 ! -o br0 -j MASQUERADE` at r:3"
    assert _grouped([f"network br0: {rule}", f"network br0 subnets: {rule}", "network br0 name: assumed default",
                     f"network br0 masquerade: {rule}", "plain note"]) == [
        f"network br0 (subnets, masquerade): {rule}", "network br0 name: assumed default", "plain note",
    ]
