"""Endpoint syntax: every documented form parses, and every bad one says what is expected."""

from __future__ import annotations

import ipaddress

import pytest

from natsim.errors import UsageError
from natsim.explain.endpoints import Destination, Source, parse_destination, parse_source


@pytest.mark.parametrize(
    "text, expected",
    [
        ("outside", Source("outside")),
        ("outside:eth1", Source("outside", name="eth1")),
        ("host", Source("host")),
        ("container:web", Source("container", name="web")),
        ("198.51.100.7", Source("address", address=ipaddress.ip_address("198.51.100.7"))),
        ("2001:db8::7", Source("address", address=ipaddress.ip_address("2001:db8::7"))),
    ],
)
def test_sources(text: str, expected: Source) -> None:
    assert parse_source(text) == expected
    assert str(parse_source(text)) == text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("host:8066/tcp", Destination("host", "tcp", port=8066)),
        ("host:53/udp", Destination("host", "udp", port=53)),
        ("host:8066", Destination("host", "tcp", port=8066)),
        ("host/icmp", Destination("host", "icmp")),
        ("10.0.0.5:80/tcp", Destination("address", "tcp", port=80, address=ipaddress.ip_address("10.0.0.5"))),
        ("10.0.0.5/icmp", Destination("address", "icmp", address=ipaddress.ip_address("10.0.0.5"))),
        ("[2001:db8::1]:80/udp", Destination("address", "udp", port=80, address=ipaddress.ip_address("2001:db8::1"))),
        ("2001:db8::1/icmp", Destination("address", "icmp", address=ipaddress.ip_address("2001:db8::1"))),
        ("container:db:3306/tcp", Destination("container", "tcp", port=3306, name="db")),
        ("container:db/icmp", Destination("container", "icmp", name="db")),
        ("10.0.0.5:38412/sctp", Destination("address", "sctp", port=38412, address=ipaddress.ip_address("10.0.0.5"))),
    ],
)
def test_destinations(text: str, expected: Destination) -> None:
    assert parse_destination(text) == expected


def test_destination_round_trips_to_its_canonical_text() -> None:
    for text in ("host:8066/tcp", "[2001:db8::1]:80/udp", "10.0.0.5/icmp", "container:db:3306/tcp"):
        assert str(parse_destination(text)) == text


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("host:99999/tcp", "port '99999'"),
        ("host:80/gre", "unknown protocol 'gre'"),
        ("host/tcp", "a port is needed"),
        ("10.0.0.5:80/icmp", "ICMP has no port"),
        ("2001:db8::1:80/tcp", "a port is needed"),
        ("myhost:80/tcp", "not a known endpoint form"),
        ("container::80/tcp", "container name"),
        ("[2001:db8::1/tcp", "not [IPV6]:PORT"),
    ],
)
def test_bad_destinations_say_what_is_expected(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_destination(text)
    message = str(err.value)
    assert fragment in message
    assert "expected host:PORT/PROTO" in message


@pytest.mark.parametrize("text", ["inside", "container:", "container:web:80", "10.0.0.300"])
def test_bad_sources(text: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_source(text)
    assert "expected outside, outside:IFACE, host, container:NAME" in str(err.value)
