"""Endpoints as users write them on the command line, before anything is resolved.

``--from`` names who opens the connection (``outside``, ``outside:eth0``, ``host``,
``container:web``, an address); ``--to`` names what it connects to (``host:8066/tcp``,
``10.0.0.5:80/tcp``, ``[2001:db8::1]:80/udp``, ``10.0.0.5/icmp``,
``container:db:3306/tcp``).  Parsing is pure syntax: which container ``web`` is,
and which addresses ``host`` has, is decided later against the topology
(:mod:`natsim.explain.resolve`), so that a typo here fails before any file is read.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Literal

from natsim.errors import UsageError
from natsim.model.values import IPAddress

SourceKind = Literal["outside", "host", "container", "address"]
DestKind = Literal["host", "container", "address"]

#: Protocols a destination may name; ``icmp`` means an echo request (and its reply).
PROTOCOLS = ("tcp", "udp", "sctp", "icmp")

SOURCE_FORMS = "outside, outside:IFACE, host, container:NAME, or an address (10.0.0.9, 2001:db8::9)"
DEST_FORMS = (
    "host:PORT/PROTO, ADDRESS:PORT/PROTO, [V6ADDRESS]:PORT/PROTO, ADDRESS/icmp, host/icmp, "
    "container:NAME:PORT/PROTO or container:NAME/icmp (PROTO is tcp, udp or sctp)"
)


@dataclass(frozen=True, slots=True)
class Source:
    """Who opens the connection.  ``name`` is the interface (outside) or container name."""

    kind: SourceKind
    name: str | None = None
    address: IPAddress | None = None

    def __str__(self) -> str:
        if self.kind == "address":
            return str(self.address)
        return self.kind if self.name is None else f"{self.kind}:{self.name}"


@dataclass(frozen=True, slots=True)
class Destination:
    """What the connection is opened to.  ``port`` is None for ICMP echo."""

    kind: DestKind
    proto: str
    port: int | None = None
    name: str | None = None  # container name
    address: IPAddress | None = None

    @property
    def is_icmp(self) -> bool:
        return self.proto == "icmp"

    def __str__(self) -> str:
        if self.kind == "address":
            assert self.address is not None
            where = f"[{self.address}]" if self.address.version == 6 and self.port is not None else str(self.address)
        elif self.kind == "container":
            where = f"container:{self.name}"
        else:
            where = "host"
        if self.port is None:
            return f"{where}/{self.proto}"
        return f"{where}:{self.port}/{self.proto}"


def parse_address(text: str) -> IPAddress | None:
    """An address, bare or in a matched pair of brackets (``[::1]``; not ``[::1`` or ``::1]``)."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
        if ":" not in text:
            return None  # brackets are for IPv6 only
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _bad(kind: str, text: str, why: str, forms: str) -> UsageError:
    return UsageError(f"natsim: bad {kind} endpoint {text!r}: {why}; expected {forms}")


def parse_source(text: str) -> Source:
    """``--from``: outside[:IFACE] | host | container:NAME | ADDRESS."""
    text = text.strip()
    head, sep, rest = text.partition(":")
    if text == "outside":
        return Source("outside")
    if head == "outside" and sep and rest and parse_address(text) is None:
        return Source("outside", name=rest)
    if text == "host":
        return Source("host")
    if head == "container":
        if not rest or ":" in rest or "/" in rest:
            raise _bad("source", text, "a container name is needed after 'container:' (no port)", SOURCE_FORMS)
        return Source("container", name=rest)
    addr = parse_address(text)
    if addr is not None:
        return Source("address", address=addr)
    raise _bad("source", text, "not a known endpoint form", SOURCE_FORMS)


def _split_proto(text: str, whole: str) -> tuple[str, str | None]:
    """``X/PROTO`` -> (X, proto); a ``/`` that is part of nothing else must name a protocol."""
    body, sep, proto = text.rpartition("/")
    if not sep:
        return text, None
    proto = proto.lower()
    if proto in ("icmpv6", "ipv6-icmp", "ping"):
        proto = "icmp"
    if proto not in PROTOCOLS:
        raise _bad("destination", whole, f"unknown protocol {proto!r}", DEST_FORMS)
    return body, proto


def _port(text: str, whole: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 65536:  # "²".isdigit() is True
        raise _bad("destination", whole, f"port {text!r} is not a number from 1 to 65535", DEST_FORMS)
    return int(text)


def _checked(dest: Destination, whole: str) -> Destination:
    if dest.is_icmp and dest.port is not None:
        raise _bad("destination", whole, "ICMP has no port (write ADDRESS/icmp)", DEST_FORMS)
    if not dest.is_icmp and dest.port is None:
        raise _bad("destination", whole, "a port is needed for " + dest.proto, DEST_FORMS)
    return dest


def parse_destination(text: str) -> Destination:
    """``--to``: host:PORT/PROTO | ADDRESS:PORT/PROTO | [V6]:PORT/PROTO | ADDRESS/icmp | container:NAME:PORT/PROTO.

    A missing ``/PROTO`` means tcp, the common case ("is port 8066 reachable?").
    """
    whole = text.strip()
    body, proto = _split_proto(whole, whole)
    proto = proto or "tcp"
    if body == "host":
        return _checked(Destination("host", proto), whole)
    if body.startswith("host:"):
        return _checked(Destination("host", proto, port=_port(body[5:], whole)), whole)
    if body.startswith("container:"):
        name, sep, port = body[len("container:"):].partition(":")
        if not name:
            raise _bad("destination", whole, "a container name is needed after 'container:'", DEST_FORMS)
        return _checked(Destination("container", proto, port=_port(port, whole) if sep else None, name=name), whole)
    if body.startswith("["):
        addr_text, sep, port = body[1:].partition("]")
        addr = parse_address(addr_text)
        if addr is None or not sep or (port and not port.startswith(":")):
            raise _bad("destination", whole, f"{body!r} is not [IPV6]:PORT", DEST_FORMS)
        return _checked(Destination("address", proto, port=_port(port[1:], whole) if port else None, address=addr), whole)
    addr = parse_address(body)
    if addr is not None:  # a bare address (v4, or v6 without brackets): no port
        if addr.version == 6 and not body.startswith("[") and proto != "icmp":
            raise _bad("destination", whole, f"a port is needed for {proto} (write an IPv6 address with a port as "
                       "[V6]:PORT; unbracketed, the last :group is part of the address)", DEST_FORMS)
        return _checked(Destination("address", proto, address=addr), whole)
    addr_text, sep, port = body.rpartition(":")
    addr = parse_address(addr_text) if sep else None
    if addr is None:
        raise _bad("destination", whole, "not a known endpoint form", DEST_FORMS)
    if addr.version == 6:
        raise _bad("destination", whole, "write an IPv6 address with a port as [V6]:PORT", DEST_FORMS)
    return _checked(Destination("address", proto, port=_port(port, whole), address=addr), whole)
