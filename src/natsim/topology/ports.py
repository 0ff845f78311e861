"""Which bridge port a container sits on, and whether that port hairpins (issue 8).

A container reaches itself through its published port only if its *own* bridge port has
hairpin on (the bridge sends the frame back out the port it came in on:
net/bridge/br_forward.c ``should_deliver`` checks ``BR_HAIRPIN_MODE``).  Nothing in
``bridge link`` says who is behind a port, so the link is made by joining facts:

    container address --ip neigh / docker inspect MacAddress--> MAC
    MAC --bridge fdb--> port  --bridge link--> hairpin flag

or directly when the container's own namespace was read (its veth's peer is the port).
When no join is possible the answer is the value every port of the bridge shares, or
unknown naming the files that would have settled it.
"""

from __future__ import annotations

from natsim.engine.tri import Unknown
from natsim.topology.model import BridgePort, Container, Endpoint, Link, Namespace, Provenance, Topology


def _bridge_of(topo: Topology, host: Namespace | None, endpoint: Endpoint) -> tuple[str | None, list[str]]:
    """The bridge an endpoint's network uses: from Docker's network facts, else by subnet on the host."""
    notes: list[str] = []
    net = topo.network(endpoint.network)
    if net is not None and net.bridge is not None:
        return net.bridge, notes
    if host is not None:
        for addr in endpoint.addresses():
            for l in host.bridges():
                for a in l.addresses or ():
                    if a.family == addr.version and addr in a.network:
                        notes.append(f"bridge {l.name} chosen because its subnet {a.network} holds {addr}")
                        return l.name, notes
    return None, notes


def _port_from_own_namespace(topo: Topology, c: Container, host: Namespace, bridge: str) -> Link | None:
    """The veth peer of the container's own interface, when the container's namespace was read."""
    ns_name = topo.namespace_name_of(c)
    if ns_name is None or ns_name == host.name:
        return None
    for port in host.ports_of(bridge):
        if port.peer_namespace == ns_name:
            return port
    ns = topo.namespace(ns_name)
    for l in ns.links or () if ns is not None else ():
        if l.kind == "loopback":
            continue
        if l.peer is not None and l.peer_namespace in (None, host.name):
            port = host.link(l.peer)
            if port is not None and port.master == bridge:
                return port
        if l.link_index is not None:
            for port in host.ports_of(bridge):
                if port.index == l.link_index:
                    return port
        if l.index is not None:
            for port in host.ports_of(bridge):
                if port.link_index == l.index and port.peer_namespace in (None, ns.name):
                    return port
    return None


def _mac_of(host: Namespace, endpoint: Endpoint, bridge: str) -> tuple[str | None, Provenance | None]:
    if endpoint.mac:
        return endpoint.mac.lower(), endpoint.provenance
    for addr in endpoint.addresses():
        for n in host.neighbours or ():
            if n.address == addr and n.mac and n.dev == bridge:
                return n.mac.lower(), n.provenance
    return None, None


def bridge_port(topo: Topology, container: str, network: str | None = None) -> BridgePort:
    """Join container → MAC → bridge port → hairpin; see the module docstring."""
    c = topo.container(container)
    if c is None:
        return BridgePort(container, None, None, Unknown(f"container {container} is not in the topology"))
    if c.mode in ("host", "none"):
        return BridgePort(c.name, None, None, Unknown(f"container {c.name} uses --net={c.mode}: it has no bridge port"))
    if c.mode == "container":
        target = topo.container(c.shares_with or "")
        if target is None:
            return BridgePort(c.name, None, None, Unknown(f"container {c.name} shares the namespace of"
                                                           f" {c.shares_with}, which is not in the topology"))
        shared = bridge_port(topo, target.name, network)
        return BridgePort(c.name, shared.bridge, shared.port, shared.hairpin, shared.mac,
                          shared.notes + (f"{c.name} shares {target.name}'s network namespace",), shared.sources)
    endpoint = c.endpoint(network)
    if endpoint is None:
        what = f"on network {network}" if network else "on any network"
        return BridgePort(c.name, None, None, Unknown(f"container {c.name} has no known endpoint {what}"))
    host = topo.host_namespace
    bridge, notes = _bridge_of(topo, host, endpoint)
    if bridge is None:
        return BridgePort(c.name, None, None,
                          Unknown(f"the bridge of network {endpoint.network} is not known"
                                  " (docker-network-inspect.json or ip-addr.json missing)"), notes=tuple(notes))
    if host is None or host.links is None:
        return BridgePort(c.name, bridge, None,
                          Unknown(f"the ports of bridge {bridge} are not known (ip-addr.json/bridge-link.json missing)"),
                          notes=tuple(notes))

    port = _port_from_own_namespace(topo, c, host, bridge)
    mac, mac_source = _mac_of(host, endpoint, bridge)
    sources: list[Provenance] = []
    if port is not None:
        sources.append(port.provenance)
        notes.append(f"port {port.name} is the veth peer of {c.name}'s interface")
    elif mac is not None and host.fdb is not None:
        assert mac_source is not None
        sources.append(mac_source)
        for entry in host.fdb:
            if entry.mac.lower() == mac and not entry.is_local and entry.master in (bridge, None):
                candidate = host.link(entry.dev)
                if candidate is not None and candidate.master == bridge:
                    port = candidate
                    sources.append(entry.provenance)
                    notes.append(f"MAC {mac} of {c.name} is behind port {port.name} ({entry.provenance})")
                    break
    if port is not None:
        hairpin = port.hairpin
        if hairpin is None:
            return BridgePort(c.name, bridge, port.name,
                              Unknown(f"hairpin of bridge port {port.name} is not known (bridge-link.json missing)"),
                              mac, tuple(notes), tuple(sources))
        sources.append(port.provenance)
        return BridgePort(c.name, bridge, port.name, hairpin, mac, tuple(notes), tuple(sources))

    # No join: fall back to what all ports share.
    if mac is None:
        why = "ip-neigh.json has no entry for its address and docker-inspect.json gives no MacAddress"
        if host.neighbours is None:
            why = "ip-neigh.json and docker-inspect.json (MacAddress) are missing"
    elif host.fdb is None:
        why = f"bridge-fdb.json is missing (MAC {mac} is known)"
    else:
        why = f"bridge-fdb.json has no entry for MAC {mac} on bridge {bridge}"
    ports = host.ports_of(bridge)
    flags = {p.hairpin for p in ports}
    if ports and len(flags) == 1 and None not in flags:
        (shared,) = flags
        notes.append(f"which port of {bridge} {c.name} sits on is not known ({why}); every port of {bridge}"
                     f" has hairpin {'on' if shared else 'off'}, so that value is used")
        return BridgePort(c.name, bridge, None, bool(shared), mac, tuple(notes),
                          tuple(p.provenance for p in ports))
    if not ports:
        return BridgePort(c.name, bridge, None, Unknown(f"bridge {bridge} has no known ports ({why})"), mac,
                          tuple(notes))
    if None in flags:
        return BridgePort(c.name, bridge, None,
                          Unknown(f"which port of {bridge} {c.name} sits on is not known ({why}), and the hairpin"
                                  " flags of its ports are not known (bridge-link.json missing)"), mac, tuple(notes))
    return BridgePort(c.name, bridge, None,
                      Unknown(f"which port of {bridge} {c.name} sits on is not known ({why}), and the ports of"
                              f" {bridge} differ in hairpin"), mac, tuple(notes))
