"""The hand-written TOML topology: the documented example parses into the model; mistakes are located errors."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

import pytest

from natsim.errors import InputError
from natsim.topology.model import TABLE_MAIN
from natsim.topology.toml_file import load_toml, parse_toml

DOC = Path(__file__).resolve().parents[2] / "docs" / "snapshot.md"
ip = ipaddress.ip_address


def doc_example() -> str:
    (block,) = re.findall(r"```toml\n(.*?)```", DOC.read_text(), re.S)
    return block


def test_documented_classic_host_parses() -> None:
    t = parse_toml(doc_example(), "snapshot.md")
    assert t.daemon.userland_proxy is True and t.daemon.ip6tables is False
    db = t.container("mysqlserver")
    assert db.endpoint().ipv4 == ip("172.17.0.2") and db.endpoint().ipv4_prefixlen == 16
    (port,) = db.ports
    assert (port.host_port, port.container_port, port.proto, port.host_ip) == (8066, 3306, "tcp", None)
    host = t.host_namespace
    assert host.is_local(ip("192.0.2.10")) is True and host.is_local(ip("172.17.0.2")) is False
    assert host.sysctl_int("net.ipv4.ip_forward") == 1
    (default,) = host.routes
    assert default.dst == ipaddress.ip_network("0.0.0.0/0") and default.table == TABLE_MAIN
    assert host.listeners_on("tcp", ip("192.0.2.10"), 8066)[0].process == "docker-proxy"
    bp = t.bridge_port("mysqlserver")
    assert (bp.bridge, bp.port, bp.hairpin) == ("docker0", "veth1a2b3c", False)
    assert t.network("docker0").name == "bridge"
    assert t.assumptions() == ()  # everything was read from the file


def test_load_toml_names_the_file(tmp_path: Path) -> None:
    f = tmp_path / "t.toml"
    f.write_text(doc_example())
    t = load_toml(f)
    assert t.container("mysqlserver").provenance.source == str(f)


@pytest.mark.parametrize(
    "change, line_text, found",
    [
        (("hairpin = false", "hairpn = false"), "hairpn = false", "unknown key 'hairpn'"),
        (('subnet = "172.17.0.0/16"', 'subnet = "172.17.0.0/33"'), "172.17.0.0/33", "'172.17.0.0/33'"),
        (('ports = ["8066:3306/tcp"]', 'ports = ["8066:3306/icmp"]'), "8066:3306/icmp", "protocol 'icmp'"),
        (('kind = "physical"', 'kind = "ethernet"'), 'kind = "ethernet"', "kind = 'ethernet'"),
        (("icc = true", "icc = 1"), "icc = 1", "icc = 1"),
    ],
)
def test_mistakes_are_located(change: tuple[str, str], line_text: str, found: str) -> None:
    text = doc_example().replace(*change)
    with pytest.raises(InputError) as err:
        parse_toml(text, "t.toml")
    e = err.value
    assert e.file == "t.toml" and found in e.found
    assert line_text in text.splitlines()[e.line - 1]


def test_invalid_toml_syntax() -> None:
    with pytest.raises(InputError) as err:
        parse_toml('[daemon]\nuserland-proxy = \n', "t.toml")
    assert err.value.line == 2 and "invalid TOML" in err.value.found


def test_missing_required_key() -> None:
    with pytest.raises(InputError, match="has no name"):
        parse_toml('[[container]]\nnetwork-mode = "host"\n', "t.toml")


def test_what_is_left_out_stays_unknown() -> None:
    t = parse_toml('[[container]]\nname = "web"\nnetwork-mode = "host"\n')
    assert t.networks is None and t.daemon.userland_proxy is None
    assert t.container("web").ports is None
    assert t.namespace_name_of("web") == "host"


def test_endpoints_ranges_and_ipv6_ports() -> None:
    t = parse_toml('''
[[container]]
name = "web"
network-mode = "front"
ports = ["[::1]:8080:80", "127.0.0.1:9000-9001:90-91/udp", "443"]
  [[container.endpoint]]
  network = "front"
  address = "198.51.100.2/24"
  address6 = "2001:db8:1::2/64"
  [[container.endpoint]]
  network = "back"
  address = "203.0.113.5/24"
''')
    web = t.container("web")
    assert [e.network for e in web.endpoints] == ["front", "back"]
    assert web.endpoint("front").ipv6 == ip("2001:db8:1::2")
    assert [str(p) for p in web.ports] == ["[::1]:8080:80/tcp", "127.0.0.1:9000:90/udp", "127.0.0.1:9001:91/udp",
                                           "?:443/tcp"]
