"""Read a namespace from the live kernel through pyroute2 (netlink), read-only.

Links, addresses, bridge ports and hairpin, routes, policy rules, neighbours and the
bridge FDB come from netlink; sysctls and listening sockets from ``sysctl -a`` and
``ss`` run in the namespace (read-only commands, parsed by the snapshot readers).
The values are normalised exactly as :mod:`natsim.topology.iproute` reads iproute2's
JSON, so the same host read either way gives an equal model (tests/topology checks it).
"""

from __future__ import annotations

import ipaddress
import shutil
from dataclasses import replace
import socket
import subprocess
from pathlib import Path
from typing import Any

from natsim.errors import EnvironmentProblem
from natsim.topology.docker_inspect import parse_docker_json
from natsim.topology.iproute import parse_ss, parse_sysctl
from natsim.topology.merge import merge
from natsim.topology.model import (
    HOST,
    FdbEntry,
    Link,
    LinkAddress,
    LinkKind,
    Namespace,
    NamespaceRole,
    Neighbour,
    PolicyRule,
    Provenance,
    Route,
    Topology,
    container_namespace_name,
)

_SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
_ROUTE_TYPES = {1: "unicast", 2: "local", 3: "broadcast", 4: "anycast", 5: "multicast", 6: "blackhole",
                7: "unreachable", 8: "prohibit", 9: "throw", 10: "nat"}
# include/uapi/linux/rtnetlink.h RTPROT_*; iproute2 omits "boot" (3), the default
_PROTOCOLS = {1: "redirect", 2: "kernel", 4: "static", 8: "gated", 9: "ra", 10: "mrt", 11: "zebra", 12: "bird",
              13: "dnrouted", 14: "xorp", 15: "ntk", 16: "dhcp", 17: "mrouted", 18: "keepalived", 42: "babel",
              99: "openr", 186: "bgp", 187: "isis", 188: "ospf", 189: "rip", 192: "eigrp"}
_RULE_ACTIONS = {1: "lookup", 2: "goto", 3: "nop", 6: "blackhole", 7: "unreachable", 8: "prohibit"}
_NUD = ((0x01, "INCOMPLETE"), (0x02, "REACHABLE"), (0x04, "STALE"), (0x08, "DELAY"), (0x10, "PROBE"),
        (0x20, "FAILED"), (0x40, "NOARP"), (0x80, "PERMANENT"))
_NTF = ((0x02, "self"), (0x80, "router"), (0x10, "extern_learn"), (0x20, "offload"), (0x40, "sticky"))
ARPHRD_ETHER, ARPHRD_LOOPBACK = 1, 772
IFF_UP = 0x1
FIB_RULE_INVERT = 0x2


def _open(netns: str | None) -> Any:
    try:
        from pyroute2 import IPRoute, NetNS
    except ImportError as err:  # pragma: no cover - a declared dependency
        raise EnvironmentProblem(f"pyroute2 is not installed ({err})") from None
    if netns is None:
        return IPRoute()
    path = Path(netns) if netns.startswith("/") else Path("/run/netns", netns)
    if not path.exists():
        raise EnvironmentProblem(f"network namespace {netns!r} does not exist (see `ip netns list`)")
    return NetNS(str(path) if netns.startswith("/") else netns, flags=0)  # flags=0: never create the namespace


def _attr(msg: Any, name: str) -> Any:
    return msg.get_attr(name)


def _links(ipr: Any, names: dict[int, str], namespace_names: dict[int, str] | None, prov: Provenance) -> tuple[Link, ...]:
    addrs: dict[int, list[LinkAddress]] = {}
    for family in (socket.AF_INET, socket.AF_INET6):
        for a in ipr.get_addr(family=family):
            local = _attr(a, "IFA_LOCAL") or _attr(a, "IFA_ADDRESS")
            if local is None:
                continue
            addrs.setdefault(a["index"], []).append(
                LinkAddress(ipaddress.ip_address(local), a["prefixlen"], _SCOPES.get(a["scope"], str(a["scope"])), prov))
    out = []
    for l in ipr.get_links():
        index = l["index"]
        info = _attr(l, "IFLA_LINKINFO")
        kind_name = _attr(info, "IFLA_INFO_KIND") if info is not None else None
        slave = None
        if info is not None and _attr(info, "IFLA_INFO_SLAVE_KIND") == "bridge":
            slave = _attr(info, "IFLA_INFO_SLAVE_DATA")
        bridge_data = _attr(info, "IFLA_INFO_DATA") if kind_name == "bridge" else None
        kind: LinkKind
        if l["ifi_type"] == ARPHRD_LOOPBACK:
            kind = "loopback"
        elif kind_name == "bridge":
            kind = "bridge"
        elif kind_name == "veth":
            kind = "veth"
        elif kind_name:
            kind = "other"
        else:
            kind = "physical" if l["ifi_type"] == ARPHRD_ETHER else "other"
        master = _attr(l, "IFLA_MASTER")
        link = _attr(l, "IFLA_LINK")
        netnsid = _attr(l, "IFLA_LINK_NETNSID")
        peer = peer_ns = link_index = None
        if link is not None and netnsid is None:
            peer = names.get(link)
        elif link is not None:
            link_index = link
            if namespace_names is not None:
                peer_ns = namespace_names.get(netnsid)
        mac = _attr(l, "IFLA_ADDRESS")

        def nf(key: str) -> bool | None:
            v = _attr(bridge_data, key) if bridge_data is not None else None
            return None if v is None else bool(v)

        out.append(Link(
            name=names[index], kind=kind, addresses=tuple(addrs.get(index, ())), up=bool(l["flags"] & IFF_UP),
            mac=mac.lower() if mac else None, index=index, master=names.get(master) if master else None,
            hairpin=bool(_attr(slave, "IFLA_BRPORT_MODE")) if slave is not None else None,
            port_state=_PORT_STATES.get(_attr(slave, "IFLA_BRPORT_STATE")) if slave is not None else None,
            isolated=bool(_attr(slave, "IFLA_BRPORT_ISOLATED")) if slave is not None else None,
            peer=peer, peer_namespace=peer_ns, link_index=link_index, mtu=_attr(l, "IFLA_MTU"),
            bridge_nf_call_iptables=nf("IFLA_BR_NF_CALL_IPTABLES"),
            bridge_nf_call_ip6tables=nf("IFLA_BR_NF_CALL_IP6TABLES"),
            provenance=prov,
        ))
    return tuple(out)


# net/bridge/br_private.h BR_STATE_*; iproute2 prints these names
_PORT_STATES = {0: "disabled", 1: "listening", 2: "learning", 3: "forwarding", 4: "blocking"}


def _routes(ipr: Any, names: dict[int, str], prov: Provenance) -> tuple[Route, ...]:
    out = []
    for family in (socket.AF_INET, socket.AF_INET6):
        for r in ipr.get_routes(family=family):
            if r["flags"] & 0x200:  # RTM_F_CLONED: a cache entry, which `ip route show` hides
                continue
            table = _attr(r, "RTA_TABLE") or r["table"]
            dst = _attr(r, "RTA_DST") or ("0.0.0.0" if family == socket.AF_INET else "::")
            rtype = _ROUTE_TYPES.get(r["type"], "unicast")
            if family == socket.AF_INET6 and rtype == "unicast" and r["type"] == 0:
                continue
            gw = _attr(r, "RTA_GATEWAY")
            src = _attr(r, "RTA_PREFSRC")
            oif = _attr(r, "RTA_OIF")
            route_prov = prov
            hops = _attr(r, "RTA_MULTIPATH")
            if hops and gw is None and oif is None:
                # a multipath route: the model holds one next hop, as the JSON reader does
                gw, oif = _attr(hops[0], "RTA_GATEWAY"), hops[0].get("oif")
                route_prov = replace(prov, detail=f"multipath: first of {len(hops)} next hops")
            scope = _SCOPES.get(r["scope"], str(r["scope"]))
            proto = r["proto"]
            out.append(Route(
                dst=ipaddress.ip_network(f"{dst}/{r['dst_len']}", strict=False), type=rtype,  # type: ignore[arg-type]
                dev=names.get(oif) if oif is not None else None,
                gateway=ipaddress.ip_address(gw) if gw else None, prefsrc=ipaddress.ip_address(src) if src else None,
                table=table, metric=_attr(r, "RTA_PRIORITY"),
                scope=None if scope == "global" else scope,
                protocol=None if proto == 3 else _PROTOCOLS.get(proto, str(proto)),
                provenance=route_prov,
            ))
    return tuple(out)


def _rules(ipr: Any, prov: Provenance) -> tuple[PolicyRule, ...]:
    out = []
    for family, fam in ((socket.AF_INET, 4), (socket.AF_INET6, 6)):
        for r in ipr.get_rules(family=family):
            action = _RULE_ACTIONS.get(r["action"], str(r["action"]))
            table = _attr(r, "FRA_TABLE") or r["table"]
            src = _attr(r, "FRA_SRC")
            dst = _attr(r, "FRA_DST")
            sup = _attr(r, "FRA_SUPPRESS_PREFIXLEN")
            out.append(PolicyRule(
                priority=_attr(r, "FRA_PRIORITY") or 0, family=fam,
                table=table if action == "lookup" and table else None, action=action,
                src=ipaddress.ip_network(f"{src}/{r['src_len']}", strict=False) if src else None,
                dst=ipaddress.ip_network(f"{dst}/{r['dst_len']}", strict=False) if dst else None,
                iif=_attr(r, "FRA_IIFNAME"), oif=_attr(r, "FRA_OIFNAME"),
                fwmark=_attr(r, "FRA_FWMARK") or None, fwmask=_attr(r, "FRA_FWMASK") or None,
                invert=bool(r["flags"] & FIB_RULE_INVERT),
                suppress_prefixlength=None if sup in (None, 0xFFFFFFFF) else sup,
                provenance=prov,
            ))
    return tuple(out)


def _neighbours(ipr: Any, names: dict[int, str], prov: Provenance) -> tuple[Neighbour, ...]:
    out = []
    for family in (socket.AF_INET, socket.AF_INET6):
        for n in ipr.get_neighbours(family=family):
            state = n["state"]
            if state == 0 or state & 0x40:  # NUD_NONE and NUD_NOARP entries: `ip neigh` hides them
                continue
            mac = _attr(n, "NDA_LLADDR")
            out.append(Neighbour(
                address=ipaddress.ip_address(_attr(n, "NDA_DST")), dev=names.get(n["ifindex"], str(n["ifindex"])),
                mac=mac.lower() if mac else None, state=",".join(name for bit, name in _NUD if state & bit),
                provenance=prov,
            ))
    return tuple(out)


def fdb_state(state: int) -> str | None:
    """iproute2's bridge/fdb.c state names."""
    if state & 0x80:
        return "permanent"
    if state & 0x40:
        return "static"
    if state & 0x04:
        return "stale"
    return None


def _fdb(ipr: Any, names: dict[int, str], prov: Provenance) -> tuple[FdbEntry, ...]:
    out = []
    for n in ipr.fdb("dump"):
        mac = _attr(n, "NDA_LLADDR")
        if mac is None:
            continue
        master = _attr(n, "NDA_MASTER")
        out.append(FdbEntry(
            mac=mac.lower(), dev=names.get(n["ifindex"], str(n["ifindex"])),
            master=names.get(master) if master else None, vlan=_attr(n, "NDA_VLAN"),
            flags=tuple(sorted(name for bit, name in _NTF if n["flags"] & bit)), state=fdb_state(n["state"]),
            provenance=prov,
        ))
    return tuple(out)


def _command(netns: str | None, argv: list[str]) -> str | None:
    """Run a read-only command in natsim's namespace, ``ip netns`` NAME, or the namespace at a path."""
    if netns is None:
        cmd = argv
    elif netns.startswith("/"):
        cmd = ["nsenter", f"--net={netns}", *argv]
    else:
        cmd = ["ip", "netns", "exec", netns, *argv]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return p.stdout if p.stdout else None


def read_live(netns: str | None = None, name: str = HOST, namespace_names: dict[int, str] | None = None,
              sysctls: bool = True, sockets: bool = True) -> Namespace:
    """Read one namespace into a :class:`Namespace` called ``name``.

    ``netns``: None for natsim's own, an ``ip netns`` name, or a path such as a Docker SandboxKey.
    """
    source = "live" if netns is None else f"live:netns {netns}"
    prov = Provenance(source, "read")
    ipr = _open(netns)
    try:
        names = {l["index"]: l.get_attr("IFLA_IFNAME") for l in ipr.get_links()}
        links = _links(ipr, names, namespace_names, prov)
        routes = _routes(ipr, names, prov)
        rules = _rules(ipr, prov)
        neighbours = _neighbours(ipr, names, prov)
        fdb = _fdb(ipr, names, prov)
    finally:
        ipr.close()
    sysctl_list = listeners = None
    if sysctls and (text := _command(netns, ["sysctl", "-a"])) is not None:
        sysctl_list = parse_sysctl(text, f"{source}: sysctl -a")
    if sockets and (text := _command(netns, ["ss", "-Hltnup"])) is not None:
        listeners = parse_ss(text, f"{source}: ss -Hltnup")
    elif sockets:
        listeners = ()
    role: NamespaceRole = "host" if name == HOST else "container" if name.startswith("container:") else "other"
    return Namespace(
        name=name, role=role, links=links, routes=routes, policy_rules=rules,
        sysctls=sysctl_list, sysctls_complete=sysctl_list is not None, listeners=listeners,
        neighbours=neighbours, fdb=fdb, provenance=prov,
    )


def _docker_facts() -> Topology | None:
    """``docker inspect`` / ``docker network inspect`` through the CLI, when there is one (read-only)."""
    if shutil.which("docker") is None:
        return None
    parts: list[Topology] = []
    for list_cmd, inspect, file in ((["docker", "ps", "-q"], ["docker", "inspect"], "live: docker inspect"),
                                    (["docker", "network", "ls", "-q"], ["docker", "network", "inspect"],
                                     "live: docker network inspect")):
        ids = _command(None, list_cmd)
        if ids is None:
            continue
        text = _command(None, inspect + ids.split()) if ids.split() else "[]"
        if text is not None:
            parts.append(parse_docker_json(text, file))
    return merge(*parts) if parts else None


def read_live_topology(netns: str | None = None, docker: bool = True,
                       sandboxes: dict[str, str] | None = None) -> tuple[Topology, tuple[str, ...]]:
    """The live host (``ip netns`` NAME or natsim's own namespace) as a Topology, with notes on what was read.

    Each running bridge-mode container's own namespace (docker inspect SandboxKey, or ``sandboxes``:
    name → path) is read too, as ``container:NAME``: its addresses, routes and listening sockets.
    """
    ns = read_live(netns, HOST)
    notes = [f"topology read from the kernel via netlink ({ns.provenance.source})"]
    if ns.sysctls is None:
        notes.append("sysctl -a could not be run: sysctls are unknown")
    topo = Topology(namespaces=(ns,))
    facts = _docker_facts() if docker and netns is None else None
    if facts is not None:
        topo = merge(topo, facts)
        notes.append("Docker's containers and networks read with docker inspect")
    else:
        notes.append("no Docker daemon was asked: container names and networks come from the rules")
    paths = dict(sandboxes or {})
    for c in topo.containers or ():
        if c.sandbox and c.running is not False and c.mode == "bridge":
            paths.setdefault(c.name, c.sandbox)
    extra = []
    for name, path in sorted(paths.items()):
        try:
            extra.append(read_live(path, container_namespace_name(name)))
        except (EnvironmentProblem, OSError) as err:
            notes.append(f"the namespace of container {name} ({path}) could not be read: {err}")
    if extra:
        topo = replace(topo, namespaces=topo.namespaces + tuple(extra))
        notes.append(f"read the namespaces of {len(extra)} container(s) too")
    return topo, tuple(notes)
