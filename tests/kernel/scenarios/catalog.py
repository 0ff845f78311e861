"""The ground-truth scenario catalog: Docker hosts as data, and the flows that matter on each.

Every scenario is a :class:`tests.lab.Host` (topology + a real Docker ruleset from the
corpus, changed only as its ``changes`` says) and a list of flows. ``record.py`` builds each
scenario on both iptables backends, probes every flow through the kernel and writes
``expected.json``; ``test_scenarios.py`` re-measures it so the record cannot rot. The engine
compares natsim's verdict and seen address with that record; ``tests/lab/topology.py``
turns a scenario's host into natsim's topology TOML, so one description drives both.

Standard layout (the moby iptablesdoc one): docker0 172.17.0.1/16 with d1 172.17.0.2;
bridge1 192.0.2.1/24 with c1 192.0.2.2 (``-p 8080:80``) and c2 192.0.2.3; a
``--net=container:c1`` sidecar listening on 81; a ``--net=host`` process on 9000; uplink
eth0 198.18.0.1/24 and 198.18.0.3/24; outside client 198.18.0.2 (runs a server on 80).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from tests.lab import Bridge, Container, Host, Listen, Publish
from tests.lab.rulesets import corpus, iptablesdoc, with_rules

H1, H2, OUT = "198.18.0.1", "198.18.0.3", "198.18.0.2"
GW0, GW1, C1, C2, D1 = "172.17.0.1", "192.0.2.1", "192.0.2.2", "192.0.2.3", "172.17.0.2"


@dataclass(frozen=True)
class Flow:
    """One connection attempt: from a namespace (outside, host, a container) to dst:port."""

    frm: str
    dst: str
    port: int | None
    proto: str = "tcp"
    why: str = ""

    @property
    def id(self) -> str:
        dst = f"[{self.dst}]" if ":" in self.dst else self.dst
        return f"{self.frm}->{dst}" + (f":{self.port}" if self.port is not None else "") + f"/{self.proto}"


@dataclass(frozen=True)
class Scenario:
    name: str
    layout: str  # "docker<=27", "docker-28.0.0", "docker-28.x", "docker-29"
    description: str
    sources: tuple[str, ...]  # corpus files the rules come from
    changes: str  # what was changed relative to those files ("" = loaded verbatim)
    spec: Host
    flows: tuple[Flow, ...]

    def host(self, backend: str) -> Host:
        return replace(self.spec, backend=backend)


def standard_host(rules: str, *, proxy: bool, br_netfilter: bool, hairpin: bool = False,
                  route_localnet: tuple[str, ...] = (), ipsets: str = "") -> Host:
    return Host(
        rules_v4=rules,
        ipsets=ipsets,
        bridges=(Bridge("docker0", f"{GW0}/16", hairpin=hairpin), Bridge("bridge1", f"{GW1}/24", hairpin=hairpin)),
        containers=(
            Container("c1", "bridge1", C1, listen=(Listen("tcp", 80),)),
            Container("c2", "bridge1", C2, listen=(Listen("tcp", 80),)),
            Container("d1", "docker0", D1, listen=(Listen("tcp", 80),)),
            Container("sidecar", net_container="c1", listen=(Listen("tcp", 81),)),
        ),
        publish=(Publish("c1", 80, 8080),),
        userland_proxy=proxy,
        br_netfilter=br_netfilter,
        route_localnet=route_localnet,
        uplink_v4=(f"{H1}/24", f"{H2}/24"),
        uplink_v6=(),
        outside_v6=None,
        host_listen=(Listen("tcp", 9000),),
        outside_listen=(Listen("tcp", 80),),
    )


STANDARD_FLOWS = (
    Flow("outside", H1, 8080, why="published port on the uplink's primary address"),
    Flow("outside", H2, 8080, why="published port on the uplink's second address"),
    Flow("outside", GW1, 8080, why="published port on the bridge1 gateway address (a host address too)"),
    Flow("outside", GW0, 8080, why="published port on the docker0 gateway address"),
    Flow("outside", H1, 9999, why="a port nobody publishes"),
    Flow("outside", C1, 80, why="the container's address directly (routed via the host)"),
    Flow("outside", C1, None, "icmp", why="ping the container's address directly"),
    Flow("outside", H1, 9000, why="--net=host process"),
    Flow("host", H1, 8080, why="host to its own address, published port"),
    Flow("host", "127.0.0.1", 8080, why="host to localhost, published port"),
    Flow("host", GW1, 8080, why="host to the bridge gateway address, published port"),
    Flow("host", C1, 80, why="host to the container directly"),
    Flow("c2", H1, 8080, why="container to a neighbour's published port via the host address"),
    Flow("c2", GW1, 8080, why="container to a neighbour's published port via its gateway"),
    Flow("c2", C1, 80, why="same bridge, directly"),
    Flow("c2", C1, 81, why="same bridge, the --net=container:c1 sidecar"),
    Flow("c1", H1, 8080, why="container to itself via its published port (hairpin)"),
    Flow("c1", H1, 9000, why="container to a --net=host process"),
    Flow("d1", H1, 8080, why="container on another bridge via the host's published port"),
    Flow("d1", C1, 80, why="container on another bridge, directly"),
    Flow("c1", OUT, 80, why="container to the outside (MASQUERADE)"),
    Flow("c1", OUT, None, "icmp", why="container pings the outside"),
    Flow("d1", OUT, 80, why="default-bridge container to the outside"),
)

V285 = "moby-iptablesdoc-v28.5.2-usernet-portmap.S.txt"
V285_NOPROXY = "moby-iptablesdoc-v28.5.2-usernet-portmap-noproxy.S.txt"
V285_NOICC = "moby-iptablesdoc-v28.5.2-usernet-portmap-noicc.S.txt"
V280 = "moby-iptablesdoc-v28.0.0-usernet-portmap.S.txt"
V29 = "moby-iptablesdoc-v29-usernet-portmap.S.txt"
V29_NOPROXY = "moby-iptablesdoc-v29-usernet-portmap-noproxy.S.txt"
V29_ROUTED = "moby-iptablesdoc-v29-usernet-portmap-routed.S.txt"
V29_NATUNPROT = "moby-iptablesdoc-v29-usernet-portmap-natunprot.S.txt"
FREE5GC = "free5gc-compose-docker-tailscale-sctp.rules"
NOPROXY_NOTE = "filter and raw from the usernet-portmap doc, nat from the -noproxy doc (which says filter is the same)"
EXT_BRIDGES = ("create docker-ext-bridges-v4 hash:net family inet\n"
               f"add docker-ext-bridges-v4 172.17.0.0/16\nadd docker-ext-bridges-v4 192.0.2.0/24\n")


def _standard(name: str, layout: str, description: str, sources: tuple[str, ...], changes: str, rules: str,
              **opts: object) -> Scenario:
    return Scenario(name, layout, description, sources, changes, standard_host(rules, **opts), STANDARD_FLOWS)


def _localhost_only(spec: Host, container: str) -> Host:
    """The container's servers bound to 127.0.0.1 (an app that listens on localhost only)."""
    return replace(spec, containers=tuple(
        replace(c, listen=tuple(replace(l, addr="127.0.0.1") for l in c.listen)) if c.name == container else c
        for c in spec.containers))


def free5gc() -> Scenario:
    """A real Docker <=27 host (free5gc-compose): FORWARD DROP, tailscale chains, UDP and SCTP ports."""
    h1, h2, out = "10.88.120.100", "10.88.120.99", "10.88.120.50"
    upf, web, amf = "10.100.200.7", "10.100.200.5", "10.100.200.10"
    spec = Host(
        rules_v4=corpus(FREE5GC),
        bridges=(Bridge("docker0", "172.17.0.1/16"), Bridge("br-free5gc", "10.100.200.1/24")),
        containers=(
            Container("webui", "br-free5gc", web, listen=(Listen("tcp", 5000),)),
            Container("upf", "br-free5gc", upf, listen=(Listen("udp", 8805), Listen("udp", 2152), Listen("tcp", 9082))),
            Container("amf", "br-free5gc", amf, listen=(Listen("tcp", 8000),)),
            Container("d1", "docker0", "172.17.0.2", listen=(Listen("tcp", 80),)),
        ),
        publish=(Publish("webui", 5000, 5000), Publish("upf", 8805, 8805, "udp"), Publish("upf", 9082, 9082),
                 Publish("amf", 8000, 8000)),
        userland_proxy=True,
        br_netfilter=True,
        uplink="eth1",
        uplink_v4=(f"{h1}/24", f"{h2}/24"),
        uplink_v6=(),
        outside_v4=out,
        outside_v6=None,
        outside_listen=(Listen("tcp", 80),),
    )
    flows = (
        Flow("outside", h1, 5000, why="published TCP port"),
        Flow("outside", h2, 8000, why="published TCP port on the second address"),
        Flow("outside", h1, 8805, "udp", why="published UDP port"),
        Flow("outside", h1, 2152, "udp", why="published UDP port served by DNAT only (no docker-proxy in this lab)"),
        Flow("outside", web, 5000, why="container address directly: FORWARD ACCEPT in DOCKER (no raw drop before 28)"),
        Flow("outside", web, 5001, why="container address, unpublished port: FORWARD policy DROP"),
        Flow("host", h1, 5000, why="host to its own address"),
        Flow("host", "127.0.0.1", 8000, why="host to localhost (docker-proxy)"),
        Flow("webui", h1, 8000, why="container to a neighbour's published port (docker-proxy)"),
        Flow("webui", amf, 8000, why="same bridge directly (-i br -o br ACCEPT)"),
        Flow("webui", h1, 8805, "udp", why="container to a published UDP port (docker-proxy)"),
        Flow("d1", h1, 5000, why="default bridge to a published port (docker-proxy)"),
        Flow("d1", web, 5000, why="default bridge to another bridge directly: DOCKER-ISOLATION"),
        Flow("webui", out, 80, why="container to the outside (MASQUERADE)"),
    )
    return Scenario("docker27-free5gc", "docker<=27",
                    "free5gc-compose host: Docker <=27 chains, FORWARD policy DROP, tailscale chains, published "
                    "TCP/UDP/SCTP ports, proxy on, br_netfilter on (containers' addresses from the dump)",
                    (FREE5GC,), "", spec, flows)


HOSTAUDIT = "hostaudit-ufw-docker28-libvirt-counters.v4.rules"


def ufw_libvirt() -> Scenario:
    """A real ufw + Docker 28 + libvirt host (INPUT/FORWARD DROP, DOCKER-USER REJECTs for a VM network).

    The "containers" vm0/vm1 are VMs on the libvirt bridges: for the kernel a VM is a namespace
    behind a bridge port like a container.
    """
    text = re.sub(r"^\[\d+:\d+\] ", "", corpus(HOSTAUDIT), flags=re.M)
    text = text.replace('-m comment "REDACTED_COMMENT" "deny agent VM to Docker"',
                        '-m comment --comment "deny agent VM to Docker"').replace("IP4_1/32", "255.255.255.255/32")
    vm0, vm1, d1 = "192.168.122.10", "192.168.231.10", "172.17.0.2"
    spec = Host(
        rules_v4=text,
        bridges=(Bridge("docker0", "172.17.0.1/16"), Bridge("virbr0", "192.168.122.1/24"),
                 Bridge("virbr1", "192.168.231.1/24")),
        containers=(
            Container("d1", "docker0", d1, listen=(Listen("tcp", 80),)),
            Container("vm0", "virbr0", vm0, listen=(Listen("tcp", 22),)),
            Container("vm1", "virbr1", vm1, listen=(Listen("tcp", 22),)),
        ),
        userland_proxy=True,
        br_netfilter=False,
        uplink_v4=(f"{H1}/24",), uplink_v6=(), outside_v6=None,
        host_listen=(Listen("tcp", 22), Listen("udp", 53)),
        outside_listen=(Listen("tcp", 80),),
    )
    flows = (
        Flow("outside", H1, 22, why="ufw has no allow rule for ssh: INPUT policy DROP"),
        Flow("outside", H1, None, "icmp", why="ufw-before-input accepts echo requests"),
        Flow("outside", vm0, 22, why="into the libvirt NAT network: LIBVIRT_FWI REJECT"),
        Flow("host", d1, 80, why="host to a container (OUTPUT only)"),
        Flow("vm1", d1, 80, why="the author's DOCKER-USER REJECT for virbr1 -> docker0"),
        Flow("vm0", d1, 80, why="other VM network to docker0: DOCKER drops ! -i docker0 -o docker0"),
        Flow("d1", vm0, 22, why="container to a VM: DOCKER-FORWARD -i docker0 ACCEPT before libvirt's REJECT"),
        Flow("vm0", vm1, 22, why="between libvirt networks: LIBVIRT_FWI REJECT"),
        Flow("vm0", OUT, 80, why="VM to the outside: LIBVIRT_FWO ACCEPT, MASQUERADE"),
        Flow("vm1", OUT, 80, why="agent VM to the outside"),
        Flow("d1", OUT, 80, why="container to the outside"),
        Flow("vm1", "192.168.231.1", 22, why="agent VM to the host's ssh: ufw-user-input -i virbr1 DROP"),
        Flow("vm1", "192.168.231.1", 53, "udp", why="agent VM to the host's DNS: LIBVIRT_INP ACCEPT"),
        Flow("d1", "172.17.0.1", 22, why="container to the host's ssh: ufw default deny"),
    )
    return Scenario("ufw-docker28-libvirt", "docker-28.x",
                    "host audit: ufw (INPUT/FORWARD policy DROP) + Docker 28 (no containers published) + libvirt "
                    "networks virbr0/virbr1, DOCKER-USER REJECTs virbr1 -> Docker; VMs emulated as namespaces",
                    (HOSTAUDIT,), "counters stripped; the author's malformed redacted comment rewritten as "
                    "--comment; the redacted address IP4_1 taken as 255.255.255.255 (libvirt's broadcast RETURN)",
                    spec, flows)


GOLDEN = "moby-iptabler-golden-{}.rules"
GOLDEN6 = "moby-iptabler-golden-{}.ip6.rules"
G4, G4_2, G6, G6_2, GW6 = "192.168.0.2", "192.168.0.3", "fd49:efd7:54aa::1", "fd49:efd7:54aa::2", "fd49:efd7:54aa::ffff"
HOST6, OUT6 = "2001:db8:ff::1", "2001:db8:ff::2"


def golden(name: str, layout_note: str, *, proxy: bool, br_netfilter: bool, hairpin: bool,
           route_localnet: tuple[str, ...] = ()) -> Scenario:
    """moby's TestIptabler goldens (real iptables-save + ip6tables-save of Docker 29 code): dual stack."""
    spec = Host(
        rules_v4=corpus(GOLDEN.format(name)),
        rules_v6=corpus(GOLDEN6.format(name)),
        bridges=(Bridge("br-dummy", "192.168.0.1/24", f"{GW6}/64", hairpin=hairpin),),
        containers=(
            Container("c1", "br-dummy", G4, G6, listen=(Listen("tcp", 80),)),
            Container("c2", "br-dummy", G4_2, G6_2, listen=(Listen("tcp", 80),)),
        ),
        publish=(Publish("c1", 80, 8080), Publish("c1", 80, 8080, host_ip="::")),
        userland_proxy=proxy,
        br_netfilter=br_netfilter,
        route_localnet=route_localnet,
        uplink_v4=(f"{H1}/24",),
        uplink_v6=(f"{HOST6}/64",),
        outside_listen=(Listen("tcp", 80),),
    )
    flows = (
        Flow("outside", HOST6, 8080, why="IPv6 published port on the uplink address"),
        Flow("outside", H1, 8080, why="IPv4 published port on the uplink address"),
        Flow("outside", G6, 80, why="the container's IPv6 address directly"),
        Flow("host", "::1", 8080, why="host to ::1, published port"),
        Flow("host", HOST6, 8080, why="host to its own IPv6 address, published port"),
        Flow("host", "127.0.0.1", 8080, why="host to 127.0.0.1, published port"),
        Flow("c2", HOST6, 8080, why="neighbour container via the host's IPv6 address"),
        Flow("c1", HOST6, 8080, why="container to itself via the host's IPv6 address"),
        Flow("c1", H1, 8080, why="container to itself via the host's IPv4 address"),
        Flow("c2", G6, 80, why="same bridge, IPv6, directly"),
        Flow("c1", OUT6, 80, why="container to the outside over IPv6 (MASQUERADE)"),
        Flow("c1", OUT6, None, "icmp", why="container pings the outside over IPv6"),
    )
    return Scenario(f"golden-{name}", "docker-29", f"moby TestIptabler golden {name}, dual stack; {layout_note}",
                    (GOLDEN.format(name), GOLDEN6.format(name)),
                    "bridge gateways 192.168.0.1 and fd49:efd7:54aa::ffff chosen by the lab (the unit test sets none)",
                    spec, flows)


def catalog() -> tuple[Scenario, ...]:
    noproxy285 = iptablesdoc(V285, V285_NOPROXY)
    noproxy29 = iptablesdoc(V29, V29_NOPROXY)
    docker_user = with_rules(iptablesdoc(V285), "filter", f"-I DOCKER-USER -i eth0 ! -s 203.0.113.0/24 -j DROP")
    return (
        _standard("v28.5-proxy", "docker-28.x", "default daemon (userland proxy on), br_netfilter off",
                  (V285,), "", iptablesdoc(V285), proxy=True, br_netfilter=False),
        Scenario("v28.5-proxy-app-on-localhost", "docker-28.x",
                 "the classic: c1's server listens on 127.0.0.1 inside the container (proxy on, br_netfilter off)",
                 (V285,), "", _localhost_only(standard_host(iptablesdoc(V285), proxy=True, br_netfilter=False), "c1"),
                 STANDARD_FLOWS),
        _standard("v28.5-proxy-brnf", "docker-28.x", "default daemon, br_netfilter loaded (bridge-nf-call-iptables=1)",
                  (V285,), "", iptablesdoc(V285), proxy=True, br_netfilter=True),
        _standard("v28.5-noproxy", "docker-28.x",
                  "userland-proxy=false as Docker sets it up: br_netfilter on, hairpin on, route_localnet=1 on bridges",
                  (V285, V285_NOPROXY), NOPROXY_NOTE, noproxy285, proxy=False, br_netfilter=True, hairpin=True,
                  route_localnet=("docker0", "bridge1")),
        _standard("v28.5-noproxy-no-route-localnet", "docker-28.x",
                  "userland-proxy=false, br_netfilter and hairpin on, but route_localnet=0 (reset by another tool)",
                  (V285, V285_NOPROXY), NOPROXY_NOTE, noproxy285, proxy=False, br_netfilter=True, hairpin=True),
        _standard("v28.5-noproxy-nobrnf", "docker-28.x", "userland-proxy=false but br_netfilter off (module missing)",
                  (V285, V285_NOPROXY), NOPROXY_NOTE, noproxy285, proxy=False, br_netfilter=False, hairpin=True,
                  route_localnet=("docker0", "bridge1")),
        _standard("v28.5-noproxy-nohairpin", "docker-28.x", "userland-proxy=false, br_netfilter on, hairpin off",
                  (V285, V285_NOPROXY), NOPROXY_NOTE, noproxy285, proxy=False, br_netfilter=True, hairpin=False,
                  route_localnet=("docker0", "bridge1")),
        _standard("v28.5-noicc", "docker-28.x", "bridge1 with enable_icc=false (Docker turns br_netfilter on)",
                  (V285_NOICC, V285), "filter and nat from the noicc doc; raw from usernet-portmap (the noicc doc "
                  "omits raw; Docker 28.5 adds the direct-access DROP for every nat-mode endpoint)",
                  iptablesdoc(V285, V285_NOICC), proxy=True, br_netfilter=True),
        _standard("v28.5-noicc-nobrnf", "docker-28.x",
                  "enable_icc=false but br_netfilter off: the icc DROP never sees same-bridge traffic",
                  (V285_NOICC, V285), "as v28.5-noicc", iptablesdoc(V285, V285_NOICC), proxy=True, br_netfilter=False),
        _standard("v28.5-docker-user", "docker-28.x",
                  "a DOCKER-USER restriction: only 203.0.113.0/24 may reach containers from eth0; br_netfilter on",
                  (V285,), "added `-I DOCKER-USER -i eth0 ! -s 203.0.113.0/24 -j DROP`", docker_user,
                  proxy=True, br_netfilter=True),
        _standard("v28.5-forward-drop", "docker-28.x", "FORWARD policy DROP (Docker sets it when it enables forwarding)",
                  (V285,), "FORWARD policy ACCEPT -> DROP", iptablesdoc(V285).replace(":FORWARD ACCEPT", ":FORWARD DROP"),
                  proxy=True, br_netfilter=False),
        _standard("v28.0.0-ipset", "docker-28.0.0",
                  "Docker 28.0.0: rules directly in FORWARD with -m set docker-ext-bridges-v4 (set holds both subnets)",
                  (V280,), "ipset docker-ext-bridges-v4 created with 172.17.0.0/16 and 192.0.2.0/24 (not in the dump)",
                  iptablesdoc(V280), proxy=True, br_netfilter=False, ipsets=EXT_BRIDGES),
        _standard("v28.0.0-ipset-empty", "docker-28.0.0",
                  "Docker 28.0.0 whose docker-ext-bridges-v4 set is empty (not restored after a reboot), FORWARD DROP",
                  (V280,), "ipset docker-ext-bridges-v4 created empty; FORWARD policy ACCEPT -> DROP (28.0.0's default "
                  "when it enables forwarding)", iptablesdoc(V280).replace(":FORWARD ACCEPT", ":FORWARD DROP"),
                  proxy=True, br_netfilter=False, ipsets=EXT_BRIDGES.split("\n")[0] + "\n"),
        _standard("v29-proxy", "docker-29", "Docker 29 default daemon, br_netfilter off",
                  (V29,), "", iptablesdoc(V29), proxy=True, br_netfilter=False),
        _standard("v29-noproxy", "docker-29", "Docker 29, userland-proxy=false as Docker sets it up",
                  (V29, V29_NOPROXY), NOPROXY_NOTE, noproxy29, proxy=False, br_netfilter=True, hairpin=True,
                  route_localnet=("docker0", "bridge1")),
        _standard("v29-routed", "docker-29", "bridge1 with gateway_mode_ipv4=routed (no NAT, no proxy for its ports)",
                  (V29_ROUTED,), "", iptablesdoc(V29_ROUTED), proxy=False, br_netfilter=False),
        _standard("v29-nat-unprotected", "docker-29", "bridge1 with gateway_mode_ipv4=nat-unprotected",
                  (V29_NATUNPROT, V29), "filter from the natunprot doc, nat from usernet-portmap (the doc says "
                  "nat is identical); no raw table (moby filterDirectAccess skips nat-unprotected)",
                  iptablesdoc(V29, V29_NATUNPROT, tables=("filter", "nat")), proxy=True, br_netfilter=False),
        free5gc(),
        ufw_libvirt(),
        golden("default-proxy-icc-masq-nat", "userland proxy on, br_netfilter off",
               proxy=True, br_netfilter=False, hairpin=False),
        golden("noproxy-hairpin-icc-masq-nat", "userland-proxy=false: br_netfilter on, hairpin on, route_localnet=1",
               proxy=False, br_netfilter=True, hairpin=True, route_localnet=("br-dummy",)),
    )


def by_name(name: str) -> Scenario:
    for s in catalog():
        if s.name == name:
            return s
    raise KeyError(name)
