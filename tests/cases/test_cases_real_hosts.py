"""Real hosts' dumps (fixtures/corpus/SOURCES.md B3): the evidence in the dump itself is the oracle.

* A12, hostaudit (ufw + Docker 28 + libvirt, ``iptables-save -c``): the packet counters say which
  rules decided real traffic.  A flow natsim answers must be decided by a rule whose counter
  is non-zero when the evidence says such traffic happened (INPUT policy DROP: 2444 packets,
  all through ufw-after-logging-input / ufw-reject-input; LIBVIRT_FWO ACCEPT: 412731).
  The author's redactions (``IP4_1``, ``-m comment "REDACTED_COMMENT" "..."``) must be reported
  as input errors with file, line and column, never a traceback.
* free5gc-compose (Docker <=27, tailscale, a hand-written LAN -> UE-pool route): the runbook
  routes 192.168.1.0/24 -> 10.60.0.0/24, the dump accepts only 192.168.3.0/24 and
  10.88.120.0/24, so a NEW connection from 192.168.1.x ends at the FORWARD DROP policy
  (its counter [100:8700] shows such drops happened).
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from caseskit import (
    CORPUS, KERNEL_VERDICT, UPLINK, explain, host_namespace, interface, kernel_probes, lab_source, route, run_cli, write_host,
)
from tests.kernel.scenarios.catalog import ufw_libvirt

HOSTAUDIT = CORPUS / "hostaudit-ufw-docker28-libvirt-counters.v4.rules"
FREE5GC = CORPUS / "free5gc-compose-docker-tailscale-sctp.rules"
H1, OUT = "198.18.0.1", "198.18.0.2"


def test_redactions_are_input_errors_with_a_position():
    status, out, err = run_cli(["parse", str(HOSTAUDIT)])
    assert status == 2 and "Traceback" not in err
    assert f"{HOSTAUDIT}:102:" in err and "REDACTED_COMMENT" in err


def _repaired() -> str:
    """The dump with the author's two redactions made parseable, counters and line numbers kept."""
    text = HOSTAUDIT.read_text()
    text = text.replace('-m comment "REDACTED_COMMENT" "deny agent VM to Docker"',
                        '-m comment --comment "deny agent VM to Docker"')
    return text.replace("IP4_1/32", "255.255.255.255/32")  # libvirt's broadcast RETURN


COUNTERS = re.compile(r"^\[(\d+):(\d+)\] ")
AUDIT = replace(ufw_libvirt().spec, rules_v4=_repaired())
# (case, from, to, port, verdict, deciding rule's text as the dump prints it (after the counters))
AUDIT_CASES = [
    ("ssh-from-outside", "outside", H1, 22, "blocked", "-P INPUT DROP"),
    ("agent-vm-to-outside", "vm1", OUT, 80, "reachable", "-A LIBVIRT_FWO -s 192.168.231.0/24 -i virbr1 -j ACCEPT"),
    ("agent-vm-to-host-ssh", "vm1", "192.168.231.1", 22, "blocked", "-A ufw-user-input -i virbr1 -j DROP"),
]


@pytest.fixture(scope="module")
def audit_files(tmp_path_factory):
    return write_host(tmp_path_factory.mktemp("hostaudit"), "hostaudit-repaired", AUDIT)


@pytest.mark.parametrize("case", AUDIT_CASES, ids=[c[0] for c in AUDIT_CASES])
def test_deciding_rules_are_the_ones_the_counters_saw(case, audit_files):
    name, frm, dst, port, verdict, rule = case
    rules, topo = audit_files
    a = explain(rules, lab_source(frm), f"{dst}:{port}/tcp", topology=topo)
    assert a.verdict == verdict, a.data["reason"]
    assert COUNTERS.sub("", a.rule or "") == rule, a.deciding  # natsim cites the line as written, counters too
    line = rules.read_text().splitlines()[a.deciding["line"] - 1]
    if line.startswith(":"):  # a policy: its counter is on the chain's declaration
        packets = int(re.search(r"\[(\d+):\d+\]$", line).group(1))
    else:
        packets = int(COUNTERS.match(line).group(1))
    assert packets > 0, f"natsim's deciding rule never counted a packet on the real host: {line}"


@pytest.mark.kernel
def test_hostaudit_kernel_agrees():
    spec = replace(AUDIT, rules_v4=re.sub(r"^\[\d+:\d+\] ", "", AUDIT.rules_v4, flags=re.M))
    reqs = [{"frm": c[1], "dst": c[2], "port": c[3], "timeout": 0.3} for c in AUDIT_CASES]
    got = [(c[0], p.outcome, KERNEL_VERDICT.get(p.outcome), c[4]) for c, p in zip(AUDIT_CASES, kernel_probes(spec, reqs))]
    assert all(k == want for _, _, k, want in got), got


FREE5GC_TOPOLOGY = host_namespace(
    interface("eth1", "physical", "10.88.120.100/24", "10.88.120.99/24", "192.168.3.89/24"),
    interface("eth0", "physical", "172.30.255.96/20"),
    interface("br-free5gc", "bridge", "10.100.200.1/24"),
    route("default", "eth0", via="172.30.240.1"),
    route("172.30.240.0/20", "eth0", scope="link"),
    route("10.88.120.0/24", "eth1", scope="link"),
    route("192.168.3.0/24", "eth1", scope="link"),
    route("10.100.200.0/24", "br-free5gc", scope="link"),
    route("10.60.0.0/24", "br-free5gc", via="10.100.200.7"),
    sysctl={"net.ipv4.ip_forward": 1, "net.ipv4.conf.all.rp_filter": 2},
)


@pytest.fixture(scope="module")
def free5gc_topology(tmp_path_factory):
    path = tmp_path_factory.mktemp("free5gc") / "free5gc-host.toml"
    path.write_text(FREE5GC_TOPOLOGY)  # from NETWORK_DESIGN.md of the same commit (SOURCES.md B3)
    return path


def test_free5gc_runbook_lan_ends_at_forward_drop(free5gc_topology):
    a = explain(FREE5GC, "192.168.1.20", "10.60.0.3:80/tcp", topology=free5gc_topology)
    assert a.verdict == "blocked"
    assert a.rule == "-P FORWARD DROP"
    assert a.deciding["line"] == 16  # `:FORWARD DROP [100:8700]` in the filter table


def test_free5gc_lan_that_the_dump_accepts_arrives_on_eth1(free5gc_topology):
    """192.168.3.0/24 is eth1's network: the hand-added `-s 192.168.3.0/24 -i eth1 -o br-free5gc -j ACCEPT` applies."""
    a = explain(FREE5GC, "192.168.3.20", "10.60.0.3:80/tcp", topology=free5gc_topology)
    assert a.rule != "-P FORWARD DROP", a.data["reason"]
    first = a.data["steps"][0]
    assert "eth1" in (first.get("note") or "") + str(first.get("packet")), first


SERVERAUDIT = CORPUS / "serveraudit-docker29-default-ubuntu2404.rules"
UPLINK_ONLY = host_namespace(UPLINK, interface("docker0", "bridge", "172.17.0.1/16"),
                             route("default", "eth0", via="198.18.0.254"), sysctl={"net.ipv4.ip_forward": 1})


@pytest.mark.parametrize("client, verdict", [("103.204.159.72", "blocked"), ("203.0.113.50", "reachable")])
def test_serveraudit_author_reject(client, verdict, tmp_path):
    """Docker 29.6.1 server (no containers) + the author's YJ-FIREWALL-INPUT REJECT of one address."""
    topo = tmp_path / "server.toml"
    topo.write_text(UPLINK_ONLY)
    a = explain(SERVERAUDIT, client, "198.18.0.1:22/tcp", topology=topo)
    assert a.verdict == verdict, a.data["reason"]
    if verdict == "blocked":
        assert a.rule == "-A YJ-FIREWALL-INPUT -s 103.204.159.72/32 -j REJECT --reject-with icmp-port-unreachable"
    else:
        assert a.seen == client


def test_json_says_how_the_client_sees_the_failure(tmp_path):
    topo = tmp_path / "server.toml"
    topo.write_text(UPLINK_ONLY)
    a = explain(SERVERAUDIT, "103.204.159.72", "198.18.0.1:22/tcp", topology=topo)
    assert a.data["outcomes"][0].get("end") == "refused"  # REJECT icmp-port-unreachable reaches the client
