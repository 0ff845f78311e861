"""A lab :class:`~tests.lab.spec.Host` as natsim topology TOML (src/natsim/topology/toml_file.py).

One description drives both sides: the lab builds the spec in namespaces, natsim reads the
same spec through this TOML. Everything the lab sets is written out (addresses, routes of
the main and local tables, bridge ports with their hairpin flag, every sysctl the kernel
consults, listeners including the emulated docker-proxy), so natsim needs no assumption
the kernel did not also make.
"""

from __future__ import annotations

import ipaddress
import json

from .host import HOST, OUTSIDE
from .spec import Container, Host, Listen

IFACE_SYSCTLS = ("rp_filter", "route_localnet", "accept_local")


def _q(value: object) -> str:
    return json.dumps(value)  # TOML basic strings, arrays and booleans are JSON-compatible here


def network_name(bridge: str) -> str:
    return "bridge" if bridge == "docker0" else bridge


def _interface(name: str, kind: str, addresses: list[str], **extra: object) -> list[str]:
    out = ["[[namespace.interface]]", f"name = {_q(name)}", f"kind = {_q(kind)}", f"addresses = {_q(addresses)}"]
    out += [f"{k.replace('_', '-')} = {_q(v)}" for k, v in extra.items() if v is not None]
    return out + [""]


def _route(dst: str, **extra: object) -> list[str]:
    out = ["[[namespace.route]]", f"dst = {_q(dst)}"]
    out += [f"{k} = {_q(v)}" for k, v in extra.items() if v is not None]
    return out + [""]


def _routes_for(addrs: dict[str, list[str]]) -> list[str]:
    """Connected (main) and local-table routes the kernel derives from interface addresses."""
    out = _route("127.0.0.0/8", type="local", dev="lo", table="local") + _route("::1/128", type="local", dev="lo",
                                                                                 table="local")
    for dev, cidrs in addrs.items():
        for cidr in cidrs:
            iface = ipaddress.ip_interface(cidr)
            if dev != "lo":
                out += _route(str(iface.network), dev=dev, src=str(iface.ip) if iface.version == 4 else None)
                out += _route(f"{iface.ip}/{iface.max_prefixlen}", type="local", dev=dev, table="local")
    return out


def _listeners(items: list[tuple[str, str, int, str]]) -> list[str]:
    out = []
    for proto, addr, port, process in items:
        out += ["[[namespace.listener]]", f"proto = {_q(proto)}", f"address = {_q(addr)}", f"port = {port}",
                f"process = {_q(process)}"] + (["v6only = true"] if ":" in addr else []) + [""]
    return out


def _listen_items(listen: tuple[Listen, ...], process: str, has6: bool) -> list[tuple[str, str, int, str]]:
    out = []
    for item in listen:
        addrs = [item.addr] if item.addr else (["0.0.0.0", "::"] if has6 else ["0.0.0.0"])
        out += [(item.proto, a, item.port, process) for a in addrs]
    return out


def _sysctls(values: dict[str, object]) -> list[str]:
    return ["[namespace.sysctl]"] + [f"{_q(k)} = {_q(v)}" for k, v in values.items()] + [""]


def _iface_sysctls(ifaces: list[str], spec: Host | None) -> dict[str, object]:
    out: dict[str, object] = {}
    for i in ["all", "default"] + ifaces:
        out[f"net.ipv4.conf.{i}.rp_filter"] = spec.rp_filter if spec else 0
        localnet = bool(spec) and (i in spec.route_localnet or "all" in spec.route_localnet and i == "all")
        out[f"net.ipv4.conf.{i}.route_localnet"] = int(localnet)
        out[f"net.ipv4.conf.{i}.accept_local"] = 0
    return out


def to_toml(spec: Host, version: str | None = None) -> str:
    """natsim topology TOML describing exactly what :func:`tests.lab.build` creates for ``spec``."""
    spec.validate()
    own = [c for c in spec.containers if c.net_container is None]
    ports = {c.name: f"veth{i}" for i, c in enumerate(own)}
    out = [f"host = {_q(HOST)}", "", "[daemon]", f"userland-proxy = {_q(spec.userland_proxy)}", "iptables = true",
           f"ip6tables = {_q(bool(spec.rules_v6.strip()))}", f"ip-forward = {_q(spec.ip_forward)}"]
    out += [f"version = {_q(version)}"] if version else []
    out.append("")
    for b in spec.bridges:
        subnets = [str(ipaddress.ip_interface(x).network) for x in (b.v4, b.v6) if x]
        gateways = [x for x in (b.gateway4, b.gateway6) if x]
        out += ["[[network]]", f"name = {_q(network_name(b.name))}", f"bridge = {_q(b.name)}",
                f"subnets = {_q(subnets)}", f"gateways = {_q(gateways)}", f"enable-ipv6 = {_q(b.v6 is not None)}", ""]
    for c in spec.containers:
        out += _container(spec, c)
    out += _host_namespace(spec, ports)
    out += _outside_namespace(spec)
    for c in own:
        out += _container_namespace(spec, c, ports[c.name])
    return "\n".join(out)


def _container(spec: Host, c: Container) -> list[str]:
    out = ["[[container]]", f"name = {_q(c.name)}"]
    if c.net_container:
        out.append(f"network-mode = {_q('container:' + c.net_container)}")
    else:
        b = spec.bridge(c.bridge)
        out.append(f"network-mode = {_q(network_name(b.name))}")
        if c.v4:
            out.append(f"address = {_q(f'{c.v4}/{ipaddress.ip_interface(b.v4).network.prefixlen}')}")
        if c.v6 and b.v6:
            out.append(f"address6 = {_q(f'{c.v6}/{ipaddress.ip_interface(b.v6).network.prefixlen}')}")
        pubs = []
        for p in spec.publish:
            if p.container == c.name:
                ip = f"[{p.host_ip}]" if ":" in p.host_ip else p.host_ip
                pubs.append(f"{ip}:{p.host_port}:{p.container_port}/{p.proto}")
        if pubs:
            out.append(f"ports = {_q(pubs)}")
    return out + [""]


def _host_namespace(spec: Host, ports: dict[str, str]) -> list[str]:
    addrs: dict[str, list[str]] = {"lo": ["127.0.0.1/8", "::1/128"], spec.uplink: list(spec.uplink_v4 + spec.uplink_v6)}
    out = ["[[namespace]]", f"name = {_q(HOST)}", 'role = "host"', ""]
    out += _interface("lo", "loopback", addrs["lo"])
    out += _interface(spec.uplink, "physical", addrs[spec.uplink], peer="eth0", peer_namespace=OUTSIDE)
    for b in spec.bridges:
        addrs[b.name] = [x for x in (b.v4, b.v6) if x]
        # the lab never sets the per-bridge option (ip link ... type bridge nf_call_iptables): kernel default 0
        out += _interface(b.name, "bridge", addrs[b.name], nf_call_iptables=False, nf_call_ip6tables=False)
    for c in spec.containers:
        if c.net_container is None:
            b = spec.bridge(c.bridge)
            hairpin = b.hairpin if c.hairpin is None else c.hairpin
            out += _interface(ports[c.name], "veth", [], master=b.name, hairpin=hairpin, port_state="forwarding",
                              peer="eth0", peer_namespace=f"container:{c.name}")
    out += _routes_for(addrs)
    values: dict[str, object] = {"net.ipv4.ip_forward": int(spec.ip_forward),
                                 "net.ipv6.conf.all.forwarding": int(spec.ip_forward),
                                 "net.bridge.bridge-nf-call-iptables": int(spec.br_netfilter),
                                 "net.bridge.bridge-nf-call-ip6tables": int(spec.br_netfilter)}
    values.update(_iface_sysctls(["lo", spec.uplink] + [b.name for b in spec.bridges] + list(ports.values()), spec))
    out += _sysctls(values)
    items = _listen_items(spec.host_listen, "host-process", bool(spec.uplink_v6))
    if spec.userland_proxy:
        items += [(p.proto, p.host_ip, p.host_port, "docker-proxy") for p in spec.publish]
    return out + _listeners(items)


def _outside_namespace(spec: Host) -> list[str]:
    v4 = f"{spec.outside_v4}/{ipaddress.ip_interface(spec.uplink_v4[0]).network.prefixlen}"
    v6 = [f"{spec.outside_v6}/{ipaddress.ip_interface(spec.uplink_v6[0]).network.prefixlen}"] \
        if spec.outside_v6 and spec.uplink_v6 else []
    addrs = {"lo": ["127.0.0.1/8", "::1/128"], "eth0": [v4] + v6}
    out = ["[[namespace]]", f"name = {_q(OUTSIDE)}", 'role = "outside"', ""]
    out += _interface("lo", "loopback", addrs["lo"]) + _interface("eth0", "veth", addrs["eth0"], peer=spec.uplink,
                                                                   peer_namespace=HOST)
    out += _routes_for(addrs) + _route("0.0.0.0/0", via=str(ipaddress.ip_interface(spec.uplink_v4[0]).ip), dev="eth0")
    if v6:
        out += _route("::/0", via=str(ipaddress.ip_interface(spec.uplink_v6[0]).ip), dev="eth0")
    out += _sysctls({"net.ipv4.ip_forward": 0, **_iface_sysctls(["lo", "eth0"], None)})
    return out + _listeners(_listen_items(spec.outside_listen, "server", bool(v6)))


def _container_namespace(spec: Host, c: Container, port: str) -> list[str]:
    b = spec.bridge(c.bridge)
    mine = [f"{c.v4}/{ipaddress.ip_interface(b.v4).network.prefixlen}"] if c.v4 and b.v4 else []
    mine += [f"{c.v6}/{ipaddress.ip_interface(b.v6).network.prefixlen}"] if c.v6 and b.v6 else []
    addrs = {"lo": ["127.0.0.1/8", "::1/128"], "eth0": mine}
    out = ["[[namespace]]", f"name = {_q('container:' + c.name)}", 'role = "container"', ""]
    out += _interface("lo", "loopback", addrs["lo"]) + _interface("eth0", "veth", mine, peer=port, peer_namespace=HOST)
    out += _routes_for(addrs)
    if c.v4 and b.v4:
        out += _route("0.0.0.0/0", via=b.gateway4, dev="eth0")
    if c.v6 and b.v6:
        out += _route("::/0", via=b.gateway6, dev="eth0")
    out += _sysctls({"net.ipv4.ip_forward": 0, **_iface_sysctls(["lo", "eth0"], None)})
    sharers = [x for x in spec.containers if spec.netns_owner(x.name).name == c.name]
    items = []
    for x in sharers:
        items += _listen_items(x.listen, x.name, bool(c.v6))
    return out + _listeners(items)


# --------------------------------------------------------------------------- natsim topology → lab


def from_topology(topo, rules_v4: str = "", rules_v6: str = "", ipsets: str = "", backend: str = "nft") -> Host:
    """The lab host for a natsim :class:`~natsim.topology.model.Topology` (the inverse of :func:`to_toml`).

    So a topology written for natsim (a TOML file) can also be built in the kernel. Needs the
    facts the kernel needs: the host namespace's interfaces and the outside peer's address;
    anything missing is a :class:`~tests.lab.netns.LabError` naming it.
    """
    from .netns import LabError
    from .spec import Bridge, Publish

    host = topo.host_namespace
    outside = next((n for n in topo.namespaces if n.role == "outside"), None)
    if host is None or host.links is None or outside is None or outside.links is None:
        raise LabError("the topology needs the host and outside namespaces with their interfaces")

    def addrs(link, family: int) -> tuple[str, ...]:
        return tuple(str(a) for a in link.addresses_of(family) or () if a.scope != "link")

    def sysctl(ns, key: str, default: int) -> int:
        value = ns.sysctl_int(key)
        return default if value is None else value

    ports = {l.peer_namespace: l for l in host.links if l.master and l.peer_namespace}
    bridges = []
    for b in host.bridges():
        hairpins = {bool(p.hairpin) for p in host.ports_of(b.name)}
        bridges.append(Bridge(b.name, (addrs(b, 4) or (None,))[0], (addrs(b, 6) or (None,))[0],
                              hairpin=hairpins == {True}))
    bridge_of = {b.name: b for b in bridges}
    containers, publish = [], []
    sharers = {c.name for c in topo.containers or () if c.shares_with}
    for c in topo.containers or ():
        ns = topo.namespace(f"container:{c.name}")
        if c.shares_with:  # its listeners are those of the owner's namespace that name it as process
            listen = _listens(topo.namespace(f"container:{c.shares_with}"), lambda p, n=c.name: p == n)
            containers.append(Container(c.name, net_container=c.shares_with, listen=listen))
            continue
        ep = c.endpoint()
        net = topo.network(ep.network) if ep else None
        bridge = net.bridge if net is not None and net.bridge else (ep.network if ep else None)
        if bridge not in bridge_of:
            raise LabError(f"container {c.name}: its network's bridge {bridge!r} is not an interface of the host")
        port = ports.get(f"container:{c.name}")
        hairpin = None if port is None or bool(port.hairpin) == bridge_of[bridge].hairpin else bool(port.hairpin)
        containers.append(Container(c.name, bridge, str(ep.ipv4) if ep.ipv4 else None,
                                    str(ep.ipv6) if ep.ipv6 else None,
                                    listen=_listens(ns, lambda p: p not in sharers),
                                    hairpin=hairpin))
        for p in c.ports or ():
            if p.host_port is None:
                raise LabError(f"container {c.name}: published port {p} has no host port")
            publish.append(Publish(c.name, p.container_port, p.host_port, p.proto,
                                   str(p.host_ip) if p.host_ip is not None else "0.0.0.0"))
    uplink = next((l for l in host.links if l.kind == "physical"), None)
    out_if = next((l for l in outside.links if l.kind != "loopback"), None)
    if uplink is None or out_if is None or not addrs(out_if, 4):
        raise LabError("the topology needs the host's physical interface and the outside peer's IPv4 address")
    ifaces = ["all", "default"] + [l.name for l in host.links]
    return Host(
        backend=backend,  # type: ignore[arg-type]
        rules_v4=rules_v4, rules_v6=rules_v6, ipsets=ipsets,
        bridges=tuple(bridges), containers=tuple(containers), publish=tuple(publish),
        userland_proxy=topo.daemon.userland_proxy is not False,
        br_netfilter=bool(sysctl(host, "net.bridge.bridge-nf-call-iptables", 0)),
        ip_forward=bool(sysctl(host, "net.ipv4.ip_forward", 1)),
        route_localnet=tuple(i for i in ifaces if sysctl(host, f"net.ipv4.conf.{i}.route_localnet", 0)),
        rp_filter=sysctl(host, "net.ipv4.conf.all.rp_filter", 0),
        uplink=uplink.name, uplink_v4=addrs(uplink, 4), uplink_v6=addrs(uplink, 6),
        outside_v4=addrs(out_if, 4)[0].split("/")[0],
        outside_v6=addrs(out_if, 6)[0].split("/")[0] if addrs(out_if, 6) else None,
        host_listen=_listens(host, lambda p: p != "docker-proxy"),
        outside_listen=_listens(outside),
    )


def _listens(ns, keep=lambda process: True) -> tuple[Listen, ...]:
    """A namespace's listeners (those whose process ``keep`` accepts) as Listen specs.

    Both wildcards of one port collapse into one Listen, as the lab listens on both by default.
    """
    from .spec import Listen as L

    if ns is None:
        return ()
    groups: dict[tuple[str, int], list[str]] = {}
    for l in ns.listeners or ():
        if keep(l.process):
            groups.setdefault((l.proto, l.port), []).append(str(l.address))
    has6 = any(a.family == 6 and a.scope != "link" and not a.address.is_loopback for a in ns.addresses() or ())
    out = []
    for (proto, port), where in groups.items():
        if set(where) == ({"0.0.0.0", "::"} if has6 else {"0.0.0.0"}):
            out.append(L(proto, port))  # type: ignore[arg-type]
        else:
            out += [L(proto, port, a) for a in where]  # type: ignore[arg-type]
    return tuple(out)
