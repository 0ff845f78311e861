"""Small parsers shared by the topology adapters: addresses, MACs, ``-p`` specs, with located errors.

Every adapter reads text written by someone else; a bad value must name its file and
place, never become a traceback or a silent default.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from natsim.errors import InputError
from natsim.model.values import IPAddress, IPNetwork
from natsim.topology.model import TABLE_MAIN, TABLE_NAMES

_MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")


@dataclass(frozen=True, slots=True)
class Place:
    """Where a value was read, for error messages: a file, and a line/column when known."""

    file: str
    line: int = 0
    column: int = 1
    source_line: str | None = None
    finder: Callable[[], tuple[int, int, str | None]] | None = None  # finds line/column only when an error needs it

    def error(self, found: str, expected: str) -> InputError:
        if self.finder is not None:
            line, column, source_line = self.finder()
            return InputError(self.file, line, column, found, expected, source_line)
        return InputError(self.file, self.line, self.column, found, expected, self.source_line)


def parse_address(text: object, place: Place, what: str = "an IP address") -> IPAddress:
    if not isinstance(text, str):
        raise place.error(f"found {text!r}", f"expected {what} as a string")
    try:
        return ipaddress.ip_address(text.strip().split("%", 1)[0])
    except ValueError:
        raise place.error(f"found {text!r}", f"expected {what}") from None


def parse_network(text: object, place: Place, what: str = "a prefix such as 172.17.0.0/16") -> IPNetwork:
    if not isinstance(text, str):
        raise place.error(f"found {text!r}", f"expected {what} as a string")
    t = text.strip()
    if t == "default":
        return ipaddress.ip_network("0.0.0.0/0")
    try:
        return ipaddress.ip_network(t, strict=False)
    except ValueError:
        raise place.error(f"found {text!r}", f"expected {what}") from None


def parse_interface_address(text: object, place: Place) -> tuple[IPAddress, int]:
    """``192.0.2.10/24`` → (address, 24); a bare address gets the full-length prefix."""
    if not isinstance(text, str):
        raise place.error(f"found {text!r}", "expected an address with prefix such as 192.0.2.10/24")
    try:
        iface = ipaddress.ip_interface(text.strip())
    except ValueError:
        raise place.error(f"found {text!r}", "expected an address with prefix such as 192.0.2.10/24") from None
    return iface.ip, iface.network.prefixlen


def parse_table(value: object, place: Place) -> int:
    """A routing table as ip prints it (``main``, ``local``, ``default`` or a number); absent means main."""
    if value is None:
        return TABLE_MAIN
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        if value in TABLE_NAMES:
            return TABLE_NAMES[value]
        if value.isdigit():
            return int(value)
    raise place.error(f"found table {value!r}", "expected main, local, default or a number")


def parse_mac(text: object, place: Place) -> str:
    if not isinstance(text, str) or not _MAC.match(text.strip()):
        raise place.error(f"found {text!r}", "expected a MAC address such as 02:42:ac:11:00:02")
    return text.strip().lower()


def parse_port(value: object, place: Place) -> int:
    try:
        port = int(str(value))
    except ValueError:
        raise place.error(f"found {value!r}", "expected a port number 0-65535") from None
    if not 0 <= port <= 65535:
        raise place.error(f"found {value!r}", "expected a port number 0-65535")
    return port


def _port_range(text: str, place: Place) -> list[int]:
    lo, _, hi = text.partition("-")
    a = parse_port(lo, place)
    b = parse_port(hi, place) if hi else a
    if b < a:
        raise place.error(f"found port range {text!r}", "expected LOW-HIGH with LOW <= HIGH")
    return list(range(a, b + 1))


@dataclass(frozen=True, slots=True)
class PortSpec:
    """One published port as ``docker run -p`` writes it (after ranges were expanded)."""

    container_port: int
    proto: str
    host_port: int | None
    host_ip: IPAddress | None


def parse_publish(spec: str, place: Place) -> tuple[PortSpec, ...]:
    """``[IP:][HOSTPORT:]CONTAINERPORT[/PROTO]`` with ranges, ``[v6]:`` brackets, as ``docker run -p``."""
    text = spec.strip()
    proto = "tcp"
    if "/" in text:
        text, proto = text.rsplit("/", 1)
        if proto not in ("tcp", "udp", "sctp"):
            raise place.error(f"found protocol {proto!r} in {spec!r}", "expected tcp, udp or sctp")
    host_ip: IPAddress | None = None
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            raise place.error(f"found {spec!r}", "expected [IPv6]:HOSTPORT:CONTAINERPORT")
        host_ip = parse_address(text[1:end], place)
        text = text[end + 2 :]
        parts = text.split(":")
    else:
        parts = text.split(":")
        if len(parts) == 3:
            host_ip = parse_address(parts[0], place) if parts[0] else None
            parts = parts[1:]
    if len(parts) == 1:
        host_ports: list[int | None] = []
        cports = _port_range(parts[0], place)
        host_ports = [None] * len(cports)
    elif len(parts) == 2:
        cports = _port_range(parts[1], place)
        host_ports = list(_port_range(parts[0], place)) if parts[0] else [None] * len(cports)
        if len(host_ports) != len(cports):
            if len(cports) == 1 and parts[0]:
                # "8000-8010:80": Docker picks one host port of the range; which one is unknown
                host_ports = [None]
            else:
                raise place.error(f"found {spec!r}", "expected host and container port ranges of equal length")
    else:
        raise place.error(f"found {spec!r}", "expected [IP:][HOSTPORT:]CONTAINERPORT[/PROTO]")
    return tuple(PortSpec(c, proto, h, host_ip) for h, c in zip(host_ports, cports))


def locate(text: str, needle: str) -> tuple[int, int, str | None]:
    """The first line and column where ``needle`` occurs in ``text`` (1-based), for values without positions."""
    for i, line in enumerate(text.splitlines(), 1):
        col = line.find(needle)
        if col >= 0:
            return i, col + 1, line
    return 0, 1, None
