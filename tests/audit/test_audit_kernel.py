"""The audit's claims against the real kernel (decision records 0100 and 0101).

* A rule the audit calls shadowed/redundant never counts a packet, whatever we send.
* A published port the audit says bypasses INPUT is reachable from outside although INPUT
  drops the same port for the host, and the DOCKER-USER/FORWARD rule the audit proposes
  closes it.
* Direct access to a container address: present with gateway mode nat-unprotected, absent
  with Docker 29's raw PREROUTING drop, as the audit says.
"""

from __future__ import annotations

import re
import shlex

import pytest

from natsim.audit.run import audit_ruleset
from tests.audit.conftest import ruleset_of
from tests.lab import Bridge, Container, Host, Listen, Publish, build
from tests.lab.rulesets import corpus

pytestmark = pytest.mark.kernel

HOST_IP, C1 = "198.18.0.1", "192.168.0.2"
DROP = 0.2


def _findings(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in audit_ruleset(ruleset_of(text, "kernel.rules")):
        out.setdefault(f.check, []).append(f)
    return out


def _counters(save_c: str, chain: str) -> list[int]:
    """Packet counters of ``-A chain`` rules, in order, from ``iptables-save -c``."""
    out = []
    for line in save_c.splitlines():
        m = re.match(r"\[(\d+):\d+\] -A (\S+) ", line)
        if m and m.group(2) == chain:
            out.append(int(m.group(1)))
    return out


SHADOW_RULES = """*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A INPUT -p tcp -m tcp --dport 1:1023 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j DROP
-A INPUT -s 198.18.0.0/24 -p udp -j ACCEPT
-A INPUT -s 198.18.0.2/32 -p udp -m udp --dport 53 -j DROP
-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A INPUT -m state --state ESTABLISHED -j ACCEPT
-A INPUT -p tcp -m multiport --dports 8080,9090 -j REJECT
-A INPUT -p tcp -m tcp --dport 9090 -j ACCEPT
-A INPUT -p tcp -m tcp --dport 7000:7999 -j ACCEPT
COMMIT
"""


def test_dead_rules_never_count_a_packet() -> None:
    found = _findings(SHADOW_RULES)
    dead = {c.index for k in ("shadowed-rule", "redundant-rule") for f in found.get(k, ()) for c in f.rules[:1]}
    assert dead == {2, 4, 6, 8}
    spec = Host(
        backend="nft", rules_v4=SHADOW_RULES, bridges=(Bridge("docker0", "172.17.0.1/16"),),
        host_listen=(Listen("tcp", 22), Listen("tcp", 8080), Listen("tcp", 9090), Listen("tcp", 7500),
                     Listen("udp", 53)),
    )
    with build(spec, prefix="audit") as h:
        probes = [
            dict(frm="outside", dst=HOST_IP, port=p, proto=proto, timeout=DROP)
            for proto, p in (("tcp", 22), ("tcp", 80), ("tcp", 8080), ("tcp", 9090), ("tcp", 7500),
                             ("udp", 53), ("udp", 5353))
        ] + [dict(frm="outside", dst=HOST_IP, proto="icmp", timeout=DROP)]
        got = h.probe_many(probes)
        assert got[0].outcome == "connected"  # 22 accepted by rule 1, never dropped by rule 2
        assert got[3].outcome == "refused"  # 9090 rejected by rule 7; rule 8 is dead
        counters = _counters(h.run(["iptables-nft-save", "-c"])["out"], "INPUT")
    assert len(counters) == 9
    for idx in dead:
        assert counters[idx - 1] == 0, f"rule {idx} was called dead but counted {counters[idx - 1]} packets"
    assert counters[0] > 0 and counters[2] > 0 and counters[4] > 0


def _bypass_host(rules: str) -> Host:
    return Host(
        backend="nft", rules_v4=rules,
        bridges=(Bridge("br-dummy", "192.168.0.1/24"),),
        containers=(Container("c1", "br-dummy", C1, listen=(Listen("tcp", 80), Listen("tcp", 81))),),
        publish=(Publish("c1", 80, 8080),), userland_proxy=False,
        host_listen=(Listen("tcp", 22),),
    )


def _input_drop(text: str) -> str:
    head, tail = text.split("*filter", 1)
    return head + "*filter" + tail.replace(":INPUT ACCEPT [0:0]", ":INPUT DROP [0:0]", 1)


def test_published_port_bypasses_input_drop_and_the_proposed_rule_closes_it() -> None:
    rules = _input_drop(corpus("moby-iptabler-golden-default-proxy-icc-masq-nat.rules"))
    with build(_bypass_host(rules), prefix="audit") as h:
        saved = h.save(4)  # audit what the kernel holds, not what we wrote
        [finding] = _findings(saved)["docker-bypasses-input"]
        assert "8080" in finding.title
        assert h.probe("outside", HOST_IP, 22, timeout=DROP).outcome == "timeout"  # INPUT drops the host's port
        assert h.probe("outside", HOST_IP, 8080).outcome == "connected"  # ... but not the published one
        command = re.search(r"`(iptables [^`]+)`", finding.fix).group(1)
        h.iptables(*shlex.split(command)[1:])
        h.flush_conntrack()
        assert h.probe("outside", HOST_IP, 8080, timeout=DROP).outcome == "timeout"
        assert "docker-bypasses-input" not in _findings(h.save(4))


def test_direct_container_access_matches_the_audit() -> None:
    protected = corpus("moby-iptabler-golden-default-proxy-icc-masq-nat.rules")
    unprotected = corpus("moby-iptabler-golden-proxy-nat-unprotected.rules")
    assert "container-directly-reachable" not in _findings(protected)
    [f] = _findings(unprotected)["container-directly-reachable"]
    assert "unpublished ports too" in f.why
    with build(_bypass_host(protected), prefix="audit") as h:
        got = h.probe_many([dict(frm="outside", dst=C1, port=p, timeout=DROP) for p in (80, 81)])
        assert [p.outcome for p in got] == ["timeout", "timeout"]
    with build(_bypass_host(unprotected), prefix="audit") as h:
        got = h.probe_many([dict(frm="outside", dst=C1, port=p) for p in (80, 81)])
        assert [p.outcome for p in got] == ["connected", "connected"]
