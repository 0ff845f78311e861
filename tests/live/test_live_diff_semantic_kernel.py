"""The semantic diff's claims checked against the kernel: the flow it says changed did change, and
the rewrite it calls equivalent answers the same in the kernel."""

from __future__ import annotations

import json

import pytest

from natsim.cli import main
from tests.lab import Bridge, Container, Host, Listen, Publish, build
from tests.lab.rulesets import corpus
from tests.lab.topology import to_toml

pytestmark = pytest.mark.kernel

GOLDEN = "moby-iptabler-golden-default-proxy-icc-masq-nat.rules"
ACCEPT = "-p tcp -m tcp --dport 80 -j ACCEPT"


def spec(rules: str) -> Host:
    return Host(
        backend="nft",
        rules_v4=rules,
        bridges=(Bridge("br-dummy", "192.168.0.1/24"),),
        containers=(Container("c1", "br-dummy", "192.168.0.2", listen=(Listen("tcp", 80),)),),
        publish=(Publish("c1", 80, 8080),),
        userland_proxy=False,
    )


def kernel_outcome(rules: str) -> str:
    with build(spec(rules), prefix="live") as h:
        return h.probe("outside", h.address("host"), 8080, timeout=0.3).outcome


def host_toml(rules: str) -> str:
    """The lab host as natsim topology, plus a default route via the outside client.

    The lab's host has no default route (its only client is on-link); a real host has one, and the
    exposure matrix asks about outside sources beyond the uplink's subnet too.
    """
    text = to_toml(spec(rules))
    host_end = text.index("[[namespace]]", text.index("[[namespace]]") + 1)
    route = '[[namespace.route]]\ndst = "default"\nvia = "198.18.0.2"\ndev = "eth0"\n\n'
    return text[:host_end] + route + text[host_end:]


def natsim_diff(tmp_path, capsys, a: str, b: str) -> tuple[int, dict]:
    (tmp_path / "a.rules").write_text(a)
    (tmp_path / "b.rules").write_text(b)
    (tmp_path / "host.toml").write_text(host_toml(a))
    code = main(["diff", "--json", "--topology", str(tmp_path / "host.toml"),
                 str(tmp_path / "a.rules"), str(tmp_path / "b.rules")])
    return code, json.loads(capsys.readouterr().out)


def test_changed_flow_is_what_the_kernel_does(tmp_path, capsys) -> None:
    a = corpus(GOLDEN)
    b = a.replace(ACCEPT, ACCEPT.replace("--dport 80", "--dport 81"))
    code, data = natsim_diff(tmp_path, capsys, a, b)
    outside = [c for c in data["semantic"]["changes"]
               if c["zone"].startswith("outside") and ":8080/tcp" in c["flow"]]
    assert code == 1 and outside, data["semantic"]
    assert {o["verdict"] for o in outside[0]["a"]} == {"reachable"}
    assert {o["verdict"] for o in outside[0]["b"]} == {"blocked"}
    assert kernel_outcome(a) == "connected"
    assert kernel_outcome(b) in ("timeout", "refused", "unreachable")


def test_equivalent_rewrite_is_equivalent_in_the_kernel(tmp_path, capsys) -> None:
    a = corpus(GOLDEN)
    b = a.replace(ACCEPT, "-p tcp -m multiport --dports 80,80 -j ACCEPT")
    code, data = natsim_diff(tmp_path, capsys, a, b)
    assert code == 0 and data["equivalent"] and not data["equal"], data["semantic"]
    assert kernel_outcome(a) == kernel_outcome(b) == "connected"
