"""Readers for ``docker inspect`` (containers) and ``docker network inspect`` (networks) JSON.

Docker's JSON has many fields natsim does not need, and gains more each release; those
are ignored (docs/decisions/0040).  The fields read are type-checked; a wrong type or a
truncated file is an error naming the file and place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from natsim.errors import InputError
from natsim.topology.iproute import JsonEntry, json_entries, load_json_list
from natsim.topology.model import (
    Container,
    DockerNetwork,
    Endpoint,
    Finding,
    GatewayMode,
    Provenance,
    PublishedPort,
    Topology,
    assumed,
)
from natsim.topology.values import Place, parse_address, parse_interface_address, parse_mac, parse_network, parse_port

_OPT = "com.docker.network.bridge."
_GATEWAY_MODES = ("nat", "nat-unprotected", "routed", "isolated")


def _sub(e: JsonEntry, *path: str) -> dict[str, Any] | None:
    """A nested object by key path, type-checked; None when absent or null."""
    cur: Any = e.data
    for i, key in enumerate(path):
        if cur is None:
            return None
        if not isinstance(cur, dict):
            raise e.place(path[i - 1]).error(f"found {'.'.join(path[:i])} = {cur!r}", "expected a JSON object")
        cur = cur.get(key)
    if cur is not None and not isinstance(cur, dict):
        raise e.place(path[-1]).error(f"found {'.'.join(path)} = {cur!r}", "expected a JSON object")
    return cur


def _opt_bool(options: dict[str, Any], key: str) -> bool | None:
    v = options.get(key)
    if v is None:
        return None
    return str(v).lower() in ("true", "1", "yes", "on")


def _gateway_mode(options: dict[str, Any], key: str, place: Place) -> GatewayMode | None:
    v = options.get(key)
    if v is None or v == "":
        return None
    if v not in _GATEWAY_MODES:
        raise place.error(f"found {key} = {v!r}", f"expected one of {', '.join(_GATEWAY_MODES)}")
    return v  # type: ignore[return-value]


def _ipv4(value: object, place: Place, key: str):  # type: ignore[no-untyped-def]
    addr = parse_address(value, place)
    if addr.version != 4:
        raise place.error(f"found {key} = {value!r}", "expected an IPv4 address")
    return addr


def parse_network_inspect(text: str, file: str = "docker-network-inspect.json") -> tuple[DockerNetwork, ...]:
    """``docker network inspect $(docker network ls -q)``."""
    out = []
    for e in json_entries(text, file):
        prov = Provenance(file, "read", None, f"network {e.data.get('Name')!s}")
        name = e.need("Name", str)
        net_id = e.get("Id", str)
        driver = e.get("Driver", str)
        options = e.get("Options", dict, {}) or {}
        ipam = _sub(e, "IPAM") or {}
        configs = ipam.get("Config") or []
        if not isinstance(configs, list):
            raise e.place("Config").error(f"found IPAM.Config = {configs!r}", "expected a JSON array")
        subnets, gateways = [], []
        for cfg in configs:
            if not isinstance(cfg, dict):
                raise e.place("Config").error(f"found IPAM.Config entry {cfg!r} in network {name}",
                                              "expected a JSON object such as {\"Subnet\": \"172.17.0.0/16\"}")
            if cfg.get("Subnet"):
                subnets.append(parse_network(cfg["Subnet"], e.place("Subnet")))
            if cfg.get("Gateway"):
                gateways.append(parse_address(cfg["Gateway"], e.place("Gateway")))
        for key, value in options.items():
            if value is not None and not isinstance(value, str):
                raise e.place(key).error(f"found Options[{key!r}] = {value!r} in network {name}",
                                         "expected a string (Docker prints every option as one)")
        bridge = options.get(_OPT + "name") or None
        if bridge is None and driver == "bridge" and net_id:
            bridge = f"br-{net_id[:12]}"  # libnetwork names a user network's bridge br-<id12>
        hb = options.get(_OPT + "host_binding_ipv4")
        place = e.place("Options")
        icc = masq = None
        mode4 = _gateway_mode(options, _OPT + "gateway_mode_ipv4", place)
        mode6 = _gateway_mode(options, _OPT + "gateway_mode_ipv6", place)
        defaults: list[tuple[str, Provenance]] = []
        if driver == "bridge":
            # an option Docker was not given is absent from Options; the daemon then uses its default
            icc = _opt_bool(options, _OPT + "enable_icc")
            masq = _opt_bool(options, _OPT + "enable_ip_masquerade")
            for key, value in (("icc", icc), ("masquerade", masq), ("gateway_mode_v4", mode4),
                               ("gateway_mode_v6", mode6)):
                if value is None:
                    defaults.append((key, assumed(f"{name}: the option is absent from Options; Docker's default")))
            icc = True if icc is None else icc
            masq = True if masq is None else masq
            mode4 = mode4 or "nat"
            mode6 = mode6 or "nat"
        out.append(DockerNetwork(
            name=name, id=net_id, driver=driver, bridge=bridge,
            subnets=tuple(subnets), gateways=tuple(gateways),
            icc=icc, internal=e.get("Internal", bool), masquerade=masq,
            gateway_mode_v4=mode4, gateway_mode_v6=mode6,
            enable_ipv6=e.get("EnableIPv6", bool),
            host_binding_ipv4=_ipv4(hb, place, _OPT + "host_binding_ipv4") if hb else None,
            provenance=prov, field_sources=tuple(defaults),
        ))
    return tuple(out)


def _ports(e: JsonEntry, prov: Provenance) -> tuple[PublishedPort, ...] | None:
    """The bindings Docker made (NetworkSettings.Ports), else the requested ones (HostConfig.PortBindings)."""
    ports = _sub(e, "NetworkSettings", "Ports")
    if ports is None:
        ports = _sub(e, "HostConfig", "PortBindings")
    if ports is None:
        return None
    out = []
    for key, bindings in ports.items():
        cport, _, proto = key.partition("/")
        place = e.place("Ports")
        container_port = parse_port(cport, place)
        if proto not in ("", "tcp", "udp", "sctp"):
            raise place.error(f"found port {key!r}", "expected PORT/tcp, PORT/udp or PORT/sctp")
        if not bindings:
            continue  # exposed, not published
        if not isinstance(bindings, list):
            raise place.error(f"found Ports[{key!r}] = {bindings!r}", "expected a JSON array of bindings")
        for b in bindings:
            if not isinstance(b, dict):
                raise place.error(f"found binding {b!r}", "expected {\"HostIp\": ..., \"HostPort\": ...}")
            host_ip = b.get("HostIp") or None
            host_port = b.get("HostPort") or None
            out.append(PublishedPort(
                container_port=container_port, proto=proto or "tcp",
                host_port=None if host_port is None else parse_port(host_port, place),
                host_ip=None if host_ip is None else parse_address(host_ip, place),
                provenance=prov,
            ))
    return tuple(out)


def parse_container_inspect(text: str, file: str = "docker-inspect.json") -> tuple[Container, ...]:
    """``docker inspect $(docker ps -q)``: names, network mode, endpoints (address, MAC) and ports."""
    out = []
    seen: set[str] = set()
    for e in json_entries(text, file):
        name = e.need("Name", str).lstrip("/")
        if not name or name in seen:
            raise e.place("Name").error(f"found \"Name\": {e.data['Name']!r} in entry {e.index + 1}",
                                        "expected a container name, different for each container" if name else
                                        "expected a container name such as \"/web\"")
        seen.add(name)
        prov = Provenance(file, "read", None, f"container {name}")
        host_config = _sub(e, "HostConfig") or {}
        mode = host_config.get("NetworkMode")
        if mode is not None and not isinstance(mode, str):
            raise e.place("NetworkMode").error(f"found NetworkMode = {mode!r}", "expected a string")
        if mode == "default":
            mode = "bridge"  # dockerd's name for the default network mode on Linux
        networks = _sub(e, "NetworkSettings", "Networks")
        endpoints: tuple[Endpoint, ...] | None = None
        if networks is not None:
            eps = []
            for net_name, cfg in networks.items():
                if not isinstance(cfg, dict):
                    raise e.place(net_name).error(f"found Networks[{net_name!r}] = {cfg!r}", "expected a JSON object")
                eps.append(_endpoint(net_name, cfg, e.place(net_name), prov))
            endpoints = tuple(eps)
        state = _sub(e, "State") or {}
        running = state.get("Running")
        sandbox = (_sub(e, "NetworkSettings") or {}).get("SandboxKey")
        out.append(Container(
            name=name, id=e.get("Id", str), network_mode=mode, endpoints=endpoints, ports=_ports(e, prov),
            running=running if isinstance(running, bool) else None,
            sandbox=sandbox if isinstance(sandbox, str) and sandbox else None, provenance=prov,
        ))
    return tuple(out)


def _endpoint(net_name: str, cfg: dict[str, Any], place: Place, prov: Provenance) -> Endpoint:
    def addr(key: str, version: int | None = None):  # type: ignore[no-untyped-def]
        v = cfg.get(key)
        if not v:
            return None
        a = parse_address(v, place, f"{key} of network {net_name} as an IP address")
        if version is not None and a.version != version:
            raise place.error(f"found {key} = {v!r} in network {net_name}", f"expected an IPv{version} address")
        return a

    def plen(key: str, version: int) -> int | None:
        v = cfg.get(key)
        if v is None or v == 0:
            return None  # Docker prints 0 for an endpoint without an address of that family
        if not isinstance(v, int) or isinstance(v, bool) or not 0 < v <= (32 if version == 4 else 128):
            raise place.error(f"found {key} = {v!r} in network {net_name}",
                              f"expected a prefix length from 1 to {32 if version == 4 else 128}")
        return v

    mac = cfg.get("MacAddress")
    return Endpoint(
        network=net_name, ipv4=addr("IPAddress", 4), ipv4_prefixlen=plen("IPPrefixLen", 4),
        ipv6=addr("GlobalIPv6Address", 6), ipv6_prefixlen=plen("GlobalIPv6PrefixLen", 6),
        mac=parse_mac(mac, place) if mac else None, gateway=addr("Gateway", 4), gateway6=addr("IPv6Gateway", 6),
        provenance=prov,
    )


def endpoints_from_network_inspect(text: str, file: str = "docker-network-inspect.json") -> dict[str, list[Endpoint]]:
    """``Containers`` of each network: container name → its endpoints, for hosts without docker-inspect.json."""
    out: dict[str, list[Endpoint]] = {}
    for e in json_entries(text, file):
        net = e.need("Name", str)
        for cid, c in (e.get("Containers", dict, {}) or {}).items():
            if not isinstance(c, dict):
                continue
            name = c.get("Name") or cid
            place = e.place("Containers")
            if not isinstance(name, str):
                raise place.error(f"found Containers[{cid!r}].Name = {name!r} in network {net}",
                                  "expected a container name as a string")
            v4 = parse_interface_address(c["IPv4Address"], place) if c.get("IPv4Address") else None
            v6 = parse_interface_address(c["IPv6Address"], place) if c.get("IPv6Address") else None
            for key, got, version in (("IPv4Address", v4, 4), ("IPv6Address", v6, 6)):
                if got is not None and got[0].version != version:
                    raise place.error(f"found Containers[{cid!r}].{key} = {c[key]!r} in network {net}",
                                      f"expected an IPv{version} address with prefix")
            mac = c.get("MacAddress")
            out.setdefault(name, []).append(Endpoint(
                network=net, ipv4=v4[0] if v4 else None, ipv4_prefixlen=v4[1] if v4 else None,
                ipv6=v6[0] if v6 else None, ipv6_prefixlen=v6[1] if v6 else None,
                mac=parse_mac(mac, place) if mac else None,
                provenance=Provenance(file, "read", None, f"network {net} container {name}"),
            ))
    return out


def _looks_like_networks(entries: list[dict[str, Any]]) -> bool:
    return all("IPAM" in e or ("Driver" in e and "Config" not in e and "HostConfig" not in e) for e in entries)


def parse_docker_json(text: str, file: str) -> Topology:
    """Either ``docker inspect`` or ``docker network inspect`` output, told apart by its fields."""
    entries = load_json_list(text, file)
    if not entries:
        return Topology(containers=(), findings=(Finding(f"{file}: an empty list; no Docker facts", "note"),))
    if _looks_like_networks(entries):
        return Topology(networks=parse_network_inspect(text, file))
    if not all("HostConfig" in e or "NetworkSettings" in e for e in entries):
        raise InputError(file, 1, 1, "found JSON objects that are neither containers nor networks",
                         "expected `docker inspect` or `docker network inspect` output")
    return Topology(containers=parse_container_inspect(text, file))


def load_docker_json(path: str | Path) -> Topology:
    """Read a ``docker inspect`` / ``docker network inspect`` JSON file into a Topology."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as err:
        raise InputError(str(p), 0, 1, f"cannot read the file ({err.strerror})", "expected a readable JSON file") from None
    return parse_docker_json(text, str(p))
