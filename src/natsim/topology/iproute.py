"""Readers for iproute2's JSON (``ip -j addr/route/rule/neigh``, ``bridge -j link/fdb``), ``sysctl -a`` and ``ss``.

Tool output changes between iproute2 releases, so fields this module does not use are
ignored (docs/decisions/0040); a field it uses with the wrong type, or JSON that does not
parse, is an error naming the file, line and column.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from typing import Any

from natsim.errors import InputError
from natsim.model.location import Location
from natsim.topology.model import (
    ROUTE_TYPES,
    FdbEntry,
    Link,
    LinkAddress,
    LinkKind,
    Listener,
    Neighbour,
    PolicyRule,
    Provenance,
    Route,
    Sysctl,
    read_from,
)
from natsim.topology.values import Place, locate, parse_address, parse_network, parse_table



def load_json_list(text: str, file: str) -> list[dict[str, Any]]:
    """Parse a JSON array of objects (what every ``-j`` command prints), with located errors."""
    if not text.strip():
        return []
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        lines = text.splitlines()
        src = lines[err.lineno - 1] if 0 < err.lineno <= len(lines) else None
        what = "the file ends in the middle of the JSON (truncated?)" if err.pos >= len(text.rstrip()) else err.msg
        raise InputError(file, err.lineno, err.colno, f"invalid JSON: {what}", "expected the output of a -j command",
                         src) from None
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise InputError(file, 1, 1, f"found a JSON {type(data).__name__}", "expected a JSON array of objects")
    return data


class JsonEntry:
    """One object of a JSON array: typed access to the fields a reader uses."""

    def __init__(self, data: dict[str, Any], index: int, file: str, text: str) -> None:
        self.data = data
        self.index = index
        self.file = file
        self.text = text

    def provenance(self) -> Provenance:
        return Provenance(self.file, "read", None, f"entry {self.index + 1}")

    def place(self, key: str) -> Place:
        """Where ``key`` of this entry is; searched for only when an error is raised."""
        value = self.data.get(key)
        needle = f'"{key}":' if not isinstance(value, str) else f'"{value}"'

        def find() -> tuple[int, int, str | None]:
            line, col, src = locate(self.text, needle)
            return line, col, src if src is not None and len(src) < 300 else None

        return Place(self.file, finder=find)

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        if key not in self.data or self.data[key] is None:
            return default
        value = self.data[key]
        if not isinstance(value, kind) or (kind in (int, (int,)) and isinstance(value, bool)):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.place(key).error(f"found \"{key}\": {value!r} in entry {self.index + 1}", f"expected a {names}")
        return value

    def need(self, key: str, kind: type | tuple[type, ...]) -> Any:
        if key not in self.data:
            raise InputError(self.file, 0, 1, f"entry {self.index + 1} has no \"{key}\"",
                             f"expected every entry to have \"{key}\"")
        if self.data[key] is None:  # get() reads null as absent; a needed field must have a value
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise self.place(key).error(f"found \"{key}\": null in entry {self.index + 1}", f"expected a {names}")
        return self.get(key, kind)

    def nested(self, key: str, kinds: dict[str, type]) -> dict[str, Any]:
        """A nested object (``linkinfo``) whose fields in ``kinds`` are type-checked; {} when absent or null."""
        value = self.get(key, dict) or {}
        for sub, kind in kinds.items():
            v = value.get(sub)
            if v is not None and not isinstance(v, kind):
                raise self.place(sub).error(f"found \"{key}\".\"{sub}\": {v!r} in entry {self.index + 1}",
                                            f"expected a JSON {'object' if kind is dict else kind.__name__}")
        return value


def json_entries(text: str, file: str) -> list[JsonEntry]:
    return [JsonEntry(d, i, file, text) for i, d in enumerate(load_json_list(text, file))]


_LINKINFO = {"info_kind": str, "info_slave_kind": str, "info_data": dict, "info_slave_data": dict}


def _kind(e: JsonEntry, masters: set[str]) -> LinkKind | None:
    info = e.nested("linkinfo", _LINKINFO)
    kind = info.get("info_kind")
    name = e.need("ifname", str)
    if e.get("link_type", str) == "loopback":
        return "loopback"
    if kind == "bridge" or name in masters:
        return "bridge"
    if kind == "veth":
        return "veth"
    if kind:
        return "other"
    if "linkinfo" in e.data or "min_mtu" in e.data or "promiscuity" in e.data:  # printed by -d only
        return "physical" if e.get("link_type", str) == "ether" else "other"
    return None  # plain `ip -j addr` does not say; -d does


def parse_ip_addr(text: str, file: str = "ip-addr.json", namespace_names: dict[int, str] | None = None) -> tuple[Link, ...]:
    """``ip -j [-d] addr``: interfaces with addresses, flags, master and (with -d) kind and port flags.

    ``namespace_names`` maps ``link_netnsid`` to namespace names when the caller knows them.
    """
    entries = json_entries(text, file)
    masters = {e.get("master", str) for e in entries} - {None}
    out = []
    seen: set[str] = set()
    for e in entries:
        prov = e.provenance()
        if e.need("ifname", str) in seen:
            raise e.place("ifname").error(f"found interface {e.data['ifname']!r} again in entry {e.index + 1}",
                                          "expected each interface once (one namespace's `ip -j addr`)")
        seen.add(e.data["ifname"])
        flags = e.get("flags", list, [])
        addrs = []
        for a in e.get("addr_info", list, []):
            if not isinstance(a, dict) or "local" not in a:
                continue
            addr = parse_address(a["local"], e.place("addr_info"))
            plen = a.get("prefixlen")
            if not isinstance(plen, int) or isinstance(plen, bool) or not 0 <= plen <= addr.max_prefixlen:
                raise e.place("addr_info").error(f"found prefixlen {plen!r} for {addr} in entry {e.index + 1}",
                                                 f"expected a number from 0 to {addr.max_prefixlen}")
            addrs.append(LinkAddress(addr, plen, a.get("scope"), prov))
        info = e.nested("linkinfo", _LINKINFO)
        slave = info.get("info_slave_data") if info.get("info_slave_kind") == "bridge" else None
        bridge_data = info.get("info_data") if info.get("info_kind") == "bridge" else None
        peer = e.get("link", str)
        netnsid = e.get("link_netnsid", int)
        peer_ns = None
        if netnsid is not None and namespace_names is not None:
            peer_ns = namespace_names.get(netnsid)
        mac = e.get("address", str)
        out.append(Link(
            name=e.need("ifname", str),
            kind=_kind(e, masters),
            addresses=tuple(addrs),
            up="UP" in flags,
            mac=mac.lower() if mac else None,
            index=e.get("ifindex", int),
            master=e.get("master", str),
            hairpin=_bool(slave.get("hairpin")) if slave else None,
            port_state=slave.get("state") if slave else None,
            isolated=_bool(slave.get("isolated")) if slave else None,
            peer=peer,
            peer_namespace=peer_ns,
            link_index=e.get("link_index", int),
            mtu=e.get("mtu", int),
            bridge_nf_call_iptables=_bool(bridge_data.get("nf_call_iptables")) if bridge_data else None,
            bridge_nf_call_ip6tables=_bool(bridge_data.get("nf_call_ip6tables")) if bridge_data else None,
            provenance=prov,
        ))
    return tuple(out)


def _bool(value: object) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str):
        return value.lower() in ("on", "true", "1", "yes")
    return None


def apply_bridge_link(links: tuple[Link, ...] | None, text: str, file: str = "bridge-link.json") -> tuple[Link, ...]:
    """``bridge -j -d link``: set each port's master, state, hairpin and isolation on the interfaces."""
    by_name = {l.name: l for l in links or ()}
    order = [l.name for l in links or ()]
    for e in json_entries(text, file):
        name = e.need("ifname", str)
        prov = e.provenance()
        base = by_name.get(name)
        if base is None:
            base = Link(name, index=e.get("ifindex", int), provenance=prov)
            order.append(name)
        fields = []
        changes: dict[str, Any] = {}
        for key, attr, conv in (("master", "master", str), ("hairpin", "hairpin", _bool), ("state", "port_state", str),
                                ("isolated", "isolated", _bool)):
            if key in e.data and e.data[key] is not None:
                changes[attr] = conv(e.data[key])  # type: ignore[operator]
                fields.append((attr, prov))
        by_name[name] = replace(base, **changes, field_sources=base.field_sources + tuple(fields))
    # an interface that is some port's master is a bridge
    masters = {l.master for l in by_name.values() if l.master}
    for m in masters:
        if m in by_name and by_name[m].kind is None:
            by_name[m] = replace(by_name[m], kind="bridge")
    return tuple(by_name[n] for n in order)


def _family_of_route(e: JsonEntry) -> int:
    for key in ("gateway", "prefsrc", "dst"):
        v = e.data.get(key)
        if isinstance(v, str) and v != "default":
            return 6 if ":" in v else 4
    via = e.data.get("via")
    if isinstance(via, dict) and via.get("family") == "inet6":
        return 6
    return 6 if "pref" in e.data else 4  # iproute2 prints "pref" only for IPv6 routes


def parse_ip_route(text: str, file: str = "ip-route.json") -> tuple[Route, ...]:
    """``ip -j route show table all`` (both families; ``default`` is read by family)."""
    out = []
    for e in json_entries(text, file):
        prov = e.provenance()
        family = _family_of_route(e)
        dst_text = e.need("dst", str)
        if dst_text == "default":
            dst_text = "0.0.0.0/0" if family == 4 else "::/0"
        dst = parse_network(dst_text, e.place("dst"))
        rtype = e.get("type", str, "unicast")
        if rtype not in ROUTE_TYPES:
            raise e.place("type").error(f"found route type {rtype!r}", f"expected one of {', '.join(sorted(ROUTE_TYPES))}")
        gw = e.get("gateway", str)
        src = e.get("prefsrc", str)
        dev = e.get("dev", str)
        prov = e.provenance()
        hops = e.get("nexthops", list)
        if hops and gw is None and dev is None and isinstance(hops[0], dict):
            # a multipath route: the model holds one next hop; which one a flow hashes to is not known
            gw, dev = hops[0].get("gateway"), hops[0].get("dev")
            prov = replace(prov, detail=f"{prov.detail} (multipath: first of {len(hops)} next hops)")
        out.append(Route(
            dst=dst, type=rtype, dev=dev,
            gateway=None if gw is None else parse_address(gw, e.place("gateway")),
            prefsrc=None if src is None else parse_address(src, e.place("prefsrc")),
            table=parse_table(e.data.get("table"), e.place("table")),
            metric=e.get("metric", int), scope=e.get("scope", str), protocol=e.get("protocol", str),
            provenance=prov,
        ))
    return tuple(out)


def parse_ip_rule(text: str, file: str = "ip-rule.json", family: int = 4) -> tuple[PolicyRule, ...]:
    """``ip -j rule`` (``ip -6 -j rule`` with family 6)."""
    out = []
    for e in json_entries(text, file):
        prov = e.provenance()
        action = e.get("action", str, "lookup")
        table = e.data.get("table")
        if action == "lookup" and table is None and "goto" not in e.data:
            table = "main"
        src = e.get("src", str)
        dst = e.get("dst", str)
        srclen = e.get("srclen", int)
        dstlen = e.get("dstlen", int)
        mark = e.get("fwmark", (str, int))
        mask = e.get("fwmask", (str, int))
        if action not in ("lookup", "blackhole", "unreachable", "prohibit", "nop", "goto"):
            action = "lookup" if table is not None else action
        if "goto" in e.data:
            action = "goto"
        out.append(PolicyRule(
            priority=e.need("priority", int), family=family,
            table=parse_table(table, e.place("table")) if table is not None else None,
            action=action,
            src=None if src in (None, "all") else parse_network(f"{src}/{srclen}" if srclen is not None else src,
                                                                e.place("src")),
            dst=None if dst in (None, "all") else parse_network(f"{dst}/{dstlen}" if dstlen is not None else dst,
                                                                e.place("dst")),
            iif=e.get("iif", str), oif=e.get("oif", str),
            fwmark=None if mark is None else _mark(mark, e, "fwmark"),
            fwmask=None if mask is None else _mark(mask, e, "fwmask"),
            invert="not" in e.data,  # iproute2 prints "not": null for an inverted rule
            suppress_prefixlength=e.get("suppress_prefixlen", int),
            provenance=prov,
        ))
    return tuple(out)


def _mark(value: str | int, e: JsonEntry, key: str) -> int:
    """A firewall mark or mask as ip prints it (``0x1``, or a number): 32 bits."""
    try:
        mark = value if isinstance(value, int) else int(value, 0)
    except ValueError:
        mark = -1
    if not 0 <= mark <= 0xFFFFFFFF:
        raise e.place(key).error(f"found \"{key}\": {value!r} in entry {e.index + 1}",
                                 "expected a 32-bit mark such as 0x1")
    return mark


def parse_ip_neigh(text: str, file: str = "ip-neigh.json") -> tuple[Neighbour, ...]:
    out = []
    for e in json_entries(text, file):
        state = e.get("state", (list, str))
        if isinstance(state, list) and not all(isinstance(x, str) for x in state):
            raise e.place("state").error(f"found \"state\": {state!r} in entry {e.index + 1}",
                                         "expected a list of strings such as [\"REACHABLE\"]")
        mac = e.get("lladdr", str)
        out.append(Neighbour(
            address=parse_address(e.need("dst", str), e.place("dst")), dev=e.need("dev", str),
            mac=mac.lower() if mac else None,
            state=",".join(state) if isinstance(state, list) else state,
            provenance=e.provenance(),
        ))
    return tuple(out)


def parse_bridge_fdb(text: str, file: str = "bridge-fdb.json") -> tuple[FdbEntry, ...]:
    out = []
    for e in json_entries(text, file):
        flags = e.get("flags", list, [])
        out.append(FdbEntry(
            mac=e.need("mac", str).lower(), dev=e.need("ifname", str), master=e.get("master", str),
            vlan=e.get("vlan", int), flags=tuple(sorted(str(f) for f in flags)), state=e.get("state", str) or None,
            provenance=e.provenance(),
        ))
    return tuple(out)


_SYSCTL = re.compile(r"^\s*([A-Za-z0-9_.\-/@:]+)\s*=\s*(.*?)\s*$")


def parse_sysctl(text: str, file: str = "sysctl.txt") -> tuple[Sysctl, ...]:
    """``sysctl -a`` (``key = value`` per line); lines sysctl prints on errors are rejected with their place."""
    out = []
    for no, line in enumerate(text.splitlines(), 1):
        key, eq, value = line.partition(" = ")  # the form sysctl prints; anything else goes through the regex
        if not eq or " " in key:
            if not line.strip() or line.lstrip().startswith(("#", ";")):
                continue
            m = _SYSCTL.match(line)
            if m is None:
                raise InputError(file, no, 1, f"found {line.strip()[:60]!r}",
                                 "expected `key = value` as sysctl -a prints", line)
            key, value = m.group(1), m.group(2)
        out.append(Sysctl(key.strip().replace("/", "."), value.strip(), Provenance(file, "read", Location(file, no))))
    return tuple(out)


_USERS = re.compile(r'\(\("([^"]*)",pid=(\d+)')


def _ss_endpoint(text: str, place: Place) -> tuple[str, str | None, int, bool | None]:
    """``0.0.0.0:80``, ``[::]:80``, ``*:80``, ``127.0.0.1%lo:80`` → (address, device, port, v6only)."""
    host, _, port = text.rpartition(":")
    v6only: bool | None = None
    if host == "*":
        host, v6only = "::", False  # ss prints * for an IPv6 wildcard with v6only=0 (dual stack)
    elif host.startswith("["):
        host = host[1:].split("]", 1)[0]
        if host == "::":
            v6only = True
    device = None
    if "%" in host:
        host, device = host.split("%", 1)
    if not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise place.error(f"found local address {text!r}", "expected ADDRESS:PORT with a port from 0 to 65535")
    return host, device, int(port), v6only


def parse_ss(text: str, file: str = "ss.txt") -> tuple[Listener, ...]:
    """``ss -Hltnup``: listening TCP and bound UDP sockets, with the process when ss could see it."""
    out = []
    for no, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if not words:
            continue
        if words[0] in ("Netid", "State"):
            continue  # a header: ss without -H
        if len(words) < 6 or words[0] not in ("tcp", "udp", "sctp", "raw", "u_str", "u_dgr", "p_raw", "nl"):
            raise InputError(file, no, 1, f"found {line.strip()[:60]!r}",
                             "expected `PROTO STATE RECV-Q SEND-Q LOCAL PEER [users:...]` as `ss -Hltnup` prints", line)
        proto = words[0]
        if proto not in ("tcp", "udp", "sctp"):
            continue
        place = Place(file, no, line.find(words[4]) + 1, line)
        host, device, port, v6only = _ss_endpoint(words[4], place)
        users = _USERS.search(line)
        out.append(Listener(
            proto=proto, address=parse_address(host, place), port=port,
            process=users.group(1) if users else None, pid=int(users.group(2)) if users else None,
            device=device, v6only=v6only, provenance=read_from(file, no),
        ))
    return tuple(out)
