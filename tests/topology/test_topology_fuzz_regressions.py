"""Inputs a fuzzer found that crashed natsim (exit 3) or were read silently wrong; each must now be a located error.

Each case copies examples/mysqlserver, changes one snapshot file, and runs ``natsim explain``:
exit status 2, the file named, the words that say what was wrong, and no "internal error".
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from natsim.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mysqlserver"


def _explain(capsys: pytest.CaptureFixture[str], snapshot: Path) -> tuple[int, str]:
    code = main(["explain", str(snapshot), "--from", "outside", "--to", "host:8066/tcp", "--no-fix"])
    _, err = capsys.readouterr()
    return code, err


def _edit_json(tmp_path: Path, name: str, edit: Callable[[Any], None]) -> Path:
    snap = tmp_path / "snap"
    shutil.copytree(EXAMPLE, snap)
    data = json.loads((snap / name).read_text())
    edit(data)
    (snap / name).write_text(json.dumps(data, indent=1))
    return snap


def _append_line(tmp_path: Path, name: str, line: str) -> Path:
    snap = tmp_path / "snap"
    shutil.copytree(EXAMPLE, snap)
    with (snap / name).open("a") as f:
        f.write(line + "\n")
    return snap


def _set(path: list[Any], value: Any) -> Callable[[Any], None]:
    def edit(data: Any) -> None:
        cur = data
        for k in path[:-1]:
            cur = cur[k]
        cur[path[-1]] = value
    return edit


def _first_with(key: str, path: list[Any], value: Any) -> Callable[[Any], None]:
    """Set ``path`` in the first entry that has ``key`` (the example's entry order is not the point)."""
    def edit(data: list[dict[str, Any]]) -> None:
        entry = next(e for e in data if key in e)
        _set(path, value)(entry)
    return edit


def _bridge_port_linkinfo(data: list[dict[str, Any]]) -> None:
    entry = next(e for e in data if isinstance(e.get("linkinfo"), dict) and "info_slave_data" in e["linkinfo"])
    entry["linkinfo"]["info_slave_data"] = "x"


def _append(entry: dict[str, Any]) -> Callable[[list[Any]], None]:
    return lambda data: data.append(entry)


PORT = ["NetworkSettings", "Ports", "3306/tcp", 0]
BRIDGE_EP = ["NetworkSettings", "Networks", "bridge"]

JSON_CASES = [
    # a needed field that is null was read as absent and crashed later (AttributeError / TypeError)
    ("bridge-fdb.json", _first_with("mac", ["mac"], None), ['"mac": null', "expected a str"]),
    ("bridge-link.json", _first_with("ifname", ["ifname"], None), ['"ifname": null', "expected a str"]),
    ("docker-inspect.json", _set([0, "Name"], None), ['"Name": null', "expected a str"]),
    ("ip-rule.json", _set([0, "priority"], None), ['"priority": null', "expected a int"]),
    ("docker-network-inspect.json", _set([0, "Name"], None), ['"Name": null', "expected a str"]),
    # numbers out of range became ipaddress ValueErrors deep in the engine
    ("ip-addr.json", _first_with("addr_info", ["addr_info", 0, "prefixlen"], -1),
     ["prefixlen -1", "expected a number from 0 to"]),
    ("ip-addr.json", _first_with("addr_info", ["addr_info", 0, "prefixlen"], 33),
     ["prefixlen 33", "expected a number from 0 to 32"]),
    ("docker-inspect.json", _set([0, *BRIDGE_EP, "IPPrefixLen"], 99999999999999999999),
     ["IPPrefixLen = 99999999999999999999", "expected a prefix length from 1 to 32"]),
    # IPv6 where IPv4 is expected was taken as the container's IPv4 address
    ("docker-inspect.json", _set([0, *BRIDGE_EP, "IPAddress"], "fd00::2"),
     ["IPAddress = 'fd00::2'", "expected an IPv4 address"]),
    # nested objects of the wrong type: AttributeError 'str' object has no attribute 'get'
    ("ip-addr.json", _bridge_port_linkinfo, ['"linkinfo"."info_slave_data": \'x\'', "expected a JSON object"]),
    ("docker-network-inspect.json", _set([0, "Options", "com.docker.network.bridge.name"], []),
     ["Options['com.docker.network.bridge.name'] = []", "expected a string"]),
    # a list of non-strings joined into a string: TypeError
    ("ip-neigh.json", _first_with("state", ["state"], [{}]), ['"state": [{}]', "expected a list of strings"]),
    # int(str, 0) on a mark ip cannot print: ValueError
    ("ip-rule.json", _append({"priority": 5, "fwmark": "zz", "table": "main"}),
     ['"fwmark": \'zz\'', "expected a 32-bit mark"]),
    # facts that were silently ignored or silently wrong
    ("ip-addr.json", lambda data: data.append(dict(data[-1])), ["again in entry", "expected each interface once"]),
    ("docker-inspect.json", _set([1, "Name"], "/mysqlserver"), ["'/mysqlserver'", "different for each container"]),
    ("docker-inspect.json", _set([0, "Name"], "/"), ['"Name": \'/\'', "expected a container name"]),
    ("docker-inspect.json", lambda d: d[0]["NetworkSettings"]["Ports"].update({"80/gre": [{"HostIp": "", "HostPort": "80"}]}),
     ["found port '80/gre'", "expected PORT/tcp, PORT/udp or PORT/sctp"]),
    ("docker-network-inspect.json", _set([0, "IPAM", "Config"], ["172.17.0.0/16"]),
     ["IPAM.Config entry '172.17.0.0/16'", "expected a JSON object"]),
    ("docker-network-inspect.json", _set([0, "Options", "com.docker.network.bridge.host_binding_ipv4"], "::1"),
     ["host_binding_ipv4 = '::1'", "expected an IPv4 address"]),
]


@pytest.mark.parametrize("name, edit, words", JSON_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(JSON_CASES)])
def test_bad_json_field_is_a_located_error(capsys, tmp_path, name, edit, words) -> None:
    code, err = _explain(capsys, _edit_json(tmp_path, name, edit))
    assert code == 2, err
    assert "internal error" not in err
    assert name in err
    for w in words:
        assert w in err


def test_container_ids_in_network_inspect_must_name_a_string(capsys, tmp_path) -> None:
    """Without docker-inspect.json, containers come from network inspect; an int Name crashed the engine."""
    snap = _edit_json(tmp_path, "docker-network-inspect.json",
                      _set([0, "Containers"], {"abc": {"Name": 5, "IPv4Address": "172.17.0.9/16"}}))
    (snap / "docker-inspect.json").unlink()
    code, err = _explain(capsys, snap)
    assert code == 2, err
    assert "Containers['abc'].Name = 5" in err and "expected a container name" in err


def test_network_inspect_ipv4address_must_be_ipv4(capsys, tmp_path) -> None:
    snap = _edit_json(tmp_path, "docker-network-inspect.json",
                      _set([0, "Containers"], {"abc": {"Name": "x", "IPv4Address": "fd00::9/64"}}))
    (snap / "docker-inspect.json").unlink()
    code, err = _explain(capsys, snap)
    assert code == 2, err
    assert "IPv4Address = 'fd00::9/64'" in err and "expected an IPv4 address" in err


@pytest.mark.parametrize("line, words", [
    ("tcp   LISTEN 0      4096         0.0.0.0:\u00b2       0.0.0.0:*", ["ss.txt:7:", "expected ADDRESS:PORT"]),  # "²".isdigit()
    ("tcp   LISTEN 0      4096         0.0.0.0:\uff18\uff10       0.0.0.0:*", ["ss.txt:7:", "expected ADDRESS:PORT"]),
    ("tcp   LISTEN 0      4096         0.0.0.0:99999    0.0.0.0:*", ["ss.txt:7:", "port from 0 to 65535"]),
])
def test_bad_ss_ports_are_located(capsys, tmp_path, line, words) -> None:
    code, err = _explain(capsys, _append_line(tmp_path, "ss.txt", line))
    assert code == 2, err
    for w in words:
        assert w in err


@pytest.mark.parametrize("rule, words", [
    ("family = 5", ["family = 5", "expected 4 or 6"]),
    ('action = "weird"', ["action = 'weird'", "expected one of"]),
])
def test_toml_policy_rule_values_are_checked(capsys, tmp_path, rule, words) -> None:
    topo = tmp_path / "t.toml"
    topo.write_text(f'[[namespace]]\nname = "host"\n\n[[namespace.rule]]\npriority = 1\n{rule}\n')
    code = main(["explain", str(EXAMPLE), "--topology", str(topo), "--from", "outside", "--to", "host:8066/tcp",
                 "--no-fix"])
    _, err = capsys.readouterr()
    assert code == 2, err
    assert err.startswith(f"{topo}:6:")
    for w in words:
        assert w in err
