"""Write a topology as the TOML that :mod:`natsim.topology.toml_file` reads, for what-if editing.

Take a snapshot, dump it (``natsim snapshot --show DIR --toml``), change a fact (a hairpin
flag, a sysctl, where a server listens) and ask again with ``--topology``.  What the model
does not know is left out, so it stays unknown when read back.  Provenance is not written:
the file read back is the provenance of its facts.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from natsim.topology.model import (
    HOST,
    TABLE_NAMES,
    Container,
    DaemonOptions,
    DockerNetwork,
    Endpoint,
    FdbEntry,
    Link,
    Listener,
    Namespace,
    Neighbour,
    PolicyRule,
    PublishedPort,
    Route,
    Topology,
)

_TABLE_IDS = {v: k for k, v in TABLE_NAMES.items()}


def _value(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    return json.dumps(str(v))  # a TOML basic string uses JSON's escapes


def _pairs(items: Iterable[tuple[str, object]], indent: str = "") -> list[str]:
    return [f"{indent}{k} = {_value(v)}" for k, v in items if v is not None]


def _table(v: int) -> object:
    return _TABLE_IDS.get(v, v)


def _daemon(d: DaemonOptions) -> list[str]:
    body = _pairs((("userland-proxy", d.userland_proxy), ("iptables", d.iptables), ("ip6tables", d.ip6tables),
                   ("ip-forward", d.ip_forward), ("firewall-backend", d.firewall_backend), ("era", d.era),
                   ("version", d.version)))
    return ["[daemon]", *body, ""] if body else []


def _network(n: DockerNetwork) -> list[str]:
    return ["[[network]]", *_pairs((
        ("name", n.name), ("id", n.id), ("driver", n.driver), ("bridge", n.bridge),
        ("subnets", None if n.subnets is None else [str(s) for s in n.subnets]),
        ("gateways", None if n.gateways is None else [str(g) for g in n.gateways]),
        ("icc", n.icc), ("internal", n.internal), ("masquerade", n.masquerade), ("gateway-mode", n.gateway_mode_v4),
        ("gateway-mode-v6", n.gateway_mode_v6), ("enable-ipv6", n.enable_ipv6),
        ("host-binding-ipv4", n.host_binding_ipv4),
    )), ""]


def _port(p: PublishedPort) -> str:
    host = ""
    if p.host_ip is not None:
        host = f"[{p.host_ip}]:" if p.host_ip.version == 6 else f"{p.host_ip}:"
    if p.host_port is None:
        return f"{host}:{p.container_port}/{p.proto}" if host else f"{p.container_port}/{p.proto}"
    return f"{host}{p.host_port}:{p.container_port}/{p.proto}"


def _endpoint(e: Endpoint) -> list[str]:
    def addr(a: object, plen: int | None) -> str | None:
        return None if a is None else f"{a}/{plen}" if plen is not None else str(a)

    return ["  [[container.endpoint]]", *_pairs((
        ("network", e.network), ("address", addr(e.ipv4, e.ipv4_prefixlen)), ("address6", addr(e.ipv6, e.ipv6_prefixlen)),
        ("mac", e.mac), ("gateway", e.gateway), ("gateway6", e.gateway6),
    ), "  ")]


def _container(c: Container) -> list[str]:
    out = ["[[container]]", *_pairs((
        ("name", c.name), ("id", c.id), ("network-mode", c.network_mode),
        ("ports", None if c.ports is None else [_port(p) for p in c.ports]),
        ("running", c.running), ("sandbox", c.sandbox),
    ))]
    if c.endpoints == ():
        out.append("endpoint = []")
    for e in c.endpoints or ():
        out += _endpoint(e)
    return out + [""]


def _link(l: Link) -> list[str]:
    return ["  [[namespace.interface]]", *_pairs((
        ("name", l.name), ("kind", l.kind),
        ("addresses", None if l.addresses is None else [str(a) for a in l.addresses]),
        ("up", l.up), ("mac", l.mac), ("index", l.index), ("master", l.master), ("hairpin", l.hairpin),
        ("isolated", l.isolated), ("port-state", l.port_state), ("peer", l.peer), ("peer-namespace", l.peer_namespace),
        ("link-index", l.link_index), ("mtu", l.mtu), ("nf-call-iptables", l.bridge_nf_call_iptables),
        ("nf-call-ip6tables", l.bridge_nf_call_ip6tables),
    ), "  ")]


def _route(r: Route) -> list[str]:
    return ["  [[namespace.route]]", *_pairs((
        ("dst", str(r.dst)), ("type", None if r.type == "unicast" else r.type), ("dev", r.dev), ("via", r.gateway),
        ("src", r.prefsrc), ("table", _table(r.table)), ("metric", r.metric), ("scope", r.scope),
        ("protocol", r.protocol),
    ), "  ")]


def _rule(r: PolicyRule) -> list[str]:
    return ["  [[namespace.rule]]", *_pairs((
        ("priority", r.priority), ("family", r.family), ("action", r.action),
        ("table", None if r.table is None else _table(r.table)), ("from", r.src), ("to", r.dst), ("iif", r.iif),
        ("oif", r.oif), ("fwmark", r.fwmark), ("fwmask", r.fwmask), ("not", r.invert or None),
        ("suppress-prefixlength", r.suppress_prefixlength),
    ), "  ")]


def _listener(l: Listener) -> list[str]:
    return ["  [[namespace.listener]]", *_pairs((
        ("proto", l.proto), ("address", l.address), ("port", l.port), ("process", l.process), ("pid", l.pid),
        ("device", l.device), ("v6only", l.v6only),
    ), "  ")]


def _neighbour(n: Neighbour) -> list[str]:
    return ["  [[namespace.neighbour]]", *_pairs((("address", n.address), ("dev", n.dev), ("mac", n.mac),
                                                   ("state", n.state)), "  ")]


def _fdb(f: FdbEntry) -> list[str]:
    return ["  [[namespace.fdb]]", *_pairs((("mac", f.mac), ("dev", f.dev), ("master", f.master), ("vlan", f.vlan),
                                            ("flags", list(f.flags) if f.flags else None), ("state", f.state)), "  ")]


def _namespace(ns: Namespace) -> list[str]:
    lists = (("interface", ns.links, _link), ("route", ns.routes, _route), ("rule", ns.policy_rules, _rule),
             ("listener", ns.listeners, _listener), ("neighbour", ns.neighbours, _neighbour), ("fdb", ns.fdb, _fdb))
    out = ["[[namespace]]", *_pairs((("name", ns.name), ("role", ns.role),
                                     ("sysctl-complete", ns.sysctls_complete or None)))]
    out += [f"{key} = []" for key, items, _ in lists if items == ()]  # known to be empty, not unknown
    if ns.sysctls is not None:
        out.append("  [namespace.sysctl]")
        out += [f"  {json.dumps(s.key)} = {_value(s.value)}" for s in ns.sysctls]
    for _key, items, render in lists:
        for item in items or ():
            out += render(item)  # type: ignore[operator]
    return out + [""]


def dump_toml(topo: Topology) -> str:
    """The topology as natsim topology TOML (docs/snapshot.md); reading it back gives an equal model."""
    out = ["# natsim topology (docs/snapshot.md); edit a fact and pass the file with --topology"]
    if topo.host != HOST:
        out.append(f"host = {_value(topo.host)}")
    out += [f"{key} = []" for key, items in (("network", topo.networks), ("container", topo.containers))
            if items == ()]
    for m in topo.missing:
        out.append(f"# not known: {m}")
    out.append("")
    out += _daemon(topo.daemon)
    for n in topo.networks or ():
        out += _network(n)
    for c in topo.containers or ():
        out += _container(c)
    for ns in topo.namespaces:
        out += _namespace(ns)
    return "\n".join(out).rstrip() + "\n"


__all__ = ["dump_toml"]
