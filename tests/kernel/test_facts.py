"""Kernel facts natsim relies on, measured in the lab with Docker's own rulesets.

Each test is the evidence of a decision record in docs/decisions/ (0001-0019); the record
names the test. Rulesets: moby's iptablesdoc for Docker 28.5 (v28.0.1-28.x layout):
docker0 172.17.0.0/16 (container d1 172.17.0.2), bridge1 192.0.2.0/24 (c1 192.0.2.2 with
``-p 8080:80``, c2 192.0.2.3). The host's uplink is 198.18.0.1, the outside client 198.18.0.2.
Expected drops use a 0.2 s timeout: on veths an answer takes well under a millisecond.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.lab import Bridge, Container, Host, Listen, Publish, build
from tests.lab.rulesets import iptablesdoc, with_rules, without

pytestmark = pytest.mark.kernel

PROXY = "moby-iptablesdoc-v28.5.2-usernet-portmap.S.txt"
NOPROXY = "moby-iptablesdoc-v28.5.2-usernet-portmap-noproxy.S.txt"
HOST_IP, OUTSIDE_IP, GW1, C1, C2 = "198.18.0.1", "198.18.0.2", "192.0.2.1", "192.0.2.2", "192.0.2.3"
DROP = 0.2  # probe timeout where the kernel is expected to drop
HAIRPIN_MASQ = f"-s {C1}/32 -d {C1}/32"


def docker_host(rules: str, backend: str = "nft", hairpin: bool = False, **kw: object) -> Host:
    return Host(
        backend=backend,
        rules_v4=rules,
        bridges=(Bridge("docker0", "172.17.0.1/16", hairpin=hairpin), Bridge("bridge1", f"{GW1}/24", hairpin=hairpin)),
        containers=(
            Container("c1", "bridge1", C1, listen=(Listen("tcp", 80),)),
            Container("c2", "bridge1", C2, listen=(Listen("tcp", 80),)),
            Container("d1", "docker0", "172.17.0.2", listen=(Listen("tcp", 80),)),
        ),
        publish=(Publish("c1", 80, 8080),),
        outside_listen=(Listen("tcp", 80),),
        **kw,
    )


CONFIRM = 3.0  # a timeout where an answer is expected is probed once more with this (a busy machine, not a drop)


def outcome(h, frm: str, dst: str, port: int, timeout: float = 1.0) -> tuple[str, str | None, str | None]:
    r = h.probe(frm, dst, port, timeout=timeout, confirm=None if timeout <= DROP else CONFIRM)
    return r.outcome, r.by, r.seen


BACKENDS = pytest.mark.parametrize("backend", ["nft", "legacy"])


# 0001 ------------------------------------------------------------------------------------------
@BACKENDS
def test_proxy_mode_rules_never_dnat_from_containers_or_to_loopback(backend):
    """With the docker-proxy rules but no proxy running, only the DNAT paths answer."""
    with build(docker_host(iptablesdoc(PROXY), backend, userland_proxy=False), prefix="kfact") as h:
        assert outcome(h, "outside", HOST_IP, 8080) == ("connected", "c1", OUTSIDE_IP)
        assert outcome(h, "host", HOST_IP, 8080) == ("connected", "c1", HOST_IP)  # OUTPUT DNAT, no SNAT
        # `OUTPUT ! -d 127.0.0.0/8` and `DOCKER -i bridge1 -j RETURN`: the host's INPUT answers (nobody listens)
        assert outcome(h, "host", "127.0.0.1", 8080)[0] == "refused"
        assert outcome(h, "c2", HOST_IP, 8080)[0] == "refused"
        assert outcome(h, "c1", HOST_IP, 8080)[0] == "refused"
        assert outcome(h, "d1", HOST_IP, 8080)[0] == "refused"


# 0002 / 0008 -----------------------------------------------------------------------------------
@BACKENDS
def test_docker_proxy_serves_loopback_and_containers_from_the_gateway_address(backend):
    with build(docker_host(iptablesdoc(PROXY), backend, userland_proxy=True), prefix="kfact") as h:
        assert outcome(h, "outside", HOST_IP, 8080) == ("connected", "c1", OUTSIDE_IP)  # DNAT wins
        assert outcome(h, "host", "127.0.0.1", 8080) == ("connected", "c1", GW1)
        assert outcome(h, "c2", HOST_IP, 8080) == ("connected", "c1", GW1)
        assert outcome(h, "c1", HOST_IP, 8080) == ("connected", "c1", GW1)
        # a container on another bridge too: the proxy's connection starts on the host
        assert outcome(h, "d1", HOST_IP, 8080) == ("connected", "c1", GW1)


def test_outside_client_address_is_lost_when_the_proxy_serves_it():
    rules = without(iptablesdoc(PROXY), "-j DNAT")
    with build(docker_host(rules, userland_proxy=True), prefix="kfact") as h:
        assert outcome(h, "outside", HOST_IP, 8080) == ("connected", "c1", GW1)


def test_proxy_backend_failure_accepts_then_closes_or_hangs():
    spec = docker_host(without(iptablesdoc(PROXY), "-j DNAT"), userland_proxy=True)
    with build(spec, prefix="kfact") as h:
        h.iptables("-I", "OUTPUT", "-o", "bridge1", "-p", "tcp", "-j", "REJECT", "--reject-with", "tcp-reset")
        assert h.probe("outside", HOST_IP, 8080, confirm=CONFIRM).outcome == "closed"  # backend refused: proxy closes at once
        h.iptables("-R", "OUTPUT", "1", "-o", "bridge1", "-j", "DROP")
        assert h.probe("outside", HOST_IP, 8080, timeout=DROP).outcome == "timeout"  # accepted, then silence


# 0003 ------------------------------------------------------------------------------------------
@BACKENDS
def test_no_proxy_dnats_on_every_interface_and_masquerades_local_sources(backend):
    spec = docker_host(iptablesdoc(PROXY, NOPROXY), backend, hairpin=True, userland_proxy=False, br_netfilter=True)
    with build(spec, prefix="kfact") as h:
        assert outcome(h, "outside", HOST_IP, 8080) == ("connected", "c1", OUTSIDE_IP)
        # `-o bridge1 -m addrtype --src-type LOCAL -j MASQUERADE`
        assert outcome(h, "host", HOST_IP, 8080) == ("connected", "c1", GW1)
        # DNAT also for traffic from the container's own bridge: the server sees the real client
        assert outcome(h, "c2", HOST_IP, 8080) == ("connected", "c1", C2)
        # 127.0.0.1 is DNATed too, but without route_localnet the re-route drops it
        assert outcome(h, "host", "127.0.0.1", 8080, DROP)[0] == "timeout"
        # another bridge: DNAT happens, then DOCKER-ISOLATION drops bridge → bridge forwarding
        assert outcome(h, "d1", HOST_IP, 8080, DROP)[0] == "timeout"


def test_no_proxy_loopback_needs_route_localnet_on_the_bridge():
    spec = docker_host(iptablesdoc(PROXY, NOPROXY), hairpin=True, userland_proxy=False, route_localnet=("bridge1",))
    with build(spec, prefix="kfact") as h:
        assert outcome(h, "host", "127.0.0.1", 8080) == ("connected", "c1", GW1)


# 0004 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("br_netfilter,hairpin,masq,expected", [
    (True, True, True, ("connected", "c1", GW1)),
    (True, False, True, ("timeout", None, None)),  # bridge won't send the DNATed frame back out its port
    (False, False, True, ("connected", "c1", GW1)),  # routed via the bridge device: hairpin flag irrelevant
    (False, False, False, ("timeout", None, None)),  # martian: the container gets its own address as source
    (True, True, False, ("timeout", None, None)),
])
def test_container_to_itself_through_its_published_port(br_netfilter, hairpin, masq, expected):
    rules = iptablesdoc(PROXY, NOPROXY)
    if not masq:
        rules = without(rules, HAIRPIN_MASQ)
    spec = docker_host(rules, hairpin=hairpin, userland_proxy=False, br_netfilter=br_netfilter)
    with build(spec, prefix="kfact") as h:
        assert outcome(h, "c1", HOST_IP, 8080, DROP) == expected


def martian_sources(h, where: str) -> int:
    """in_martian_src summed over CPUs (/proc/net/stat/rt_cache of that namespace)."""
    rows = h.run(["cat", "/proc/net/stat/rt_cache"], where=where)["out"].split("\n")
    col = rows[0].split().index("in_martian_src")
    return sum(int(r.split()[col], 16) for r in rows[1:] if r.strip())


def test_without_the_hairpin_masquerade_the_container_drops_a_martian_source():
    spec = docker_host(without(iptablesdoc(PROXY, NOPROXY), HAIRPIN_MASQ), userland_proxy=False, br_netfilter=False)
    with build(spec, prefix="kfact") as h:
        before = martian_sources(h, "c1")
        assert outcome(h, "c1", HOST_IP, 8080, DROP)[0] == "timeout"
        assert martian_sources(h, "c1") > before


# 0005 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("br_netfilter,expected", [(True, ("connected", "c1", C2)), (False, ("timeout", None, None))])
def test_container_to_container_via_host_address_needs_br_netfilter(br_netfilter, expected):
    spec = docker_host(iptablesdoc(PROXY, NOPROXY), hairpin=True, userland_proxy=False, br_netfilter=br_netfilter)
    with build(spec, prefix="kfact") as h:
        assert outcome(h, "c2", HOST_IP, 8080, DROP) == expected
        # the direct path is bridged and fine either way
        assert outcome(h, "c2", C1, 80) == ("connected", "c1", C2)


# 0006 ------------------------------------------------------------------------------------------
@BACKENDS
def test_host_originated_traffic_never_traverses_forward(backend):
    spec = docker_host("*filter\n:FORWARD DROP [0:0]\nCOMMIT\n", backend, userland_proxy=False, br_netfilter=False)
    with build(spec, prefix="kfact") as h:
        assert outcome(h, "host", C1, 80) == ("connected", "c1", GW1)
        assert outcome(h, "outside", C1, 80, DROP)[0] == "timeout"
        assert outcome(h, "c1", OUTSIDE_IP, 80, DROP)[0] == "timeout"
        # and neither does traffic to the host itself (INPUT), nor bridged traffic without br_netfilter
        assert outcome(h, "c1", GW1, 9)[0] == "refused"
        assert outcome(h, "c2", C1, 80) == ("connected", "c1", C2)


# 0007 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("br_netfilter,expected", [(True, "timeout"), (False, "connected")])
def test_docker_user_sees_bridged_traffic_only_with_br_netfilter(br_netfilter, expected):
    rules = with_rules(iptablesdoc(PROXY), "filter", "-I DOCKER-USER -i bridge1 -o bridge1 -j DROP")
    with build(docker_host(rules, br_netfilter=br_netfilter), prefix="kfact") as h:
        assert outcome(h, "c2", C1, 80, DROP)[0] == expected


# 0009 ------------------------------------------------------------------------------------------
def test_bridge_nf_call_iptables_is_per_namespace():
    root = Path("/proc/sys/net/bridge/bridge-nf-call-iptables").read_text().strip()
    want = root != "1"
    with build(docker_host("", br_netfilter=want), prefix="kfact") as h:
        assert h.sysctl("net.bridge.bridge-nf-call-iptables") == str(int(want))
        assert Path("/proc/sys/net/bridge/bridge-nf-call-iptables").read_text().strip() == root


# 0010 ------------------------------------------------------------------------------------------
def test_input_policy_drop_breaks_proxied_paths_only():
    rules = with_rules(iptablesdoc(PROXY), "filter", "-A INPUT -i lo -j ACCEPT",
                       "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    rules = rules.replace(":INPUT ACCEPT", ":INPUT DROP", 1)  # the filter table comes first
    with build(docker_host(rules, userland_proxy=True), prefix="kfact") as h:
        assert outcome(h, "outside", HOST_IP, 8080) == ("connected", "c1", OUTSIDE_IP)  # DNAT + FORWARD
        assert outcome(h, "c2", HOST_IP, 8080, DROP)[0] == "timeout"  # to docker-proxy through INPUT
        assert outcome(h, "host", "127.0.0.1", 8080) == ("connected", "c1", GW1)  # lo accepted
        h.iptables("-I", "INPUT", "1", "-i", "bridge1", "-j", "ACCEPT")  # the moby#27817 workaround
        assert outcome(h, "c2", HOST_IP, 8080) == ("connected", "c1", GW1)


# 0011 ------------------------------------------------------------------------------------------
def test_raw_prerouting_drops_direct_access_to_a_container_address():
    rules = iptablesdoc(PROXY)
    with build(docker_host(rules), prefix="kfact") as h:
        assert outcome(h, "outside", C1, 80, DROP)[0] == "timeout"
        h.iptables("-t", "raw", "-F", "PREROUTING")
        # now the per-port ACCEPT in DOCKER lets it through (the port is published)
        assert outcome(h, "outside", C1, 80) == ("connected", "c1", OUTSIDE_IP)
        assert outcome(h, "outside", C2, 80, DROP)[0] == "timeout"  # unpublished: DROP in DOCKER


# 0014 ------------------------------------------------------------------------------------------
def test_a_packet_from_outside_with_a_host_address_as_source_is_a_martian():
    with build(docker_host(iptablesdoc(PROXY)), prefix="kfact") as h:
        assert outcome(h, "outside", HOST_IP, 9000 - 1)[0] == "refused"  # the path itself works
        before = martian_sources(h, "host")
        r = h.probe("outside", HOST_IP, 8999, src=GW1, timeout=DROP)  # spoofs the host's bridge address
        assert r.outcome == "timeout"
        assert martian_sources(h, "host") > before


# 0015 ------------------------------------------------------------------------------------------
@BACKENDS
def test_rules_also_hit_replies_and_the_kernels_own_errors(backend):
    """A DROP/REJECT that only the reply (or the RST) meets leaves the client waiting: timeout, not refused."""
    base = iptablesdoc(PROXY)
    cases = [
        # the host's RST for a closed port leaves through OUTPUT
        ("-I OUTPUT -d 198.18.0.2/32 -j DROP", "outside", HOST_IP, 9999, "tcp", "timeout"),
        # c1's SYN-ACK is forwarded out eth0 and rejected there; the ICMP error goes to c1, not to the client
        ("-I FORWARD -o eth0 -j REJECT", "outside", HOST_IP, 8080, "tcp", "timeout"),
        # docker-proxy's SYN-ACK to c2 leaves through OUTPUT -o bridge1
        ("-I OUTPUT -o bridge1 -j REJECT", "c2", HOST_IP, 8080, "tcp", "timeout"),
        # docker-proxy accepted on lo, then its own connect to c1 is rejected: it closes the client
        ("-I OUTPUT -o bridge1 -j REJECT", "host", "127.0.0.1", 8080, "tcp", "closed"),
        # a rejected echo request comes back as ICMP port unreachable from the gateway
        ("-I FORWARD -o eth0 -j REJECT", "c1", OUTSIDE_IP, None, "icmp", "unreachable"),
        # and the plain case for contrast: REJECT met by the request is a refusal
        ("-I INPUT -p tcp -m tcp --dport 9000 -j REJECT --reject-with tcp-reset", "outside", HOST_IP, 9000, "tcp",
         "refused"),
    ]
    with build(docker_host(base, backend, userland_proxy=True, host_listen=(Listen("tcp", 9000),)),
               prefix="kfact") as h:
        for rule, frm, dst, port, proto, want in cases:
            h.load_rules(with_rules(base, "filter", rule))
            got = h.probe(frm, dst, port, proto=proto, timeout=DROP if want == "timeout" else 1.5,
                          confirm=None if want == "timeout" else CONFIRM).outcome
            assert got == want, f"{rule}: {frm}->{dst}:{port}/{proto} gave {got}"


# 0016 ------------------------------------------------------------------------------------------
def test_docker_proxy_swallows_udp_errors_from_the_container():
    spec = replace(docker_host(iptablesdoc(PROXY), userland_proxy=True), publish=(Publish("c1", 53, 5353, "udp"),))
    with build(spec, prefix="kfact") as h:
        # nothing listens on c1:53/udp: the proxy's datagram draws ICMP port unreachable, which it ignores
        assert h.probe("c2", HOST_IP, 5353, proto="udp", timeout=DROP).outcome == "timeout"
        h.listen("c1", "udp", 53, by="c1")
        r = h.probe("c2", HOST_IP, 5353, proto="udp", confirm=CONFIRM)
        assert (r.outcome, r.by, r.seen, r.server_local) == ("connected", "c1", GW1, C1)
        # without the proxy in between, the same closed port is a refusal
        assert h.probe("c2", C1, 54, proto="udp", confirm=CONFIRM).outcome == "refused"
