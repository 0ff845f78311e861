"""Cases whose answer hangs on facts iptables-save does not show (SOURCES.md A, D).

* telnetdoogie/synology-docker#93 (Docker 28 on DSM): the host cannot reach a published port
  via its own LAN IP; deleting `-t nat DEFAULT_OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type
  LOCAL -j DOCKER` fixes it (traffic falls through to docker-proxy).  The thread names DSM's
  policy routing (`ip rule: from <LAN IP> lookup ovs_eth0-table`): the DNATed packet keeps the
  LAN IP as source, the reroute after nat OUTPUT picks the LAN table, and the packet leaves by
  the uplink instead of the bridge.  natsim needs the ip rules (a topology fact) to say so.
* Docker 28.0.0 (`-m set --match-set docker-ext-bridges-v4`): the ipset's contents are not in
  the dump, so with FORWARD policy DROP natsim must answer *unknown* and name the set.
* moby#48375 (firewalld with its nftables backend): rules in nftables tables that are not
  iptables' own are invisible to iptables-save; live mode must say it saw them and did not
  simulate them, instead of a confident answer.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from dataclasses import replace

import pytest

from caseskit import CORPUS, KERNEL_VERDICT, explain, kernel_probes, route, run_cli, toml_block, user_toml
from tests.kernel.scenarios.catalog import golden
from tests.lab.rulesets import iptablesdoc

H1, GW = "198.18.0.1", "192.168.0.1"
PROXY = golden("default-proxy-icc-masq-nat", "", proxy=True, br_netfilter=False, hairpin=False).spec
SYNO_JUMP = "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER"
SYNO_RULES = PROXY.rules_v4.replace(SYNO_JUMP, "-A OUTPUT -j DEFAULT_OUTPUT\n"
                                    "-A DEFAULT_OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER"
                                    ).replace(":DOCKER - [0:0]\n-A PREROUTING", ":DEFAULT_OUTPUT - [0:0]\n:DOCKER - [0:0]\n"
                                                                               "-A PREROUTING")
SYNO = replace(PROXY, rules_v4=SYNO_RULES, rules_v6="", uplink_v6=(), outside_v6=None,
               publish=tuple(p for p in PROXY.publish if ":" not in p.host_ip))
SYNO_WORKAROUND = replace(SYNO, rules_v4="\n".join(
    line for line in SYNO_RULES.splitlines() if not line.startswith("-A DEFAULT_OUTPUT")) + "\n")
# DSM: `ip rule add from <LAN IP> lookup ovs_eth0-table` (here table 100, priority 32000) whose routes lead out
# the uplink only
POLICY_ROUTING = "".join(toml_block("namespace.rule", **rule) for rule in (
    {"priority": 0, "table": "local"}, {"priority": 32000, "from": f"{H1}/32", "table": 100},
    {"priority": 32766, "table": "main"}, {"priority": 32767, "table": "default"},
)) + route("198.18.0.0/24", "eth0", table=100) + route("default", "eth0", via="198.18.0.2", table=100)
IP_RULE = (("ip", "route", "add", "198.18.0.0/24", "dev", "eth0", "table", "100"),
           ("ip", "route", "add", "default", "via", "198.18.0.2", "dev", "eth0", "table", "100"),
           ("ip", "rule", "add", "from", H1, "lookup", "100", "priority", "32000"))


def _with_policy_routing(toml: str) -> str:
    """Append the rules and table 100 to the host namespace (the first [[namespace]] block in to_toml output)."""
    head, sep, rest = toml.partition("[[namespace]]")
    host, sep2, others = rest.partition("[[namespace]]")
    return head + sep + host + POLICY_ROUTING + "\n" + sep2 + others


# (case, host, policy routing?, verdict, seen)
SYNO_CASES = [
    ("dnat-plus-lan-table", SYNO, True, "blocked", None),
    ("workaround-proxy", SYNO_WORKAROUND, True, "reachable", GW),
    ("dnat-without-lan-table", SYNO, False, "reachable", H1),
]
SYNO_PARAMS = [pytest.param(c, id=c[0]) for c in SYNO_CASES]


@pytest.mark.parametrize("case", SYNO_PARAMS)
def test_synology_default_output_dnat(case, tmp_path):
    name, spec, routing, verdict, seen = case
    rules = tmp_path / "synology.rules"
    rules.write_text(spec.rules_v4)
    topo = tmp_path / "synology.toml"
    text = user_toml(spec)
    topo.write_text(_with_policy_routing(text) if routing else text)
    a = explain(rules, "host", f"{H1}:8080/tcp", topology=topo)
    assert a.verdict == verdict, a.data["reason"]
    if seen:
        assert a.seen == seen
    if verdict == "blocked":  # the reason is the route, not a rule
        assert a.rule is None and "eth0" in a.data["reason"] + json.dumps(a.data["path"]), a.data["reason"]


@pytest.mark.kernel
def test_synology_kernel_agrees():
    got = []
    for name, spec, routing, verdict, _ in SYNO_CASES:
        [p] = kernel_probes(spec, [{"frm": "host", "dst": H1, "port": 8080, "timeout": 0.3}],
                            host_setup=IP_RULE if routing else ())
        got.append((name, p.outcome, KERNEL_VERDICT.get(p.outcome) == verdict))
    assert all(ok for *_, ok in got), got


V280 = CORPUS / "moby-iptablesdoc-v28.0.0-usernet-portmap.S.txt"


def test_docker_28_0_0_ipset_contents_unknown(tmp_path):
    rules = tmp_path / "v28.0.0-forward-drop.rules"
    rules.write_text(iptablesdoc(V280.name).replace(":FORWARD ACCEPT", ":FORWARD DROP"))
    topo = tmp_path / "host.toml"
    from tests.kernel.scenarios.catalog import standard_host
    topo.write_text(user_toml(standard_host(rules.read_text(), proxy=True, br_netfilter=False)))
    a = explain(rules, "198.18.0.2", f"{H1}:8080/tcp", topology=topo)
    assert a.verdict == "unknown"
    assert "docker-ext-bridges-v4" in json.dumps(a.data["depends_on"])
    assert {o["verdict"] for o in a.data["outcomes"]} == {"reachable", "blocked"}


def _nft_netns_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    missing = [t for t in ("ip", "nft", "iptables-nft-restore") if shutil.which(t) is None]
    return f"needs {', '.join(missing)}" if missing else None


@pytest.mark.kernel
def test_firewalld_nft_tables_are_named_not_ignored():
    """moby#48375: Docker's rules allow c2 -> c1, firewalld's own nftables chain drops it; natsim cannot simulate
    nft rules, so its answer must say a foreign nftables table hooks forwarding (not a silent REACHABLE)."""
    why = _nft_netns_unavailable()
    if why:
        pytest.skip(why)
    ns = f"cases.fwd.{os.getpid()}.{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", ns], check=True, timeout=10)
    try:
        for argv in (("link", "add", "eth0", "type", "veth", "peer", "name", "eth0p"), ("addr", "add", "198.18.0.1/24", "dev", "eth0"),
                     ("link", "set", "eth0", "up"), ("link", "add", "br-dummy", "type", "bridge"),
                     ("addr", "add", "192.168.0.1/24", "dev", "br-dummy"), ("link", "set", "br-dummy", "up")):
            subprocess.run(["ip", "-n", ns, *argv], check=True, timeout=10)
        rules = (CORPUS / "moby-iptabler-golden-default-proxy-icc-masq-nat.rules").read_text()
        subprocess.run(["ip", "netns", "exec", ns, "iptables-nft-restore"], input=rules, text=True, check=True,
                       timeout=10)
        nft = ("table inet firewalld {\n chain filter_FORWARD {\n  type filter hook forward priority filter + 10;"
               " policy accept;\n  ct state established,related accept\n  reject with icmpx admin-prohibited\n }\n}\n")
        subprocess.run(["ip", "netns", "exec", ns, "nft", "-f", "-"], input=nft, text=True, check=True, timeout=10)
        status, out, err = run_cli(["explain", "live", "--netns", ns, "--from", "outside", "--to",
                                    "192.168.0.2:80/tcp", "--json", "--no-fix"])
        assert status in (0, 1), err
        notes = " ".join(json.loads(out)["notes"]).lower()
        assert "inet firewalld" in notes and "not simulated" in notes, notes
    finally:
        subprocess.run(["ip", "netns", "del", ns], timeout=10)
