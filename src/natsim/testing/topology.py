"""Topologies and flows for a :class:`~natsim.testing.docker.DockerHost`, and strategies for them.

:func:`topology_of` turns the small host description into natsim's full
:class:`~natsim.topology.model.Topology` (namespaces, links, routes, sysctls, listeners and
Docker's view), exactly as the kernel lab builds it: an ``outside`` client on the host's
uplink, one veth per container into its bridge, a server in every container on each of
:data:`SERVER_PORTS`, an emulated docker-proxy per published port when the userland proxy is on.

A :class:`FlowSpec` names a connection by roles (``c1 -> host:8080/tcp``), which both the
simulator (:func:`flow_of`) and the lab resolve to addresses the same way.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from hypothesis import strategies as st

from natsim.engine.flow import Flow
from natsim.testing.docker import DockerHost, docker_hosts
from natsim.topology.model import (
    HOST,
    OUTSIDE,
    TABLE_LOCAL,
    TABLE_MAIN,
    Container,
    DaemonOptions,
    DockerNetwork,
    Endpoint,
    Link,
    LinkAddress,
    Listener,
    Namespace,
    Provenance,
    PublishedPort,
    Route,
    Sysctl,
    Topology,
    container_namespace_name,
)

__all__ = [
    "OUTSIDE_SERVER_PORTS", "SERVER_PORTS", "FlowSpec", "destination_of", "flow_of", "flows", "port_name",
    "scenarios", "topologies", "topology_of",
]

#: Ports a server listens on (TCP and UDP) in every container.
SERVER_PORTS: tuple[int, ...] = (80, 443, 3306, 5000)
#: Ports the outside client serves, for container -> outside flows.
OUTSIDE_SERVER_PORTS: tuple[int, ...] = (80,)

_PROV = Provenance("natsim.testing", "read", None, "generated scenario")
_LOOPBACK = ipaddress.IPv4Interface("127.0.0.1/8")


def _addr(iface: ipaddress.IPv4Interface) -> LinkAddress:
    return LinkAddress(iface.ip, iface.network.prefixlen, "host" if iface.ip.is_loopback else "global", _PROV)


def _link(name: str, kind: str, addrs: tuple[ipaddress.IPv4Interface, ...] = (), **kw: object) -> Link:
    return Link(name, kind, tuple(_addr(a) for a in addrs), True, provenance=_PROV, **kw)  # type: ignore[arg-type]


def _routes(addrs: tuple[tuple[str, ipaddress.IPv4Interface], ...], gateway: ipaddress.IPv4Address | None,
            gw_dev: str | None) -> tuple[Route, ...]:
    """The routes the kernel creates for these addresses (main and local tables), plus a default route."""
    out: list[Route] = [Route(ipaddress.IPv4Network("127.0.0.0/8"), "local", "lo", None, ipaddress.IPv4Address("127.0.0.1"),
                              TABLE_LOCAL, scope="host", provenance=_PROV)]
    for dev, a in addrs:
        out.append(Route(ipaddress.IPv4Network(f"{a.ip}/32"), "local", dev, None, a.ip, TABLE_LOCAL, scope="host",
                         provenance=_PROV))
        out.append(Route(a.network, "unicast", dev, None, a.ip, TABLE_MAIN, scope="link", provenance=_PROV))
    if gateway is not None:
        out.append(Route(ipaddress.IPv4Network("0.0.0.0/0"), "unicast", gw_dev, gateway, None, TABLE_MAIN,
                         provenance=_PROV))
    return tuple(out)


def _servers(proto_ports: tuple[int, ...], process: str) -> tuple[Listener, ...]:
    any4 = ipaddress.IPv4Address("0.0.0.0")
    return tuple(Listener(proto, any4, p, process, provenance=_PROV) for p in proto_ports for proto in ("tcp", "udp"))


def port_name(host: DockerHost, container: str) -> str:
    """The host-side veth of a container's bridge port (``veth0``, ``veth1``... in container order)."""
    return f"veth{[c.name for c in host.containers].index(container)}"


def topology_of(host: DockerHost) -> Topology:
    """natsim's topology for ``host``: every fact read (nothing assumed), as the lab builds it."""
    uplink = host.host_address
    host_links = [
        _link("lo", "loopback", (_LOOPBACK,)),
        _link(host.uplink, "veth", (uplink,), peer="eth0", peer_namespace=OUTSIDE),  # the lab's veth to outside
    ]
    host_addrs: list[tuple[str, ipaddress.IPv4Interface]] = [(host.uplink, uplink)]
    for b in host.bridges:
        gw = ipaddress.IPv4Interface(f"{b.gateway}/{b.subnet.prefixlen}")
        host_links.append(_link(b.name, "bridge", (gw,), bridge_nf_call_iptables=False))  # ip link default
        host_addrs.append((b.name, gw))
    for c in host.containers:
        host_links.append(_link(port_name(host, c.name), "veth", (), master=c.bridge, hairpin=c.hairpin,
                                port_state="forwarding", peer="eth0", peer_namespace=container_namespace_name(c.name)))
    ifaces = ["all", "default", "lo", host.uplink] + [b.name for b in host.bridges]
    ifaces += [port_name(host, c.name) for c in host.containers]
    sysctls = [Sysctl("net.ipv4.ip_forward", "1", _PROV)]
    sysctls += [Sysctl(f"net.ipv4.conf.{i}.rp_filter", "0", _PROV) for i in ifaces]
    localnet = {b.name for b in host.bridges} if not host.userland_proxy else set()
    sysctls += [Sysctl(f"net.ipv4.conf.{i}.route_localnet", "1" if i in localnet else "0", _PROV) for i in ifaces]
    sysctls.append(Sysctl("net.bridge.bridge-nf-call-iptables", "1" if host.br_netfilter else "0", _PROV))
    listeners: list[Listener] = list(_servers(host.host_services, "hostnet"))
    if host.userland_proxy:
        for _, p in host.published():
            addr = ipaddress.IPv4Address(p.host_ip or "0.0.0.0")
            listeners.append(Listener(p.proto, addr, p.host_port, "docker-proxy", provenance=_PROV))
    namespaces = [
        Namespace(HOST, "host", tuple(host_links), _routes(tuple(host_addrs), None, None), None, tuple(sysctls),
                  False, tuple(listeners), provenance=_PROV),
        _peer_namespace(OUTSIDE, "outside", ipaddress.IPv4Interface(f"{host.outside_address}/{uplink.network.prefixlen}"),
                        uplink.ip, _servers(OUTSIDE_SERVER_PORTS, "server"), host.uplink),
    ]
    for c in host.containers:
        b = host.bridge(c.bridge)
        iface = ipaddress.IPv4Interface(f"{c.address}/{b.subnet.prefixlen}")
        namespaces.append(_peer_namespace(container_namespace_name(c.name), "container", iface, b.gateway,
                                          _servers(SERVER_PORTS, c.name), port_name(host, c.name)))
    networks = tuple(
        DockerNetwork(b.name if b.name != "docker0" else "bridge", driver="bridge", bridge=b.name,
                      subnets=(b.subnet,), gateways=(b.gateway,), icc=b.icc, internal=False, masquerade=True,
                      gateway_mode_v4="nat", enable_ipv6=False, provenance=_PROV)
        for b in host.bridges
    )
    containers = tuple(
        Container(c.name, network_mode="bridge" if c.bridge == "docker0" else c.bridge,
                  endpoints=(Endpoint("bridge" if c.bridge == "docker0" else c.bridge, c.address,
                                      host.bridge(c.bridge).subnet.prefixlen, gateway=host.bridge(c.bridge).gateway,
                                      provenance=_PROV),),
                  ports=tuple(PublishedPort(p.container_port, p.proto, p.host_port,
                                            ipaddress.IPv4Address(p.host_ip) if p.host_ip else None, _PROV)
                              for p in c.ports),
                  running=True, provenance=_PROV)
        for c in host.containers
    )
    if host.host_services:
        containers += (Container("hostnet", network_mode="host", endpoints=(), ports=(), running=True,
                                 provenance=_PROV),)
    daemon = DaemonOptions(userland_proxy=host.userland_proxy, iptables=True, ip6tables=False, ip_forward=True,
                           firewall_backend="iptables", era=host.era, provenance=_PROV)
    return Topology(tuple(namespaces), networks, containers, daemon)


def _peer_namespace(name: str, role: str, iface: ipaddress.IPv4Interface, gateway: ipaddress.IPv4Address,
                    listeners: tuple[Listener, ...], peer: str | None) -> Namespace:
    links = (_link("lo", "loopback", (_LOOPBACK,)), _link("eth0", "veth", (iface,), peer=peer,
                                                          peer_namespace=HOST if peer else None))
    sysctls = (Sysctl("net.ipv4.ip_forward", "0", _PROV),
               Sysctl("net.ipv4.conf.all.rp_filter", "0", _PROV), Sysctl("net.ipv4.conf.eth0.rp_filter", "0", _PROV))
    return Namespace(name, role, links, _routes((("eth0", iface),), gateway, "eth0"), None,  # type: ignore[arg-type]
                     sysctls, False, listeners, provenance=_PROV)


# --------------------------------------------------------------------------------------------
# Flows

@dataclass(frozen=True)
class FlowSpec:
    """A connection named by roles: ``source`` is ``outside``, ``host`` or a container name;
    ``target`` is ``host`` (the uplink address), ``loopback`` (127.0.0.1), ``outside``, a bridge
    name (its gateway address) or a container name (its own address)."""

    source: str
    target: str
    port: int | None  # None for ICMP echo
    proto: str = "tcp"

    def __str__(self) -> str:
        if self.port is None:
            return f"{self.source} -> {self.target}/{self.proto}"
        return f"{self.source} -> {self.target}:{self.port}/{self.proto}"


def destination_of(host: DockerHost, spec: FlowSpec) -> ipaddress.IPv4Address:
    if spec.target == "host":
        return host.host_address.ip
    if spec.target == "loopback":
        return ipaddress.IPv4Address("127.0.0.1")
    if spec.target == "outside":
        return host.outside_address
    if any(b.name == spec.target for b in host.bridges):
        return host.bridge(spec.target).gateway
    return host.container(spec.target).address


def flow_of(host: DockerHost, spec: FlowSpec) -> Flow:
    """The engine's :class:`~natsim.engine.flow.Flow` for ``spec`` on ``host``."""
    source = spec.source if spec.source in (HOST, OUTSIDE) else container_namespace_name(spec.source)
    return Flow(source, destination_of(host, spec), spec.proto, spec.port)


@st.composite
def flows(draw: st.DrawFn, host: DockerHost) -> FlowSpec:
    """A flow that matters on ``host``: to a published port (by host address, loopback, or from a
    container to itself), container to container, container to outside, outside to a container."""
    published = host.published()
    names = [c.name for c in host.containers]
    kinds = ["c2c", "c2out", "out2c"] + (["published"] * 3 if published else [])
    kinds += ["hostnet"] * 2 if host.host_services else []
    kind = draw(st.sampled_from(sorted(kinds, key=lambda k: k != "published")))
    if kind == "published":
        c, p = draw(st.sampled_from(published))
        source = draw(st.sampled_from(["outside", "host", c.name] + [n for n in names if n != c.name]))
        targets = ["host"]
        if source == "host":
            targets += ["loopback", *(b.name for b in host.bridges)]
        elif source != "outside":
            targets.append(host.container(source).bridge)  # the container's gateway address
        return FlowSpec(source, draw(st.sampled_from(targets)), p.host_port, p.proto)
    if kind == "hostnet":  # a --net=host container's port, by host address, gateway or loopback
        source = draw(st.sampled_from(["outside", "host", *names]))
        targets = ["host"] + (["loopback"] if source == "host" else [])
        if source in names:
            targets.append(host.container(source).bridge)
        return FlowSpec(source, draw(st.sampled_from(targets)), draw(st.sampled_from(host.host_services)),
                        draw(st.sampled_from(("tcp", "udp"))))
    proto = draw(st.sampled_from(("tcp", "udp", "icmp")))
    if proto == "icmp":
        src = draw(st.sampled_from(["outside", "host", *names]))
        dst = draw(st.sampled_from([n for n in ["outside", "host", *names] if n != src]))
        return FlowSpec(src, dst, None, "icmp")
    if kind == "c2c":
        src = draw(st.sampled_from([*names, "host"]))
        dst = draw(st.sampled_from([n for n in names if n != src] or names))
        return FlowSpec(src, dst, draw(st.sampled_from(SERVER_PORTS)), proto)
    if kind == "c2out":
        return FlowSpec(draw(st.sampled_from(names)), "outside", OUTSIDE_SERVER_PORTS[0], proto)
    return FlowSpec("outside", draw(st.sampled_from(names)), draw(st.sampled_from(SERVER_PORTS)), proto)


def topologies(**host_options: object) -> st.SearchStrategy[Topology]:
    """natsim topologies of generated Docker hosts (``host_options`` go to :func:`docker_hosts`)."""
    return docker_hosts(**host_options).map(topology_of)  # type: ignore[arg-type]


@st.composite
def scenarios(draw: st.DrawFn, max_flows: int = 4, **host_options: object) -> tuple[DockerHost, tuple[FlowSpec, ...]]:
    """A Docker host and a few flows on it (``host_options`` go to :func:`docker_hosts`)."""
    host = draw(docker_hosts(**host_options))  # type: ignore[arg-type]
    specs = draw(st.lists(flows(host), min_size=1, max_size=max_flows, unique=True))
    return host, tuple(specs)
