"""kube-proxy's own expected ruleset (kubernetes TestOverallIPTablesRules), fixtures/corpus B3.

The file holds only the KUBE-* chains: kube-proxy installs the jumps from the built-in chains
separately (pkg/proxy/iptables/proxier.go iptablesJumpChains).  Asked as published, natsim
must not pretend the services work or fail silently; with kube-proxy's jumps added, a
service with two endpoints is a ``-m statistic`` draw (0.5 each), one without endpoints is
REJECTed, and a load-balancer with source ranges drops other clients in KUBE-PROXY-FIREWALL.
"""

from __future__ import annotations

import pytest

from caseskit import CORPUS, UPLINK, UPLINK_ROUTES, explain, host_namespace, interface, route, toml_block

KUBE = CORPUS / "kube-proxy-test-overall-iptables-rules.restore.rules"
# kube-proxy's jump rules (proxier.go iptablesJumpChains), minus their comments
JUMPS = {
    "filter": ["-A INPUT -m conntrack --ctstate NEW -j KUBE-PROXY-FIREWALL",
               "-A INPUT -j KUBE-NODEPORTS",
               "-A INPUT -m conntrack --ctstate NEW -j KUBE-EXTERNAL-SERVICES",
               "-A INPUT -j KUBE-FIREWALL",
               "-A FORWARD -m conntrack --ctstate NEW -j KUBE-PROXY-FIREWALL",
               "-A FORWARD -j KUBE-FORWARD",
               "-A FORWARD -m conntrack --ctstate NEW -j KUBE-SERVICES",
               "-A FORWARD -m conntrack --ctstate NEW -j KUBE-EXTERNAL-SERVICES",
               "-A OUTPUT -m conntrack --ctstate NEW -j KUBE-PROXY-FIREWALL",
               "-A OUTPUT -m conntrack --ctstate NEW -j KUBE-SERVICES",
               "-A OUTPUT -j KUBE-FIREWALL"],
    "nat": ["-A PREROUTING -j KUBE-SERVICES", "-A OUTPUT -j KUBE-SERVICES", "-A POSTROUTING -j KUBE-POSTROUTING"],
}
PODS = "".join(toml_block("container", name=f"pod{i}", network_mode="cni", address=f"10.180.0.{i}/24")
               for i in range(1, 6))
TOPOLOGY = toml_block("network", name="cni", bridge="cni0", subnet="10.180.0.0/24", gateway="10.180.0.254") + PODS + \
    host_namespace(UPLINK, interface("cni0", "bridge", "10.180.0.254/24"), UPLINK_ROUTES,
                   route("10.180.0.0/24", "cni0", scope="link"), sysctl={"net.ipv4.ip_forward": 1})


@pytest.fixture(scope="module")
def kube(tmp_path_factory):
    """The kube-proxy ruleset with its jump rules, and a node topology (pods on cni0, described as containers)."""
    d = tmp_path_factory.mktemp("kube")
    lines = KUBE.read_text().splitlines()
    out, table = [], None
    for line in lines:
        if line.startswith("*"):
            table = line[1:]
        if line == "COMMIT":
            out += JUMPS.get(table, [])
        out.append(line)
    rules = d / "kube-with-jumps.rules"
    rules.write_text("\n".join(out) + "\n")
    topo = d / "node.toml"
    topo.write_text(TOPOLOGY)
    return rules, topo


def test_two_endpoints_are_a_fifty_fifty_draw(kube):
    rules, topo = kube
    a = explain(rules, "host", "172.30.0.44:80/tcp", topology=topo)
    draws = {o["destination"]: o["probability"] for o in a.data["outcomes"]}
    assert draws == {"10.180.0.4": pytest.approx(0.5), "10.180.0.5": pytest.approx(0.5)}
    assert a.verdict == "reachable"
    # from the node itself (! -s 10.0.0.0/8) the service MASQUERADEs: the pod sees the node's cni0 address
    assert {o["seen_source"] for o in a.data["outcomes"]} == {"10.180.0.254"}


def test_service_without_endpoints_is_rejected(kube):
    rules, topo = kube
    a = explain(rules, "host", "172.30.0.46:80/tcp", topology=topo)
    assert a.verdict == "blocked"
    assert "has no endpoints" in (a.rule or ""), a.deciding


def test_loadbalancer_source_ranges(kube):
    rules, topo = kube
    allowed = explain(rules, "203.0.113.7", "5.6.7.8:80/tcp", topology=topo)
    assert allowed.verdict == "reachable"
    assert allowed.data["destination"] == "10.180.0.3"
    denied = explain(rules, "198.51.100.7", "5.6.7.8:80/tcp", topology=topo)
    assert denied.verdict == "blocked"
    assert "traffic not accepted by KUBE-FW-NUKIZ6OKUXPJNT4C" in (denied.rule or ""), denied.deciding


def test_partial_dump_is_called_partial():
    """As published (KUBE-* chains only), the service rules never run; natsim must say the dump looks partial."""
    a = explain(KUBE, "host", "172.30.0.41:80/tcp")
    text = a.everything().lower()
    assert "kube-services" in text and ("partial" in text or "not reached" in text or "never" in text)


@pytest.mark.kernel
def test_kernel_agrees_on_the_draw_and_the_reject(kube):
    """The same node in namespaces: pods pod1..pod5 behind cni0 serving 80/tcp, the rules with kube-proxy's jumps."""
    from caseskit import kernel_probes
    from tests.lab import Bridge, Container, Host, Listen

    rules, _ = kube
    spec = Host(rules_v4=rules.read_text(), bridges=(Bridge("cni0", "10.180.0.254/24"),),
                containers=tuple(Container(f"pod{i}", "cni0", f"10.180.0.{i}", listen=(Listen("tcp", 80),))
                                 for i in range(1, 6)),
                userland_proxy=False, br_netfilter=False, uplink_v6=(), outside_v6=None)
    reqs = [{"frm": "host", "dst": "172.30.0.44", "port": 80, "timeout": 0.3, "sport": 41000 + n} for n in range(12)]
    reqs.append({"frm": "host", "dst": "172.30.0.46", "port": 80, "timeout": 0.3})
    # a node has a default route (the service address is routed there before nat OUTPUT rewrites it)
    *draws, reject = kernel_probes(spec, reqs, host_setup=(("ip", "route", "add", "default", "via", "198.18.0.2"),))
    assert {p.outcome for p in draws} == {"connected"}
    assert {p.by for p in draws} <= {"pod4", "pod5"}  # 12 draws: both are all but certain to appear, not asserted
    assert {p.seen for p in draws} == {"10.180.0.254"}  # MASQUERADE, as natsim says
    assert reject.outcome == "refused"  # `-j REJECT` (icmp-port-unreachable) for the service without endpoints
