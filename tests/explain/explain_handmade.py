"""Hand-made engine results (the engine's contract, not its behaviour) for renderer tests."""

from __future__ import annotations

from natsim.engine.packet import Packet, address
from natsim.engine.result import FlowResult, Leg, Outcome, Step
from natsim.engine.tri import Unknown
from natsim.model.location import Location
from natsim.model.ruleset import Rule
from natsim.model.targets import Accept, Dnat

DNAT_RULE = Rule(
    target=Dnat(),
    location=Location("rules.v4", 31),
    text="-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8066 -j DNAT --to-destination 172.17.0.2:3306",
)
ACCEPT_RULE = Rule(
    target=Accept(),
    location=Location("rules.v4", 17),
    text="-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 3306 -j ACCEPT",
)

REQUEST = Packet(4, address("198.51.100.7"), address("203.0.113.10"), "tcp", 40000, 8066, in_iface="eth0")
DNATED = REQUEST.with_(dst=address("172.17.0.2"), dport=3306)
REPLY = Packet(4, address("172.17.0.2"), address("198.51.100.7"), "tcp", 3306, 40000, in_iface="docker0")
UNDNATED = REPLY.with_(src=address("203.0.113.10"), sport=8066)


def reachable_result() -> FlowResult:
    nat = Step("rule", "host", "PREROUTING", "nat", "DOCKER", 1, DNAT_RULE, True, REQUEST, DNATED)
    accept = Step("rule", "host", "FORWARD", "filter", "DOCKER", 1, ACCEPT_RULE, True, DNATED)
    deliver = Step("deliver", "container:mysqlserver", packet=DNATED, note="mysqld listens on 3306")
    unnat = Step("nat", "host", "POSTROUTING", "nat", None, packet=REPLY, packet_after=UNDNATED, note="un-DNAT")
    request = Leg("request", (nat, accept, deliver), True, accept)
    reply = Leg("reply", (unnat,), True, unnat)
    outcome = Outcome(
        "reachable",
        (request, reply),
        accept,
        seen_source=address("198.51.100.7"),
        seen_source_port=40000,
        destination=address("172.17.0.2"),
        destination_port=3306,
        server="container:mysqlserver",
        reason="DNAT to the container, accepted in FORWARD",
    )
    return FlowResult("outside -> 203.0.113.10:8066/tcp", (outcome,), assumptions=("host address 203.0.113.10 on eth0",))


def unknown_result() -> FlowResult:
    unk = Unknown("ipset docker-ext-bridges-v4 is not in the snapshot")
    step = Step("rule", "host", "FORWARD", "filter", "FORWARD", 3, ACCEPT_RULE, unk, DNATED)
    yes = Outcome("reachable", (Leg("request", (step,), True, step),), step, probability=1.0,
                  conditions=("ipset docker-ext-bridges-v4 contains 172.17.0.2",), unknowns=(unk,))
    no = Outcome("blocked", (Leg("request", (step,), False, step),), step, probability=1.0,
                 conditions=("ipset docker-ext-bridges-v4 does not contain 172.17.0.2",), unknowns=(unk,))
    return FlowResult("outside -> 203.0.113.10:8066/tcp", (yes, no))
