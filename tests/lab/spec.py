"""A Docker-like host described as data, which :func:`tests.lab.build` turns into namespaces.

The shape follows what Docker creates: an uplink to the outside world, Linux bridges with a
gateway address, containers with one veth into a bridge, published ports (served by an
emulated docker-proxy when the userland proxy is on), ``--net=host`` and
``--net=container:X`` processes. Everything the kernel's answer depends on that
``iptables-save`` cannot show (sysctls, hairpin flags, ipset contents) is an explicit field.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

Backend = Literal["legacy", "nft"]
Proto = Literal["tcp", "udp"]


@dataclass(frozen=True)
class Listen:
    """A server process: answers every client with the peer address it saw."""

    proto: Proto
    port: int
    addr: str | None = None  # None: the wildcard of every family the namespace has


@dataclass(frozen=True)
class Bridge:
    name: str
    v4: str | None = "172.17.0.1/16"  # gateway address / prefix length
    v6: str | None = None
    hairpin: bool = False  # hairpin mode on every port (Docker sets it with userland-proxy=false)

    @property
    def gateway4(self) -> str | None:
        return self.v4.split("/")[0] if self.v4 else None

    @property
    def gateway6(self) -> str | None:
        return self.v6.split("/")[0] if self.v6 else None


@dataclass(frozen=True)
class Container:
    name: str
    bridge: str | None = None  # None with net_container
    v4: str | None = None  # address only; the prefix length is the bridge's
    v6: str | None = None
    listen: tuple[Listen, ...] = ()
    hairpin: bool | None = None  # overrides the bridge's default for this port
    net_container: str | None = None  # --net=container:X: a second process in X's namespace


@dataclass(frozen=True)
class Publish:
    """``-p [host_ip:]host_port:container_port[/proto]``."""

    container: str
    container_port: int
    host_port: int
    proto: Proto = "tcp"
    host_ip: str = "0.0.0.0"  # where docker-proxy listens ("::" for the IPv6 proxy)


@dataclass(frozen=True)
class Host:
    """The whole lab: one host namespace, one outside client, bridges and containers."""

    backend: Backend = "nft"
    rules_v4: str = ""  # iptables-save / iptables-restore text for the host
    rules_v6: str = ""
    ipsets: str = ""  # `ipset save` text, restored before the rules
    bridges: tuple[Bridge, ...] = (Bridge("docker0"),)
    containers: tuple[Container, ...] = ()
    publish: tuple[Publish, ...] = ()
    userland_proxy: bool = True  # run an emulated docker-proxy per published port
    br_netfilter: bool = True  # net.bridge.bridge-nf-call-iptables/ip6tables in the host namespace
    ip_forward: bool = True  # net.ipv4.ip_forward and net.ipv6.conf.all.forwarding
    route_localnet: tuple[str, ...] = ()  # interfaces with route_localnet=1 ("all" allowed)
    rp_filter: int = 0  # net.ipv4.conf.{all,default,<each>}.rp_filter
    icmp_ratelimit: int = 0  # ms between ICMP errors to one destination, every namespace (kernel default 1000)
    uplink: str = "eth0"
    uplink_v4: tuple[str, ...] = ("198.18.0.1/24",)  # the host's addresses on its uplink; first is primary
    uplink_v6: tuple[str, ...] = ("2001:db8:ff::1/64",)
    outside_v4: str = "198.18.0.2"  # the client on the uplink network (default route via the host)
    outside_v6: str | None = "2001:db8:ff::2"
    host_listen: tuple[Listen, ...] = ()  # --net=host processes
    outside_listen: tuple[Listen, ...] = ()  # servers out there, for container → outside flows

    def bridge(self, name: str) -> Bridge:
        for b in self.bridges:
            if b.name == name:
                return b
        raise KeyError(f"no bridge {name!r}")

    def container(self, name: str) -> Container:
        for c in self.containers:
            if c.name == name:
                return c
        raise KeyError(f"no container {name!r}")

    def netns_owner(self, name: str) -> Container:
        """The container whose namespace ``name`` runs in (itself unless --net=container:X)."""
        c = self.container(name)
        while c.net_container:
            c = self.container(c.net_container)
        return c

    def validate(self) -> None:
        names = [c.name for c in self.containers]
        if len(set(names)) != len(names):
            raise ValueError("container names must be unique")
        for c in self.containers:
            if c.net_container is None:
                if c.bridge is None:
                    raise ValueError(f"container {c.name} needs a bridge or net_container")
                b = self.bridge(c.bridge)
                for addr, net in ((c.v4, b.v4), (c.v6, b.v6)):
                    if addr and (not net or ipaddress.ip_address(addr) not in ipaddress.ip_interface(net).network):
                        raise ValueError(f"container {c.name}: {addr} is not in bridge {b.name}'s {net}")
            else:
                self.container(c.net_container)
        for p in self.publish:
            self.container(p.container)


def prefix_len(cidr: str) -> int:
    return ipaddress.ip_interface(cidr).network.prefixlen


__all__ = ["Backend", "Bridge", "Container", "Host", "Listen", "Publish", "prefix_len"]
