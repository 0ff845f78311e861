"""Docker users' reports (moby issues and PRs) replayed on moby's own golden rulesets.

Each report has a symptom and a cause stated by the reporter or a maintainer
(fixtures/corpus/SOURCES.md, section A). No dump was published, so each is rebuilt on the
golden ruleset of the same daemon mode (moby TestIptabler, Docker 29 code) with the
reporter's firewall change added; natsim must give the symptom for the stated cause, and the
kernel (namespace lab, both sides described by one ``tests.lab.Host``) must agree.

Host: uplink eth0 198.18.0.1/24, outside client 198.18.0.2, bridge br-dummy 192.168.0.1/24,
c1 192.168.0.2 serving 80/tcp published as 8080, c2 192.168.0.3.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from caseskit import CORPUS, KERNEL_VERDICT, assert_answer, explain, hosts_of, kernel_probes, lab_source, write_host
from tests.kernel.scenarios.catalog import golden
from tests.lab.rulesets import with_rules

H1, GW, C1, C2 = "198.18.0.1", "192.168.0.1", "192.168.0.2", "192.168.0.3"
PROXY = golden("default-proxy-icc-masq-nat", "", proxy=True, br_netfilter=False, hairpin=False).spec
NOPROXY = golden("noproxy-hairpin-icc-masq-nat", "", proxy=False, br_netfilter=True, hairpin=True,
                 route_localnet=("br-dummy",)).spec


def v4_only(spec, rules: str):
    return replace(spec, rules_v4=rules, rules_v6="", uplink_v6=(), outside_v6=None,
                   publish=tuple(p for p in spec.publish if ":" not in p.host_ip))


def policy(text: str, chain: str, verdict: str, table: str = "filter") -> str:
    """``iptables -t TABLE -P CHAIN VERDICT`` on restore text."""
    head, _, rest = text.partition(f"*{table}\n")
    return head + f"*{table}\n" + rest.replace(f":{chain} ACCEPT", f":{chain} {verdict}", 1)


# --- moby#27817: INPUT policy DROP breaks container -> host's published port (userland proxy) -------------------
# A user-defined bridge, INPUT policy DROP; container -> hostIP:8080 fails, outside -> hostIP:8080 works.
# The fix from the thread: `iptables -I INPUT 1 -i <docker-bridge> -j ACCEPT`.
INPUT_DROP = [
    "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    "-A INPUT -i lo -j ACCEPT",
    "-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT",
]
HOST_27817 = v4_only(PROXY, with_rules(policy(PROXY.rules_v4, "INPUT", "DROP"), "filter", *INPUT_DROP))
# The reported message "Host is unreachable" is what a CentOS-style final REJECT gives (EHOSTUNREACH).
CENTOS_REJECT = "-A INPUT -j REJECT --reject-with icmp-host-prohibited"
HOST_27817_CENTOS = v4_only(PROXY, with_rules(PROXY.rules_v4, "filter", *INPUT_DROP, CENTOS_REJECT))
# The stated cause is the proxy: without it the same INPUT policy does not matter (DNAT in PREROUTING, then FORWARD).
HOST_27817_NOPROXY = v4_only(NOPROXY, with_rules(policy(NOPROXY.rules_v4, "INPUT", "DROP"), "filter", *INPUT_DROP))
HOST_27817_FIXED = replace(HOST_27817, rules_v4=with_rules(HOST_27817.rules_v4, "filter", "-I INPUT 1 -i br-dummy -j ACCEPT"))

# --- moby#20243: INPUT/OUTPUT policy DROP breaks localhost -> published port ---------------------------------------
# Maintainer: "Docker's iptables manipulation assumes the default policy as ACCEPT".  The user's fix:
# `iptables -A INPUT -i br+ -j ACCEPT; iptables -A OUTPUT -o br+ -j ACCEPT`.  docker-proxy accepts on lo, then its
# own connection to the container leaves by the bridge through OUTPUT.
IO_DROP = INPUT_DROP + ["-A OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT", "-A OUTPUT -o lo -j ACCEPT"]
HOST_20243 = v4_only(PROXY, with_rules(policy(policy(PROXY.rules_v4, "INPUT", "DROP"), "OUTPUT", "DROP"), "filter",
                                       *IO_DROP))
HOST_20243_FIXED = replace(HOST_20243, rules_v4=with_rules(HOST_20243.rules_v4, "filter", "-A INPUT -i br+ -j ACCEPT",
                                                           "-A OUTPUT -o br+ -j ACCEPT"))

# --- moby#27201: host -> its own public IP:published port fails, another machine -> same address works -----------
# The thread gives no cause; on a pristine proxy host the kernel connects (OUTPUT DNAT), so natsim must say
# reachable there, and blocked once the host's OUTPUT policy drops new connections (the 20243 cause) while
# outside still works.  With `-A OUTPUT -o lo -j ACCEPT` it works again, although the DNATed packet leaves by
# br-dummy: filter OUTPUT still sees the output device routed *before* nat OUTPUT rerouted it (lo) —
# the kernel passes the original device to the whole LOCAL_OUT hook (decision 0120).
OUTPUT_DROP = policy(PROXY.rules_v4, "OUTPUT", "DROP")
ESTABLISHED_OUT = "-A OUTPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
HOST_27201 = v4_only(PROXY, PROXY.rules_v4)
HOST_27201_OUTPUT_DROP = v4_only(PROXY, with_rules(OUTPUT_DROP, "filter", ESTABLISHED_OUT))
HOST_27201_LO_ACCEPT = v4_only(PROXY, with_rules(OUTPUT_DROP, "filter", ESTABLISHED_OUT, "-A OUTPUT -o lo -j ACCEPT"))

# --- A10 / moby PR #48854: hairpin MASQUERADE is what makes container -> its own published port work (no proxy) ----
HOST_A10 = v4_only(NOPROXY, NOPROXY.rules_v4)
HOST_A10_NO_MASQ = v4_only(NOPROXY, "\n".join(
    line for line in NOPROXY.rules_v4.splitlines() if "-s 192.168.0.2/32 -d 192.168.0.2/32" not in line) + "\n")
HOST_A10_PROXY = v4_only(PROXY, PROXY.rules_v4)

# --- ports bound to 127.0.0.1, userland-proxy=false (golden bindlh=true): DNAT only for -d 127.0.0.1, raw drops
# remote packets to it; the host itself reaches it through route_localnet=1 and `-o br --src-type LOCAL` MASQUERADE
BINDLH = (CORPUS / "moby-iptabler-golden-noproxy-bindlocalhost.rules").read_text()
HOST_BINDLH = replace(v4_only(NOPROXY, BINDLH), publish=tuple(replace(p, host_ip="127.0.0.1")
                                                              for p in NOPROXY.publish if ":" not in p.host_ip))

# (case id, host, from, to address, port, natsim verdict, seen address or None, deciding rule text or None,
#  kernel outcome: "a|b" when either is right — docker-proxy whose backend never answers leaves the client
#  hanging until the proxy gives up, so the lab's short probe sees a timeout where natsim says closed)
CASES = [
    ("27817-container-to-host", HOST_27817, "c2", H1, 8080, "blocked", None, "-P INPUT DROP", "timeout"),
    ("27817-outside-still-works", HOST_27817, "outside", H1, 8080, "reachable", "198.18.0.2",
     "-A DOCKER -d 192.168.0.2/32 ! -i br-dummy -o br-dummy -p tcp -m tcp --dport 80 -j ACCEPT", "connected"),
    ("27817-host-unreachable", HOST_27817_CENTOS, "c2", H1, 8080, "blocked", None, CENTOS_REJECT, "unreachable"),
    ("27817-noproxy-unaffected", HOST_27817_NOPROXY, "c2", H1, 8080, "reachable", C2, None, "connected"),
    ("27817-fixed", HOST_27817_FIXED, "c2", H1, 8080, "reachable", GW, None, "connected"),
    ("20243-localhost", HOST_20243, "host", "127.0.0.1", 8080, "blocked", None, "-P OUTPUT DROP", "closed|timeout"),
    ("20243-fixed", HOST_20243_FIXED, "host", "127.0.0.1", 8080, "reachable", GW, None, "connected"),
    ("27201-pristine", HOST_27201, "host", H1, 8080, "reachable", H1, None, "connected"),
    ("27201-output-drop", HOST_27201_OUTPUT_DROP, "host", H1, 8080, "blocked", None, "-P OUTPUT DROP", "timeout"),
    ("27201-output-lo-accept", HOST_27201_LO_ACCEPT, "host", H1, 8080, "reachable", H1, None, "connected"),
    ("27201-output-drop-outside", HOST_27201_OUTPUT_DROP, "outside", H1, 8080, "reachable", "198.18.0.2", None,
     "connected"),
    ("bindlh-host-localhost", HOST_BINDLH, "host", "127.0.0.1", 8080, "reachable", GW, None, "connected"),
    ("bindlh-remote-to-127", HOST_BINDLH, "outside", "127.0.0.1", 8080, "blocked", None,
     "-A PREROUTING -d 127.0.0.1/32 ! -i lo -p tcp -m tcp --dport 8080 -j DROP", "n/a (lab_can_send)"),
    ("bindlh-not-on-uplink", HOST_BINDLH, "outside", H1, 8080, "blocked", None, None, "refused"),
    ("A10-hairpin-masq", HOST_A10, "c1", H1, 8080, "reachable", GW, None, "connected"),
    ("A10-masq-deleted", HOST_A10_NO_MASQ, "c1", H1, 8080, "blocked", None, None, "timeout"),
    ("A10-proxy-no-masq-needed", HOST_A10_PROXY, "c1", H1, 8080, "reachable", GW, None, "connected"),
]
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_natsim_gives_the_reported_symptom(case, tmp_path):
    name, spec, frm, dst, port, verdict, seen, rule, _ = case
    rules, topo = write_host(tmp_path, name, spec)
    assert_answer(explain(rules, lab_source(frm), f"{dst}:{port}/tcp", topology=topo), verdict, seen, rule)


@pytest.mark.kernel
def test_the_kernel_agrees():
    """All cases in the lab (nft backend), one host per distinct ruleset, probes in parallel."""
    wrong = []
    for cases in hosts_of(CASES):
        spec = cases[0][1]
        reqs = [{"frm": c[2], "dst": c[3], "port": c[4], "timeout": 0.5} for c in cases]
        for case, probe in zip(cases, kernel_probes(spec, reqs)):
            name, _, _, _, _, verdict, seen, _, outcome = case
            if probe.outcome not in outcome.split("|") or KERNEL_VERDICT[probe.outcome] != verdict or \
                    (seen and probe.outcome == "connected" and probe.seen != seen):
                wrong.append(f"{name}: kernel {probe.outcome} seen {probe.seen}, expected {outcome} seen {seen}")
    assert not wrong, "\n".join(wrong)


def test_topology_with_an_outside_namespace_answers_outside_flows(tmp_path):
    from tests.lab.topology import to_toml

    rules = tmp_path / "proxy.rules"
    rules.write_text(HOST_27201.rules_v4)
    topo = tmp_path / "with-outside.toml"
    topo.write_text(to_toml(HOST_27201))
    a = explain(rules, "outside", f"{H1}:8080/tcp", topology=topo)
    assert a.verdict == "reachable" and a.seen == "198.18.0.2"


def test_no_conflict_when_the_read_topology_only_adds_to_an_inference(tmp_path):
    rules, topo = write_host(tmp_path, "27817", HOST_27817)
    a = explain(rules, "container:c2", f"{H1}:8080/tcp", topology=topo)
    assert not [x for x in a.data["assumptions"] if x.startswith("conflict")], a.data["assumptions"]  # tmp_path holds "conflict"
