"""A small hand-written topology file (TOML, read with :mod:`tomllib`) for what-if questions and tests.

The format is documented in docs/snapshot.md.  Every key is checked: a misspelt key is an
error naming the file and line, not a silently ignored fact.  Facts read here carry the
file as provenance; a fact the file leaves out stays unknown.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from natsim.errors import InputError
from natsim.topology.model import (
    HOST,
    ROUTE_TYPES,
    Container,
    DaemonOptions,
    DockerNetwork,
    Endpoint,
    FdbEntry,
    Link,
    LinkAddress,
    Listener,
    Namespace,
    Neighbour,
    PolicyRule,
    PublishedPort,
    Route,
    Sysctl,
    Topology,
    read_from,
)
from natsim.topology.values import (
    Place,
    locate,
    parse_address,
    parse_interface_address,
    parse_mac,
    parse_network,
    parse_port,
    parse_publish,
    parse_table,
)

T = TypeVar("T")

LINK_KINDS = ("physical", "veth", "bridge", "loopback", "other")
ROLES = ("host", "container", "outside", "other")
GATEWAY_MODES = ("nat", "nat-unprotected", "routed", "isolated")
RULE_ACTIONS = ("lookup", "blackhole", "unreachable", "prohibit", "nop", "goto")  # what ip rule's reader accepts


class _Section:
    """One TOML table being read: hands out keys, and at the end rejects keys nobody asked for."""

    def __init__(self, data: dict[str, Any], where: str, reader: "_Reader") -> None:
        self.data = data
        self.where = where  # "[[container]] #2"
        self.reader = reader
        self.used: set[str] = set()

    def place(self, key: str) -> Place:
        return self.reader.place_of(key, self.data.get(key))

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        self.used.add(key)
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.place(key).error(f"found {key} = {value!r} in {self.where}", f"expected a {names}")
        return value

    def need(self, key: str, kind: type | tuple[type, ...]) -> Any:
        if key not in self.data:
            line, col, src = self.reader.section_place(self.where)
            raise InputError(self.reader.file, line, col, f"{self.where} has no {key}", f"expected {key} = ...", src)
        return self.get(key, kind)

    def choice(self, key: str, options: tuple[str, ...]) -> str | None:
        value = self.get(key, str)
        if value is not None and value not in options:
            raise self.place(key).error(f"found {key} = {value!r}", f"expected one of {', '.join(options)}")
        return value

    def items(self, key: str) -> list["_Section"]:
        raw = self.get(key, list, [])
        out = []
        for i, item in enumerate(raw, 1):
            if not isinstance(item, dict):
                raise self.place(key).error(f"found {key} = {item!r}", f"expected [[{key}]] tables")
            out.append(_Section(item, f"[[{key}]] #{i} of {self.where}", self.reader))
        return out

    def finish(self) -> None:
        extra = [k for k in self.data if k not in self.used]
        if extra:
            key = extra[0]
            line, col, src = locate(self.reader.text, key)
            raise InputError(self.reader.file, line, col, f"unknown key {key!r} in {self.where}",
                             f"expected one of: {', '.join(sorted(self.used))}", src)


class _Reader:
    def __init__(self, text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.prov = read_from(file)

    def place_of(self, key: str, value: object) -> Place:
        needle = key
        if isinstance(value, str):
            needle = value
        line, col, src = locate(self.text, needle)
        if line == 0:
            line, col, src = locate(self.text, key)
        return Place(self.file, line, col, src)

    def section_place(self, where: str) -> tuple[int, int, str | None]:
        name = where.split("]]", 1)[0] + "]]" if where.startswith("[[") else where
        return locate(self.text, name)


def _each(section: _Section, key: str, build: Callable[[_Section], T]) -> tuple[T, ...] | None:
    """Build a tuple from ``[[key]]`` tables; None (unknown) when the key is absent."""
    if key not in section.data:
        section.used.add(key)
        return None
    out = []
    for item in section.items(key):
        out.append(build(item))
        item.finish()
    return tuple(out)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else k, v, out)
    else:
        out[prefix] = value


def load_toml(path: str | Path) -> Topology:
    """Read a topology TOML file; errors name the file and line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(str(p), 0, 1, f"cannot read the file ({err.strerror})", "expected a readable TOML file")
    return parse_toml(text, str(p))


def parse_toml(text: str, file: str = "<toml>") -> Topology:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        msg = str(err)
        line, col = 0, 1
        if "(at line " in msg:
            tail = msg.rsplit("(at line ", 1)[1].rstrip(")")
            parts = tail.split(", column ")
            line, col = int(parts[0]), int(parts[1]) if len(parts) > 1 else 1
            msg = msg.rsplit(" (at line ", 1)[0]
        src = text.splitlines()[line - 1] if 0 < line <= len(text.splitlines()) else None
        raise InputError(file, line, col, f"invalid TOML: {msg}", "expected a TOML topology file", src) from None
    reader = _Reader(text, file)
    top = _Section(data, "the file", reader)
    host = top.get("host", str, HOST)
    daemon = _daemon(top, reader)
    networks = _each(top, "network", lambda s: _network(s, reader))
    containers = _each(top, "container", lambda s: _container(s, reader))
    namespaces = _each(top, "namespace", lambda s: _namespace(s, reader)) or ()
    top.finish()
    return Topology(namespaces=namespaces, networks=networks, containers=containers, daemon=daemon, host=host)


def _daemon(top: _Section, reader: _Reader) -> DaemonOptions:
    raw = top.get("daemon", dict)
    if raw is None:
        return DaemonOptions()
    s = _Section(raw, "[daemon]", reader)
    d = DaemonOptions(
        userland_proxy=s.get("userland-proxy", bool),
        iptables=s.get("iptables", bool),
        ip6tables=s.get("ip6tables", bool),
        ip_forward=s.get("ip-forward", bool),
        firewall_backend=s.choice("firewall-backend", ("iptables", "nftables")),
        era=s.get("era", str),
        version=s.get("version", str),
        provenance=reader.prov,
    )
    s.finish()
    return d


def _network(s: _Section, reader: _Reader) -> DockerNetwork:
    subnets = s.get("subnets", list)
    if subnets is None and "subnet" in s.data:
        subnets = [s.get("subnet", str)]
    s.used.add("subnet")
    gateways = s.get("gateways", list)
    if gateways is None and "gateway" in s.data:
        gateways = [s.get("gateway", str)]
    s.used.add("gateway")
    hb = s.get("host-binding-ipv4", str)
    return DockerNetwork(
        name=s.need("name", str),
        id=s.get("id", str),
        driver=s.get("driver", str, "bridge"),
        bridge=s.get("bridge", str),
        subnets=None if subnets is None else tuple(parse_network(x, s.place("subnet")) for x in subnets),
        gateways=None if gateways is None else tuple(parse_address(x, s.place("gateway")) for x in gateways),
        icc=s.get("icc", bool),
        internal=s.get("internal", bool),
        masquerade=s.get("masquerade", bool),
        gateway_mode_v4=s.choice("gateway-mode", GATEWAY_MODES),  # type: ignore[arg-type]
        gateway_mode_v6=s.choice("gateway-mode-v6", GATEWAY_MODES),  # type: ignore[arg-type]
        enable_ipv6=s.get("enable-ipv6", bool),
        host_binding_ipv4=None if hb is None else parse_address(hb, s.place("host-binding-ipv4")),
        provenance=reader.prov,
    )


def _endpoint(s: _Section, reader: _Reader, default_network: str | None) -> Endpoint:
    ipv4 = ipv6 = None
    len4 = len6 = None
    for key in ("address", "address6"):
        raw = s.get(key, str)
        if raw is None:
            continue
        addr, plen = parse_interface_address(raw, s.place(key))
        if "/" not in raw:
            plen = None
        if addr.version == 4:
            ipv4, len4 = addr, plen
        else:
            ipv6, len6 = addr, plen
    mac = s.get("mac", str)
    gw = s.get("gateway", str)
    gw6 = s.get("gateway6", str)
    network = s.get("network", str, default_network)
    if network is None:
        raise s.place("address").error(f"{s.where} names no network", "expected network = ...")
    return Endpoint(
        network=network,
        ipv4=ipv4, ipv4_prefixlen=len4, ipv6=ipv6, ipv6_prefixlen=len6,
        mac=None if mac is None else parse_mac(mac, s.place("mac")),
        gateway=None if gw is None else parse_address(gw, s.place("gateway")),
        gateway6=None if gw6 is None else parse_address(gw6, s.place("gateway6")),
        provenance=reader.prov,
    )


def _container(s: _Section, reader: _Reader) -> Container:
    name = s.need("name", str)
    mode = s.get("network-mode", str, "bridge")
    endpoints = _each(s, "endpoint", lambda e: _endpoint(e, reader, None if ":" in mode else mode))
    if endpoints is None and any(k in s.data for k in ("address", "address6", "mac")):
        # shorthand: one endpoint on the network-mode network, written in the container table itself
        endpoints = (_endpoint(s, reader, mode),)
    else:
        s.used.update(("address", "address6", "mac", "gateway", "gateway6", "network"))
    ports = s.get("ports", list)
    published: tuple[PublishedPort, ...] | None = None
    if ports is not None:
        out: list[PublishedPort] = []
        for spec in ports:
            if not isinstance(spec, str):
                raise s.place("ports").error(f"found {spec!r} in ports", 'expected "HOSTPORT:CONTAINERPORT/PROTO"')
            for p in parse_publish(spec, reader.place_of("ports", spec)):
                out.append(PublishedPort(p.container_port, p.proto, p.host_port, p.host_ip, reader.prov))
        published = tuple(out)
    if mode in ("host", "none") or mode.startswith("container:"):
        endpoints = endpoints if endpoints is not None else ()
    return Container(name=name, id=s.get("id", str), network_mode=mode, endpoints=endpoints, ports=published,
                     running=s.get("running", bool), sandbox=s.get("sandbox", str), provenance=reader.prov)


def _address_list(s: _Section, key: str) -> tuple[LinkAddress, ...] | None:
    raw = s.get(key, list)
    if raw is None:
        return None
    out = []
    for item in raw:
        addr, plen = parse_interface_address(item, s.reader.place_of(key, item))
        scope = "host" if addr.is_loopback else "link" if addr.is_link_local else "global"  # as the kernel sets it
        out.append(LinkAddress(addr, plen, scope, s.reader.prov))
    return tuple(out)


def _interface(s: _Section, reader: _Reader) -> Link:
    mac = s.get("mac", str)
    name = s.need("name", str)
    kind = s.choice("kind", LINK_KINDS)
    if kind is None and name == "lo":
        kind = "loopback"
    return Link(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        addresses=_address_list(s, "addresses") or (),  # an interface listed without addresses has none
        up=s.get("up", bool, True),
        mac=None if mac is None else parse_mac(mac, s.place("mac")),
        index=s.get("index", int),
        link_index=s.get("link-index", int),
        master=s.get("master", str),
        hairpin=s.get("hairpin", bool),
        isolated=s.get("isolated", bool),
        port_state=s.get("port-state", str),
        peer=s.get("peer", str),
        peer_namespace=s.get("peer-namespace", str),
        mtu=s.get("mtu", int),
        bridge_nf_call_iptables=s.get("nf-call-iptables", bool),
        bridge_nf_call_ip6tables=s.get("nf-call-ip6tables", bool),
        provenance=reader.prov,
    )


def _route(s: _Section, reader: _Reader) -> Route:
    dst = parse_network(s.need("dst", str), s.place("dst"))
    via = s.get("via", str)
    src = s.get("src", str)
    gateway = None if via is None else parse_address(via, s.place("via"))
    if dst.prefixlen == 0 and gateway is not None and gateway.version == 6:
        dst = parse_network("::/0", s.place("dst"))
    rtype = s.choice("type", ROUTE_TYPES) or "unicast"
    table = parse_table(s.get("table", (str, int), "local" if rtype in ("local", "broadcast") else "main"),
                      s.place("table"))
    return Route(dst=dst, type=rtype, dev=s.get("dev", str), gateway=gateway,  # type: ignore[arg-type]
                 prefsrc=None if src is None else parse_address(src, s.place("src")), table=table,
                 metric=s.get("metric", int), scope=s.get("scope", str), protocol=s.get("protocol", str),
                 provenance=reader.prov)


def _rule(s: _Section, reader: _Reader) -> PolicyRule:
    src = s.get("from", str)
    dst = s.get("to", str)
    family = s.get("family", int, 4)
    if family not in (4, 6):
        raise s.place("family").error(f"found family = {family!r} in {s.where}", "expected 4 or 6")
    action = s.choice("action", RULE_ACTIONS) or "lookup"
    table = s.get("table", (str, int))
    return PolicyRule(
        priority=s.need("priority", int), family=family,
        table=parse_table(table if table is not None else "main", s.place("table")) if action == "lookup" else None,
        action=action,
        src=None if src in (None, "all") else parse_network(src, s.place("from")),
        dst=None if dst in (None, "all") else parse_network(dst, s.place("to")),
        iif=s.get("iif", str), oif=s.get("oif", str), fwmark=s.get("fwmark", int), fwmask=s.get("fwmask", int),
        invert=s.get("not", bool, False), suppress_prefixlength=s.get("suppress-prefixlength", int),
        provenance=reader.prov,
    )


def _listener(s: _Section, reader: _Reader) -> Listener:
    return Listener(
        proto=s.choice("proto", ("tcp", "udp", "sctp")) or "tcp",
        address=parse_address(s.get("address", str, "0.0.0.0"), s.place("address")),
        port=parse_port(s.need("port", int), s.place("port")),
        process=s.get("process", str), pid=s.get("pid", int), device=s.get("device", str),
        v6only=s.get("v6only", bool), provenance=reader.prov,
    )


def _neighbour(s: _Section, reader: _Reader) -> Neighbour:
    mac = s.get("mac", str)
    return Neighbour(address=parse_address(s.need("address", str), s.place("address")), dev=s.need("dev", str),
                     mac=None if mac is None else parse_mac(mac, s.place("mac")), state=s.get("state", str),
                     provenance=reader.prov)


def _fdb(s: _Section, reader: _Reader) -> FdbEntry:
    flags = s.get("flags", list, [])
    return FdbEntry(mac=parse_mac(s.need("mac", str), s.place("mac")), dev=s.need("dev", str),
                    master=s.get("master", str), vlan=s.get("vlan", int), flags=tuple(str(f) for f in flags),
                    state=s.get("state", str), provenance=reader.prov)


def _sysctls(s: _Section, reader: _Reader) -> tuple[tuple[Sysctl, ...] | None, bool]:
    raw = s.get("sysctl", dict)
    complete = s.get("sysctl-complete", bool, False)
    if raw is None:
        return None, complete
    flat: dict[str, Any] = {}
    _flatten("", raw, flat)
    out = []
    for key, value in flat.items():
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, (int, str)):
            line, col, src = locate(reader.text, key.rsplit(".", 1)[-1])
            raise InputError(reader.file, line, col, f"found sysctl {key} = {value!r}", "expected a number or string", src)
        line = locate(reader.text, key.rsplit(".", 1)[-1])[0]
        prov = read_from(reader.file, line) if line else reader.prov
        out.append(Sysctl(key, str(value), prov))
    return tuple(out), complete


def _namespace(s: _Section, reader: _Reader) -> Namespace:
    name = s.need("name", str)
    role = s.choice("role", ROLES)
    if role is None:
        role = "host" if name == HOST else "outside" if name == "outside" else (
            "container" if name.startswith("container:") else "other")
    sysctls, complete = _sysctls(s, reader)
    return Namespace(
        name=name,
        role=role,  # type: ignore[arg-type]
        links=_each(s, "interface", lambda x: _interface(x, reader)),
        routes=_each(s, "route", lambda x: _route(x, reader)),
        policy_rules=_each(s, "rule", lambda x: _rule(x, reader)),
        sysctls=sysctls,
        sysctls_complete=complete,
        listeners=_each(s, "listener", lambda x: _listener(x, reader)),
        neighbours=_each(s, "neighbour", lambda x: _neighbour(x, reader)),
        fdb=_each(s, "fdb", lambda x: _fdb(x, reader)),
        provenance=reader.prov,
    )


__all__ = ["load_toml", "parse_toml"]
