"""Random rulesets never crash the walk: every flow ends in outcomes with a verdict, never a traceback.

Rules are drawn from templates covering every target kind (jumps, gotos, RETURN, NAT, REJECT,
MARK, unknown targets) and match kind (unknown modules, ipsets, statistic, conntrack, addrtype),
in every table and hook, so combinations nobody wrote a test for still get an answer.
"""

from __future__ import annotations

import random

from enginehosts import golden_host, ip

from natsim.engine import Flow, Network, simulate
from natsim.parse import parse_text

MATCHES = ["", "-p tcp -m tcp --dport 8080", "-p tcp -m tcp --dport 80", "-p udp -m udp --dport 53", "-s 192.168.0.0/24",
           "-d 192.168.0.2/32", "-i br-dummy", "! -i br-dummy", "-o eth0", "-m conntrack --ctstate NEW",
           "-m conntrack --ctstate RELATED,ESTABLISHED", "-m addrtype --dst-type LOCAL", "-m mark --mark 0x1",
           "-m set --match-set someset dst", "-m frobnicate --level 2", "-m statistic --mode random --probability 0.5",
           "-m physdev --physdev-is-bridged", "-p icmp -m icmp --icmp-type 8", "-m state --state ESTABLISHED"]
FILTER_TARGETS = ["ACCEPT", "DROP", "RETURN", "REJECT", "REJECT --reject-with tcp-reset", "LOG", "MARK --set-xmark 0x1/0xffffffff",
                  "U1", "U2", "QUEUE", "CLASSIFY --set-class 1:1"]
NAT_TARGETS = {"PREROUTING": ["DNAT --to-destination 192.168.0.2:80", "REDIRECT --to-ports 8080", "RETURN", "N1"],
               "OUTPUT": ["DNAT --to-destination 192.168.0.3:80", "REDIRECT --to-ports 22", "N1"],
               "POSTROUTING": ["MASQUERADE", "SNAT --to-source 192.0.2.10", "RETURN", "N1"],
               "INPUT": ["SNAT --to-source 192.168.0.1", "N1"]}


def random_ruleset(rnd: random.Random) -> str:
    out = ["*raw", ":PREROUTING ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]"]
    if rnd.random() < 0.2:
        out.append("-A PREROUTING -p tcp -m tcp --dport 22 -j CT --notrack")
    out += ["COMMIT", "*filter", f":INPUT {rnd.choice(['ACCEPT', 'DROP'])} [0:0]",
            f":FORWARD {rnd.choice(['ACCEPT', 'DROP'])} [0:0]", ":OUTPUT ACCEPT [0:0]", ":U1 - [0:0]", ":U2 - [0:0]"]
    for chain in ("INPUT", "FORWARD", "OUTPUT", "U1", "U2"):
        for _ in range(rnd.randrange(0, 5)):
            target = rnd.choice(FILTER_TARGETS)
            if target in ("U1", "U2") and chain.startswith("U"):
                target = "RETURN"  # no loops
            jump = "-g" if target in ("U1", "U2") and rnd.random() < 0.3 else "-j"
            out.append(f"-A {chain} {rnd.choice(MATCHES)} {jump} {target}".replace("  ", " "))
    out += ["COMMIT", "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
            ":POSTROUTING ACCEPT [0:0]", ":N1 - [0:0]"]
    for chain, targets in NAT_TARGETS.items():
        for _ in range(rnd.randrange(0, 3)):
            match = rnd.choice(["", "-p tcp -m tcp --dport 8080", "-s 192.168.0.0/24 ! -o br-dummy",
                                "-m addrtype --dst-type LOCAL", "-p tcp -m tcp --dport 9999"])
            out.append(f"-A {chain} {match} -j {rnd.choice(targets)}".replace("  ", " "))
    out.append("-A N1 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 192.168.0.2:80")
    out.append("COMMIT")
    return "\n".join(out) + "\n"


FLOWS = [("outside", "192.0.2.10", "tcp", 8080), ("outside", "192.168.0.2", "tcp", 80), ("host", "127.0.0.1", "tcp", 8080),
         ("host", "192.0.2.10", "tcp", 22), ("container:c1", "192.0.2.10", "tcp", 8080),
         ("container:c2", "192.168.0.2", "tcp", 80), ("container:c1", "198.51.100.7", "udp", 53),
         ("container:c2", "198.51.100.7", "icmp", None), ("outside", "192.0.2.10", "icmp", None)]


def test_random_rulesets_always_get_an_answer() -> None:
    rnd = random.Random(20261128)
    topologies = [golden_host(hairpin=hp, brnf=brnf, userland_proxy=proxy).topology()
                  for hp, brnf, proxy in ((False, True, True), (None, None, None), (True, False, False))]
    for i in range(100):
        text = random_ruleset(rnd)
        rs = parse_text(text, f"random-{i}.rules", family=4).ruleset
        net = Network(rulesets={4: rs}, topology=rnd.choice(topologies))
        for src, dst, proto, port in FLOWS:
            r = simulate(net, Flow(src, ip(dst), proto, port))
            assert r.outcomes, (i, src, dst)
            assert r.verdict in ("reachable", "blocked", "unknown")
            for o in r.outcomes:
                assert o.reason and o.end in ("connected", "refused", "timeout", "unreachable", "closed", "unknown")
                assert 0.0 < o.probability <= 1.0 + 1e-9
                assert (o.verdict == "reachable") == (o.end == "connected")
            total = sum(o.probability for o in r.outcomes if not any("assuming" in c for c in o.conditions))
            assert total <= 1.0 + 1e-9
