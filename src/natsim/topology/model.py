"""The topology model: the host, its namespaces, bridges, routes, sysctls and Docker's view of them.

A verdict depends on more than rules, so the engine asks this model which addresses are
local, where routes point, whether a bridge port has hairpin on, and which container sits
where.  Every value is immutable.  Every fact may be unknown (``None``; for collections,
``None`` means "not known", ``()`` means "known to be empty"), and every fact carries its
:class:`Provenance`, so an answer can list the assumptions it rests on.

Adapters (snapshot files, ``docker inspect``, the live kernel, TOML, inference from rules)
all produce this model; :mod:`natsim.topology.merge` combines them.  Provenance is
excluded from equality, so the same host read through ``ip -j`` files and through
pyroute2 gives equal models.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Literal, TypeVar, Union

from natsim.engine.tri import Tri, Unknown
from natsim.model.location import Location
from natsim.model.values import IPAddress, IPNetwork

IPInterface = Union[ipaddress.IPv4Interface, ipaddress.IPv6Interface]

LinkKind = Literal["physical", "veth", "bridge", "loopback", "other"]
RouteType = Literal[
    "unicast", "local", "broadcast", "blackhole", "unreachable", "prohibit", "multicast", "anycast", "throw", "nat"
]
#: Every route type, as iproute2 names them (include/uapi/linux/rtnetlink.h RTN_*).
ROUTE_TYPES: tuple[str, ...] = ("unicast", "local", "broadcast", "blackhole", "unreachable", "prohibit", "multicast",
                                "anycast", "throw", "nat")
NamespaceRole = Literal["host", "container", "outside", "other"]
How = Literal["read", "inferred", "assumed"]

#: Kernel routing table ids (include/uapi/linux/rtnetlink.h: RT_TABLE_DEFAULT/MAIN/LOCAL).
TABLE_DEFAULT, TABLE_MAIN, TABLE_LOCAL = 253, 254, 255
TABLE_NAMES: dict[str, int] = {"default": TABLE_DEFAULT, "main": TABLE_MAIN, "local": TABLE_LOCAL}

#: The namespace of the Docker host itself.
HOST = "host"
#: An "outside" peer: a client somewhere beyond the host's physical interface.
OUTSIDE = "outside"


def container_namespace_name(container: str) -> str:
    """The namespace name used for a container's own network namespace."""
    return f"container:{container}"


# --------------------------------------------------------------------------- provenance


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where a fact came from, so an answer can cite it or list it as an assumption.

    ``how`` is ``read`` for facts read from a file or the kernel, ``inferred`` for facts
    deduced from rules (``location`` then names the rule), ``assumed`` for defaults.
    """

    source: str  # "ip-addr.json", "live:netns foo", "docker-inspect.json", "topology.toml", "iptables.rules"
    how: How = "read"
    location: Location | None = None
    detail: str = ""  # e.g. the rule text an inference came from, or why a default was assumed

    @property
    def is_assumption(self) -> bool:
        return self.how != "read"

    def __str__(self) -> str:
        where = str(self.location) if self.location is not None else self.source
        if self.how == "inferred":
            return f"inferred from {self.detail or 'the rules'} at {where}"
        if self.how == "assumed":
            return f"assumed default ({self.detail})" if self.detail else "assumed default"
        return f"{where}: {self.detail}" if self.detail else where


def read_from(source: str, line: int | None = None, detail: str = "") -> Provenance:
    """A fact read from ``source`` (a file name or ``live:...``), optionally at a line."""
    return Provenance(source, "read", Location(source, line) if line else None, detail)


def inferred(location: Location, rule_text: str = "") -> Provenance:
    """A fact deduced from the rule at ``location`` (``rule_text`` as written)."""
    return Provenance(location.file, "inferred", location, f"rule `{rule_text}`" if rule_text else "")


def derived(source: str, why: str) -> Provenance:
    """A fact that follows from other facts by known kernel or Docker behaviour (``why`` says which)."""
    return Provenance(source, "inferred", None, why)


def assumed(why: str) -> Provenance:
    """A default nobody told us; ``why`` says which default and why it is plausible."""
    return Provenance("default", "assumed", None, why)


UNKNOWN_SOURCE = Provenance("<unknown>", "assumed", None, "no source")


def _fieldsrc_lookup(pairs: tuple[tuple[str, Provenance], ...], name: str) -> Provenance | None:
    for key, prov in pairs:
        if key == name:
            return prov
    return None


def source_of(fact: object, name: str | None = None) -> Provenance:
    """The provenance of a whole fact, or of one of its fields when a merge set it from elsewhere.

    Each fact has ``provenance`` (where the object came from) and ``field_sources``
    (fields that another source supplied or overrode).
    """
    if name is not None:
        got = _fieldsrc_lookup(getattr(fact, "field_sources", ()), name)
        if got is not None:
            return got
    prov = getattr(fact, "provenance", None)
    return prov if isinstance(prov, Provenance) else UNKNOWN_SOURCE


# --------------------------------------------------------------------------- interfaces, routes


@dataclass(frozen=True, slots=True)
class LinkAddress:
    """An address configured on an interface, with its prefix (``ip addr`` ``inet``/``inet6``)."""

    address: IPAddress
    prefixlen: int
    scope: str | None = None  # "global", "link", "host"
    provenance: Provenance = field(default=UNKNOWN_SOURCE, compare=False)

    @property
    def interface(self) -> IPInterface:
        return ipaddress.ip_interface(f"{self.address}/{self.prefixlen}")

    @property
    def network(self) -> IPNetwork:
        return self.interface.network

    @property
    def family(self) -> int:
        return self.address.version

    def __str__(self) -> str:
        return f"{self.address}/{self.prefixlen}"


@dataclass(frozen=True, slots=True)
class Link:
    """A network interface in one namespace.

    Bridge-port facts (``master``, ``hairpin``, ``port_state``, ``isolated``) describe the
    port this interface is on its bridge; they are None when it is no bridge port or unknown.
    ``peer``/``peer_namespace`` name the other end of a veth when known.
    """

    name: str
    kind: LinkKind | None = None
    addresses: tuple[LinkAddress, ...] | None = None  # None: not known; (): known to have none
    up: bool | None = None
    mac: str | None = None  # lower-case "aa:bb:cc:dd:ee:ff"
    index: int | None = None
    master: str | None = None  # the bridge this interface is a port of
    hairpin: bool | None = None  # hairpin mode of this bridge port
    port_state: str | None = None  # "forwarding", "disabled", "blocking", ...
    isolated: bool | None = None  # bridge port isolation
    peer: str | None = None  # veth peer's name
    peer_namespace: str | None = None  # veth peer's namespace name
    link_index: int | None = None  # raw peer ifindex (``link_index`` of ip -j), when the name is unknown
    mtu: int | None = None
    bridge_nf_call_iptables: bool | None = None  # per-bridge option nf_call_iptables (bridges only)
    bridge_nf_call_ip6tables: bool | None = None
    provenance: Provenance = field(default=UNKNOWN_SOURCE, compare=False)
    field_sources: tuple[tuple[str, Provenance], ...] = field(default=(), compare=False)

    def addresses_of(self, family: int) -> tuple[LinkAddress, ...] | None:
        if self.addresses is None:
            return None
        return tuple(a for a in self.addresses if a.family == family)

    def primary_address(self, family: int = 4) -> LinkAddress | None:
        """The first address of the family, which MASQUERADE picks (for a matching scope)."""
        addrs = self.addresses_of(family)
        if not addrs:
            return None
        for a in addrs:
            if a.scope in (None, "global"):
                return a
        return addrs[0]

    @property
    def is_bridge_port(self) -> bool:
        return self.master is not None


@dataclass(frozen=True, slots=True)
class Route:
    """One route of one table (``ip route show table all``)."""

    dst: IPNetwork  # 0.0.0.0/0 for "default"
    type: RouteType = "unicast"
    dev: str | None = None
    gateway: IPAddress | None = None
    prefsrc: IPAddress | None = None
    table: int = TABLE_MAIN
    metric: int | None = None
    scope: str | None = None
    protocol: str | None = None
    provenance: Provenance = field(default=UNKNOWN_SOURCE, compare=False)

    @property
    def family(self) -> int:
        return self.dst.version


@dataclass(frozen=True, slots=True)
class PolicyRule:
    """One routing policy rule (``ip rule``): which table a lookup consults, in priority order."""

    priority: int
    family: int = 4
    table: int | None = TABLE_MAIN  # None when action is not "lookup"
    action: str = "lookup"  # lookup, goto, nop, blackhole, unreachable, prohibit
    src: IPNetwork | None = None
    dst: IPNetwork | None = None
    iif: str | None = None
    oif: str | None = None
    fwmark: int | None = None
    fwmask: int | None = None
    invert: bool = False  # "not"
    suppress_prefixlength: int | None = None
    provenance: Provenance = field(default=UNKNOWN_SOURCE, compare=False)


def default_policy_rules(family: int) -> tuple[PolicyRule, ...]:
    """What every namespace starts with: local, main, default (net/ipv4/fib_rules.c fib_default_rules_init).

    IPv6 has no ``default`` table rule (net/ipv6/fib6_rules.c).
    """
    prov = assumed("no ip rule listing; the kernel's default policy rules")
    rules = [PolicyRule(0, family, TABLE_LOCAL, provenance=prov), PolicyRule(32766, family, TABLE_MAIN, provenance=prov)]
    if family == 4:
        rules.append(PolicyRule(32767, family, TABLE_DEFAULT, provenance=prov))
    return tuple(rules)


@dataclass(frozen=True, slots=True)
class Sysctl:
    """One ``key = value`` line of ``sysctl -a`` (key with dots, as sysctl prints it)."""

    key: str  # "net.ipv4.ip_forward", "net.ipv4.conf.docker0.route_localnet"
    value: str
    provenance: Provenance = field(default=UNKNOWN_SOURCE, compare=False)

    def as_int(self) -> int | None:
        try:
            return int(self.value.split()[0])
        except (ValueError, IndexError):
            return None


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening socket (``ss -Hltnup``): what answers a connection that reaches INPUT.

    ``address`` is the bound address (``0.0.0.0``/``::`` for wildcards); ``v6only`` is None
    when unknown (a ``[::]`` socket without it also accepts IPv4 when v6only=0).
    """

    proto: str  # tcp, udp, sctp
    address: IPAddress
    port: int
    process: str | None = None  # "docker-proxy", "mysqld"
    pid: int | None = None
    device: str | None = None  # bound to a device ("%eth0")
    v6only: bool | None = None
    provenance: Provenance = field(default=UNKNOWN_SOURCE, compare=False)

    @property
    def is_wildcard(self) -> bool:
        return self.address.is_unspecified

    def accepts(self, proto: str, address: IPAddress, port: int) -> bool:
        """Whether this socket would accept a connection to ``address:port`` (ignoring v6only unknowns)."""
        if proto != self.proto or port != self.port:
            return False
        if self.is_wildcard:
            if self.address.version == address.version:
                return True
            return self.address.version == 6 and self.v6only is False
        if address.version == 4 and self.address.version == 6:
            mapped = getattr(self.address, "ipv4_mapped", None)
            return mapped == address
        return self.address == address


@dataclass(frozen=True, slots=True)
class Neighbour:
    """An ARP/NDP entry (``ip neigh``): which MAC holds an address on a link."""

    address: IPAddress
    dev: str
    mac: str | None = None
    state: str | None = None  # REACHABLE, STALE, PERMANENT, FAILED ...
    provenance: Provenance = field(default=UNKNOWN_SOURCE, compare=False)


@dataclass(frozen=True, slots=True)
class FdbEntry:
    """A bridge forwarding-database entry (``bridge fdb``): which port a MAC sits behind."""

    mac: str
    dev: str  # the port (or the bridge itself for its own address)
    master: str | None = None  # the bridge
    vlan: int | None = None
    flags: tuple[str, ...] = ()  # "self", "master", "permanent", "static", ...
    state: str | None = None
    provenance: Provenance = field(default=UNKNOWN_SOURCE, compare=False)

    @property
    def is_local(self) -> bool:
        """The bridge's or port's own address (``permanent``), not a learned peer."""
        return self.state == "permanent" or "permanent" in self.flags


@dataclass(frozen=True)
class Namespace:
    """One network namespace: the Docker host, a container's netns, or an outside peer."""

    name: str
    role: NamespaceRole = "other"
    links: tuple[Link, ...] | None = None
    routes: tuple[Route, ...] | None = None
    policy_rules: tuple[PolicyRule, ...] | None = None
    sysctls: tuple[Sysctl, ...] | None = None
    sysctls_complete: bool = False  # a full ``sysctl -a``: an absent key does not exist in this kernel
    listeners: tuple[Listener, ...] | None = None
    neighbours: tuple[Neighbour, ...] | None = None
    fdb: tuple[FdbEntry, ...] | None = None
    provenance: Provenance = field(default=UNKNOWN_SOURCE, compare=False)
    field_sources: tuple[tuple[str, Provenance], ...] = field(default=(), compare=False)

    @cached_property
    def _links(self) -> dict[str, Link]:
        return {l.name: l for l in self.links or ()}

    @cached_property
    def _sysctls(self) -> dict[str, Sysctl]:
        return {s.key: s for s in self.sysctls or ()}

    def link(self, name: str) -> Link | None:
        return self._links.get(name)

    def bridges(self) -> tuple[Link, ...]:
        return tuple(l for l in self.links or () if l.kind == "bridge")

    def ports_of(self, bridge: str) -> tuple[Link, ...]:
        return tuple(l for l in self.links or () if l.master == bridge)

    def link_by_mac(self, mac: str) -> Link | None:
        mac = mac.lower()
        for l in self.links or ():
            if l.mac == mac:
                return l
        return None

    def sysctl(self, key: str) -> Sysctl | None:
        """A sysctl by key; ``/`` or ``.`` separators both work (``net/ipv4/ip_forward``)."""
        return self._sysctls.get(key.replace("/", "."))

    def sysctl_int(self, key: str) -> int | None:
        s = self.sysctl(key)
        return s.as_int() if s is not None else None

    def policy_rules_for(self, family: int) -> tuple[PolicyRule, ...]:
        """The policy rules of a family, or the kernel defaults (marked assumed) when unknown."""
        if self.policy_rules is None:
            return default_policy_rules(family)
        return tuple(sorted((r for r in self.policy_rules if r.family == family), key=lambda r: r.priority))

    def routes_in(self, table: int, family: int | None = None) -> tuple[Route, ...] | None:
        if self.routes is None:
            return None
        return tuple(r for r in self.routes if r.table == table and (family is None or r.family == family))

    def addresses(self, family: int | None = None) -> tuple[LinkAddress, ...] | None:
        """Every address configured on an interface here; None when any interface's addresses are unknown."""
        if self.links is None:
            return None
        out: list[LinkAddress] = []
        for l in self.links:
            if l.addresses is None:
                return None
            out.extend(a for a in l.addresses if family is None or a.family == family)
        return tuple(out)

    def local_addresses(self, family: int | None = None) -> frozenset[IPAddress] | None:
        """Addresses this namespace owns: on its interfaces, plus its ``local`` routes when known."""
        addrs = self.addresses(family)
        if addrs is None:
            return None
        out = {a.address for a in addrs}
        for r in self.routes or ():
            if r.type == "local" and (family is None or r.family == family) and r.dst.num_addresses == 1:
                out.add(r.dst.network_address)
        return frozenset(out)

    def is_local(self, address: IPAddress) -> Tri:
        """``addrtype --dst-type LOCAL``: the local table says ``local`` (all of 127/8 and ::1 included).

        Uses the ``local`` routing table when it is known (it is what the kernel consults,
        and it covers prefixes such as 127.0.0.0/8), else the interface addresses.
        """
        local = self.routes_in(TABLE_LOCAL, address.version) if self.routes is not None else None
        if local:
            best: Route | None = None
            for r in local:
                if address in r.dst and (best is None or r.dst.prefixlen > best.dst.prefixlen):
                    best = r
            return best is not None and best.type == "local"
        if address.is_loopback:
            return True
        if any(a.address == address for l in self.links or () for a in l.addresses or ()):
            return True
        owned = self.local_addresses(address.version)
        if owned is None:
            unknown = [l.name for l in self.links or () if l.addresses is None]
            what = f"of interface(s) {', '.join(unknown)}" if unknown else ""
            return Unknown(f"the addresses {what} of namespace {self.name} are not known".replace("  ", " "))
        return address in owned

    def ipv4_conf(self, iface: str, name: str) -> Tri:
        """A per-interface IPv4 setting as the kernel combines ``all`` and the interface's own value.

        include/linux/inetdevice.h: route_localnet, accept_local, log_martians, proxy_arp use
        IN_DEV_ORCONF (all OR dev); rp_filter, arp_ignore, arp_announce use IN_DEV_MAXCONF;
        forwarding and others are the device's own value.  Returns the effective int as True
        when non-zero for boolean settings, else the int via :meth:`ipv4_conf_value`.
        """
        value = self.ipv4_conf_value(iface, name)
        return value if isinstance(value, Unknown) else value != 0

    def ipv4_conf_value(self, iface: str, name: str) -> int | Unknown:
        dev = self.sysctl_int(f"net.ipv4.conf.{iface}.{name}")
        all_ = self.sysctl_int(f"net.ipv4.conf.all.{name}")
        combine = _IPV4_CONF_COMBINE.get(name, "dev")
        if combine == "dev":
            if dev is None:
                return Unknown(f"sysctl net.ipv4.conf.{iface}.{name} in namespace {self.name} is not known")
            return dev
        if dev is None and all_ is None:
            return Unknown(f"sysctls net.ipv4.conf.{{all,{iface}}}.{name} in namespace {self.name} are not known")
        if combine == "or":
            if dev == 0 and all_ is None or dev is None and all_ == 0:
                known = "all" if dev is None else iface
                missing = iface if dev is None else "all"
                return Unknown(
                    f"net.ipv4.conf.{known}.{name}=0 but net.ipv4.conf.{missing}.{name} in namespace {self.name}"
                    " is not known"
                )
            return int(bool(dev) or bool(all_))
        # max
        if dev is None or all_ is None:
            return Unknown(f"sysctls net.ipv4.conf.{{all,{iface}}}.{name} in namespace {self.name} are not both known")
        return max(dev, all_)

    def bridge_nf_call(self, family: int = 4, bridge: str | None = None) -> Tri:
        """Whether bridged frames traverse iptables (br_netfilter): the namespace sysctl OR the bridge option.

        net/bridge/br_netfilter_hooks.c: ``brnf_call_iptables || br_opt_get(br, BROPT_NF_CALL_IPTABLES)``.
        With a complete ``sysctl -a`` and no ``net.bridge`` keys, br_netfilter is not loaded: False.
        """
        key = "net.bridge.bridge-nf-call-iptables" if family == 4 else "net.bridge.bridge-nf-call-ip6tables"
        value = self.sysctl_int(key)
        per_bridge: bool | None = None
        if bridge is not None and (b := self.link(bridge)) is not None:
            per_bridge = b.bridge_nf_call_iptables if family == 4 else b.bridge_nf_call_ip6tables
        if value is None and self.sysctls_complete and self.sysctls is not None:
            if not any(s.key.startswith("net.bridge.") for s in self.sysctls):
                value = 0  # module not loaded: no bridge netfilter at all
        if value == 1 or per_bridge is True:
            return True
        if value == 0 and per_bridge is not None:
            return False
        if value == 0 and bridge is None:
            return False
        if value == 0:
            return Unknown(f"{key}=0 in namespace {self.name}, but bridge {bridge}'s own nf_call option is not known")
        return Unknown(f"sysctl {key} in namespace {self.name} is not known (is br_netfilter loaded?)")

    def listeners_on(self, proto: str, address: IPAddress, port: int) -> tuple[Listener, ...] | None:
        if self.listeners is None:
            return None
        return tuple(l for l in self.listeners if l.accepts(proto, address, port))


_IPV4_CONF_COMBINE: dict[str, str] = {
    "route_localnet": "or",
    "accept_local": "or",
    "log_martians": "or",
    "proxy_arp": "or",
    "src_valid_mark": "or",
    "shared_media": "or",
    "arp_filter": "or",
    "rp_filter": "max",
    "arp_ignore": "max",
    "arp_announce": "max",
}


# --------------------------------------------------------------------------- Docker facts


GatewayMode = Literal["nat", "nat-unprotected", "routed", "isolated"]


@dataclass(frozen=True, slots=True)
class DockerNetwork:
    """A Docker network (``docker network inspect``), with the options that change its rules."""

    name: str
    id: str | None = None
    driver: str | None = None  # "bridge", "host", "null", "overlay", "macvlan"
    bridge: str | None = None  # the Linux bridge: docker0, br-<id12>
    subnets: tuple[IPNetwork, ...] | None = None
    gateways: tuple[IPAddress, ...] | None = None
    icc: bool | None = None
    internal: bool | None = None
    masquerade: bool | None = None  # com.docker.network.bridge.enable_ip_masquerade
    gateway_mode_v4: GatewayMode | None = None
    gateway_mode_v6: GatewayMode | None = None
    enable_ipv6: bool | None = None
    host_binding_ipv4: IPAddress | None = None  # default host IP for -p without one
    provenance: Provenance = field(default=UNKNOWN_SOURCE, compare=False)
    field_sources: tuple[tuple[str, Provenance], ...] = field(default=(), compare=False)

    def subnet_for(self, address: IPAddress) -> IPNetwork | None:
        for s in self.subnets or ():
            if address in s:
                return s
        return None


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A container's attachment to one network: its address and MAC there."""

    network: str
    ipv4: IPAddress | None = None
    ipv4_prefixlen: int | None = None
    ipv6: IPAddress | None = None
    ipv6_prefixlen: int | None = None
    mac: str | None = None
    gateway: IPAddress | None = None
    gateway6: IPAddress | None = None
    provenance: Provenance = field(default=UNKNOWN_SOURCE, compare=False)
    field_sources: tuple[tuple[str, Provenance], ...] = field(default=(), compare=False)

    def addresses(self) -> tuple[IPAddress, ...]:
        return tuple(a for a in (self.ipv4, self.ipv6) if a is not None)


@dataclass(frozen=True, slots=True)
class PublishedPort:
    """``-p [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO]``.

    ``host_ip`` None means all addresses (0.0.0.0 and ::); ``host_port`` None means not known
    (e.g. inferred from a DOCKER ACCEPT that names only the container port).
    """

    container_port: int
    proto: str = "tcp"
    host_port: int | None = None
    host_ip: IPAddress | None = None
    provenance: Provenance = field(default=UNKNOWN_SOURCE, compare=False)

    def __str__(self) -> str:
        host = ""
        if self.host_ip is not None:
            host = f"[{self.host_ip}]:" if self.host_ip.version == 6 else f"{self.host_ip}:"
        hp = "?" if self.host_port is None else str(self.host_port)
        return f"{host}{hp}:{self.container_port}/{self.proto}"


@dataclass(frozen=True, slots=True)
class Container:
    """A container: its networks and published ports, and how it shares a namespace.

    ``network_mode`` is Docker's HostConfig.NetworkMode: ``bridge``, a network name,
    ``host``, ``none`` or ``container:<name-or-id>``.
    """

    name: str
    id: str | None = None
    network_mode: str | None = None
    endpoints: tuple[Endpoint, ...] | None = None
    ports: tuple[PublishedPort, ...] | None = None
    running: bool | None = None
    sandbox: str | None = None  # its network namespace's path (docker inspect SandboxKey), for reading it live
    provenance: Provenance = field(default=UNKNOWN_SOURCE, compare=False)
    field_sources: tuple[tuple[str, Provenance], ...] = field(default=(), compare=False)

    @property
    def mode(self) -> Literal["bridge", "host", "container", "none"] | None:
        """The kind of network mode (a user-defined network counts as ``bridge``-like)."""
        m = self.network_mode
        if m is None:
            return None
        if m == "host":
            return "host"
        if m == "none":
            return "none"
        if m.startswith("container:"):
            return "container"
        return "bridge"

    @property
    def shares_with(self) -> str | None:
        """For ``container:X``, X (a name or id)."""
        m = self.network_mode
        return m.split(":", 1)[1] if m is not None and m.startswith("container:") else None

    def endpoint(self, network: str | None = None) -> Endpoint | None:
        for e in self.endpoints or ():
            if network is None or e.network == network:
                return e
        return None

    def addresses(self) -> tuple[IPAddress, ...]:
        return tuple(a for e in self.endpoints or () for a in e.addresses())


@dataclass(frozen=True, slots=True)
class DaemonOptions:
    """dockerd's options that shape rules and reachability, and the Docker release era when known.

    ``era`` is a version constraint such as ``">=28.0.1,<29"`` inferred from the rule layout.
    """

    userland_proxy: bool | None = None
    iptables: bool | None = None
    ip6tables: bool | None = None
    ip_forward: bool | None = None
    firewall_backend: str | None = None  # "iptables" or "nftables"
    era: str | None = None
    version: str | None = None
    provenance: Provenance = field(default=UNKNOWN_SOURCE, compare=False)
    field_sources: tuple[tuple[str, Provenance], ...] = field(default=(), compare=False)


# --------------------------------------------------------------------------- findings


@dataclass(frozen=True, slots=True)
class Conflict:
    """Two sources disagree about one fact; both values and provenances are kept."""

    fact: str  # "container web: address on network bridge"
    value_a: str
    source_a: Provenance
    value_b: str
    source_b: Provenance
    kept: str = "a"  # which value the merged model holds ("a" or "b")

    def __str__(self) -> str:
        return (
            f"conflict about {self.fact}: {self.value_a} ({self.source_a}) vs {self.value_b} ({self.source_b});"
            f" using {self.value_a if self.kept == 'a' else self.value_b}"
        )


@dataclass(frozen=True, slots=True)
class Finding:
    """A warning or note about the inputs: something missing, ignored or inconsistent."""

    message: str
    level: Literal["warning", "note"] = "warning"
    location: Location | None = None

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location is not None else ""
        return f"{where}{self.level}: {self.message}"


@dataclass(frozen=True, slots=True)
class BridgePort:
    """The answer to "which bridge port does this container sit on, and does it hairpin?".

    ``hairpin`` is an :class:`Unknown` naming the missing files when the link from the
    container to a port cannot be made and the bridge's ports disagree.
    """

    container: str
    bridge: str | None
    port: str | None  # the host-side interface name (what -m physdev names)
    hairpin: Tri
    mac: str | None = None
    notes: tuple[str, ...] = ()
    sources: tuple[Provenance, ...] = ()


# --------------------------------------------------------------------------- topology


_HasId = TypeVar("_HasId", "DockerNetwork", "Container")


def _by_id_prefix(items: Iterable[_HasId], prefix: str) -> _HasId | None:
    """The first item whose Docker id starts with ``prefix``, when it is at least a short id (12 characters)."""
    if len(prefix) < 12:
        return None
    return next((x for x in items if x.id is not None and x.id.startswith(prefix)), None)


@dataclass(frozen=True)
class Topology:
    """Everything known about one Docker host and its surroundings."""

    namespaces: tuple[Namespace, ...] = ()
    networks: tuple[DockerNetwork, ...] | None = None
    containers: tuple[Container, ...] | None = None
    daemon: DaemonOptions = DaemonOptions()
    conflicts: tuple[Conflict, ...] = ()
    findings: tuple[Finding, ...] = ()
    missing: tuple[str, ...] = ()  # "bridge-fdb.json: which bridge port a container sits on"
    host: str = HOST  # the name of the Docker host's namespace
    field_sources: tuple[tuple[str, Provenance], ...] = field(default=(), compare=False)

    @cached_property
    def _namespaces(self) -> dict[str, Namespace]:
        return {n.name: n for n in self.namespaces}

    def namespace(self, name: str) -> Namespace | None:
        return self._namespaces.get(name)

    @property
    def host_namespace(self) -> Namespace | None:
        return self._namespaces.get(self.host)

    def network(self, name_or_bridge: str) -> DockerNetwork | None:
        """A Docker network by name, id (or id prefix), or bridge interface name."""
        for n in self.networks or ():
            if n.name == name_or_bridge or n.bridge == name_or_bridge:
                return n
        return _by_id_prefix(self.networks or (), name_or_bridge)

    def network_of_address(self, address: IPAddress) -> DockerNetwork | None:
        for n in self.networks or ():
            if n.subnet_for(address) is not None:
                return n
        return None

    @cached_property
    def _containers_by_name(self) -> dict[str, Container]:
        """Containers by name, the first of each name (the engine asks per container: keep it O(1))."""
        out: dict[str, Container] = {}
        for c in self.containers or ():
            out.setdefault(c.name, c)
        return out

    @cached_property
    def _ports_by_host_port(self) -> dict[tuple[int, str], tuple[tuple[Container, PublishedPort], ...]]:
        """Running order of every ``-p`` binding by (host port, protocol): the engine asks per packet."""
        out: dict[tuple[int, str], list[tuple[Container, PublishedPort]]] = {}
        for c in self.containers or ():
            for pp in c.ports or ():
                if pp.host_port is not None:
                    out.setdefault((pp.host_port, pp.proto), []).append((c, pp))
        return {k: tuple(v) for k, v in out.items()}

    def bindings(self, host_port: int, proto: str) -> tuple[tuple[Container, PublishedPort], ...]:
        """The containers (in topology order) publishing ``host_port/proto``, with their bindings."""
        return self._ports_by_host_port.get((host_port, proto), ())

    def container(self, name_or_id: str) -> Container | None:
        """A container by name (with or without Docker's leading ``/``) or id prefix (>= 12 chars)."""
        key = name_or_id.lstrip("/")
        by_name = self._containers_by_name.get(key)
        if by_name is not None:
            return by_name
        return _by_id_prefix(self.containers or (), key)

    def container_at(self, address: IPAddress) -> Container | None:
        for c in self.containers or ():
            if address in c.addresses():
                return c
        return None

    def namespace_name_of(self, container: str | Container) -> str | None:
        """The namespace a container's processes live in: ``host`` for --net=host, X's for container:X."""
        c = self.container(container) if isinstance(container, str) else container
        seen: set[str] = set()
        while c is not None and c.name not in seen:
            seen.add(c.name)
            mode = c.mode
            if mode == "host":
                return self.host
            if mode == "container":
                target = c.shares_with
                c = self.container(target) if target is not None else None
                continue
            return container_namespace_name(c.name)
        return None

    def namespace_of(self, container: str | Container) -> Namespace | None:
        name = self.namespace_name_of(container)
        return self.namespace(name) if name is not None else None

    def local_addresses(self, namespace: str) -> frozenset[IPAddress] | None:
        """Every address the namespace owns (None when not known)."""
        ns = self.namespace(namespace)
        return ns.local_addresses() if ns is not None else None

    def bridge_port(self, container: str, network: str | None = None) -> BridgePort:
        """Which bridge port the container sits on and its hairpin flag (issue 8)."""
        from natsim.topology.ports import bridge_port  # the join lives with its rules

        return bridge_port(self, container, network)

    def hairpin(self, container: str, network: str | None = None) -> Tri:
        """Hairpin of the container's own bridge port; an Unknown saying why when it cannot be known."""
        return self.bridge_port(container, network).hairpin

    def assumptions(self) -> tuple[str, ...]:
        """Every inferred or assumed fact in the model, as one line each, for an answer to list."""
        out: list[str] = []

        def visit(label: str, fact: object) -> None:
            prov = source_of(fact)
            if prov.is_assumption and prov != UNKNOWN_SOURCE:  # UNKNOWN_SOURCE: built in code, asserts nothing
                out.append(f"{label}: {prov}")
            for key, p in getattr(fact, "field_sources", ()):
                if p.is_assumption:
                    out.append(f"{label} {key}: {p}")

        visit("docker daemon", self.daemon)
        for n in self.networks or ():
            visit(f"network {n.name}", n)
        for c in self.containers or ():
            visit(f"container {c.name}", c)
            for p in c.ports or ():
                if p.provenance.is_assumption:
                    out.append(f"container {c.name} port {p}: {p.provenance}")
        for ns in self.namespaces:
            visit(f"namespace {ns.name}", ns)
            for l in ns.links or ():
                visit(f"{ns.name} interface {l.name}", l)
            for s in ns.sysctls or ():
                if s.provenance.is_assumption:
                    out.append(f"{ns.name} {s.key}={s.value}: {s.provenance}")
        return tuple(dict.fromkeys(out))


def fact_fields(cls: type) -> tuple[str, ...]:
    """The names of a fact class's value fields (not provenance bookkeeping), for merging."""
    return tuple(f.name for f in fields(cls) if f.name not in ("provenance", "field_sources"))
