"""Docker-host topologies for engine tests, built directly as natsim.topology values.

The shapes follow the moby fixtures' stated setups (SOURCES.md): a host with an uplink
(eth0 192.0.2.10/24), bridges with a gateway address, containers with one veth into a
bridge, published ports, and the sysctls that decide bridge netfilter and forwarding.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from natsim.engine import Flow, Network, simulate
from natsim.parse import parse_file
from natsim.topology.model import (
    Container,
    DaemonOptions,
    DockerNetwork,
    Endpoint,
    Link,
    LinkAddress,
    Namespace,
    PublishedPort,
    Sysctl,
    Topology,
    read_from,
)

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fixtures" / "corpus"
SRC = read_from("engine-test")


def corpus(name: str) -> Path:
    p = CORPUS / name
    return p if p.exists() else Path("/work/shared/corpus") / name


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def _addr(text: str) -> LinkAddress:
    a, plen = text.split("/")
    return LinkAddress(ipaddress.ip_address(a), int(plen), "global", SRC)


@dataclass
class C:
    name: str
    bridge: str
    v4: str
    v6: str | None = None
    ports: tuple[tuple[int, int, str, str | None], ...] = ()  # (host_port, container_port, proto, host_ip)
    hairpin: bool | None = False
    mode: str | None = None  # network_mode override (host, container:X)
    listeners: tuple | None = None  # None: not known (natsim assumes the port is served)


@dataclass
class B:
    name: str
    v4: str  # gateway/prefix
    v6: str | None = None
    network: str | None = None
    icc: bool = True
    gateway_mode: str = "nat"


@dataclass
class Host:
    bridges: list[B]
    containers: list[C]
    uplink: tuple[str, ...] = ("192.0.2.10/24",)
    brnf: bool | None = True
    userland_proxy: bool | None = True
    ip_forward: bool = True
    route_localnet: dict[str, int] = field(default_factory=dict)
    extra_sysctls: tuple[tuple[str, str], ...] = ()
    listeners_known: bool = False

    def topology(self) -> Topology:
        host_links = [
            Link("lo", "loopback", (LinkAddress(ip("127.0.0.1"), 8, "host", SRC), LinkAddress(ip("::1"), 128, "host", SRC)),
                 True, provenance=SRC),
            Link("eth0", "physical", tuple(_addr(a) for a in self.uplink), True, provenance=SRC),
        ]
        networks = []
        containers = []
        namespaces = []
        for b in self.bridges:
            addrs = [_addr(b.v4)] + ([_addr(b.v6)] if b.v6 else [])
            host_links.append(Link(b.name, "bridge", tuple(addrs), True, bridge_nf_call_iptables=False,
                                   bridge_nf_call_ip6tables=False, provenance=SRC))
            subnets = tuple(ipaddress.ip_interface(a).network for a in [b.v4] + ([b.v6] if b.v6 else []))
            gws = tuple(ipaddress.ip_interface(a).ip for a in [b.v4] + ([b.v6] if b.v6 else []))
            networks.append(DockerNetwork(b.network or b.name, driver="bridge", bridge=b.name, subnets=subnets,
                                          gateways=gws, icc=b.icc, internal=False, gateway_mode_v4=b.gateway_mode,
                                          provenance=SRC))
        for i, c in enumerate(self.containers):
            br = next(b for b in self.bridges if b.name == c.bridge)
            plen4 = ipaddress.ip_interface(br.v4).network.prefixlen
            ports = tuple(PublishedPort(cp, proto, hp, ip(hip) if hip else None, SRC) for hp, cp, proto, hip in c.ports)
            ep = Endpoint(br.network or br.name, ip(c.v4), plen4, ip(c.v6.split("/")[0]) if c.v6 else None,
                          int(c.v6.split("/")[1]) if c.v6 else None, f"02:42:ac:11:00:{i + 2:02x}",
                          ipaddress.ip_interface(br.v4).ip, ipaddress.ip_interface(br.v6).ip if br.v6 else None, SRC)
            containers.append(Container(c.name, f"{i:012x}" * 2, c.mode or (br.network or br.name),
                                        (ep,) if c.mode is None else (), ports, True, SRC))
            if c.mode is not None:
                continue
            veth = f"veth{c.name}"
            host_links.append(Link(veth, "veth", (), True, master=br.name, hairpin=c.hairpin, peer="eth0",
                                   peer_namespace=f"container:{c.name}", provenance=SRC))
            caddrs = [LinkAddress(ip(c.v4), plen4, "global", SRC)]
            if c.v6:
                caddrs.append(_addr(c.v6))
            namespaces.append(Namespace(
                f"container:{c.name}", "container",
                (Link("lo", "loopback", (LinkAddress(ip("127.0.0.1"), 8, "host", SRC),), True, provenance=SRC),
                 Link("eth0", "veth", tuple(caddrs), True, mac=ep.mac, peer=veth, peer_namespace="host",
                      provenance=SRC)),
                None, None, (), True, c.listeners, provenance=SRC))
        sysctls = [Sysctl("net.ipv4.ip_forward", "1" if self.ip_forward else "0", SRC),
                   Sysctl("net.ipv6.conf.all.forwarding", "1" if self.ip_forward else "0", SRC),
                   Sysctl("net.ipv4.conf.all.route_localnet", "0", SRC),
                   Sysctl("net.ipv4.conf.all.accept_local", "0", SRC)]
        for iface in ["eth0", "lo"] + [b.name for b in self.bridges]:
            sysctls.append(Sysctl(f"net.ipv4.conf.{iface}.route_localnet", str(self.route_localnet.get(iface, 0)), SRC))
            sysctls.append(Sysctl(f"net.ipv4.conf.{iface}.accept_local", "0", SRC))
        if self.brnf is not None:
            sysctls.append(Sysctl("net.bridge.bridge-nf-call-iptables", "1" if self.brnf else "0", SRC))
            sysctls.append(Sysctl("net.bridge.bridge-nf-call-ip6tables", "1" if self.brnf else "0", SRC))
        sysctls += [Sysctl(k, v, SRC) for k, v in self.extra_sysctls]
        host = Namespace("host", "host", tuple(host_links), None, None, tuple(sysctls), False,
                         () if self.listeners_known else None, provenance=SRC)
        return Topology((host, *namespaces), tuple(networks), tuple(containers),
                        DaemonOptions(userland_proxy=self.userland_proxy, provenance=SRC))


def rules(name: str):
    return parse_file(str(corpus(name))).ruleset


def network(rules_file: str, host: Host, ip6_file: str | None = None, ipsets=None) -> Network:
    rs = {4: rules(rules_file)}
    if ip6_file is not None:
        rs[6] = rules(ip6_file)
    return Network(rulesets=rs, ipsets=ipsets, topology=host.topology())


def run(net: Network, source: str, dst: str, port: int | None = None, proto: str = "tcp", **kw):
    return simulate(net, Flow(source, ip(dst), proto, port, **kw))


#: The moby iptabler goldens' setup: br-dummy 192.168.0.0/24, endpoint .2, -p 8080:80/tcp.
def golden_host(**kw) -> Host:
    bridges = [B("br-dummy", "192.168.0.1/24", "fd49:efd7:54aa::ffff/64" if kw.pop("v6", False) else None)]
    c6 = "fd49:efd7:54aa::1/64" if bridges[0].v6 else None
    hairpin = kw.pop("hairpin", False)
    extra = kw.pop("containers", [])
    return Host(bridges, [C("c1", "br-dummy", "192.168.0.2", c6, ((8080, 80, "tcp", None),), hairpin),
                          C("c2", "br-dummy", "192.168.0.3", None, (), hairpin), *extra], **kw)
