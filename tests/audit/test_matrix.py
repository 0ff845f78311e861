"""The exposure matrix: its answers agree with the per-flow engine, and its classes hold.

For every fixture: each cell's flows are simulated again one by one (the matrix must not
say anything the engine does not), and for outside zones another address of the same
source class is simulated (every member of a class must get the representative's verdict,
which is what "one representative per class" promises).
"""

from __future__ import annotations

import ipaddress
import json
import random
import xml.etree.ElementTree as ET
from functools import lru_cache

import pytest

from natsim.audit.load import load
from natsim.audit.matrix import build_matrix
from natsim.cli import main
from natsim.engine import simulate
from natsim.engine.flow import Flow
from tests.audit.conftest import ROOT, corpus, corpus_files


@lru_cache(maxsize=None)
def matrix_of(path: str):
    loaded = load(path)
    network = loaded.network(assume_uplinks=True)
    return network, build_matrix(network, path, assumptions=loaded.assumptions(assume_uplinks=True))


def _other_member(entry_flow: Flow, ranges) -> ipaddress._BaseAddress | None:
    """An address of the class other than the representative (the far end of its last range)."""
    rep = int(entry_flow.source_address)
    make = ipaddress.ip_address if entry_flow.family == 4 else ipaddress.IPv6Address
    for lo, hi in reversed(ranges):
        for cand in (hi - 1, lo + 1, hi, lo):
            if lo <= cand <= hi and cand != rep:
                addr = make(cand)
                if not (addr.is_unspecified or addr.is_multicast or addr.is_reserved or addr.is_loopback):
                    return addr
    return None


def _random_members(entry_flow: Flow, ranges, rnd: random.Random, count: int) -> list:
    """Up to ``count`` addresses anywhere in the class: a class cut too coarsely (on-link neighbours
    lumped with distant clients) hides in its middle as often as at its ends."""
    make = ipaddress.ip_address if entry_flow.family == 4 else ipaddress.IPv6Address
    out = []
    for _ in range(count):
        lo, hi = rnd.choice(ranges)
        addr = make(rnd.randint(lo, hi))
        if not (addr.is_unspecified or addr.is_multicast or addr.is_reserved or addr.is_loopback):
            out.append(addr)
    return out


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: p.name)
def test_matrix_agrees_with_the_engine(path) -> None:
    network, matrix = matrix_of(str(path))
    from natsim.audit.flows import cell_flows

    classes = {(cf.zone.key, cf.service.key, cf.flow): cf.source_ranges for cf in cell_flows(network)}
    rnd = random.Random(path.name)  # the same members every run
    for cell in matrix.cells.values():
        for entry in cell.entries[:3]:
            assert simulate(network, entry.flow).verdict == entry.verdict, (cell.zone.key, cell.service.key)
            sc = classes.get((cell.zone.key, cell.service.key, entry.flow))
            if sc is None or len(sc.ranges) == 0:
                continue
            for other in (_other_member(entry.flow, sc.ranges), *_random_members(entry.flow, sc.ranges, rnd, 2)):
                if other is None:
                    continue
                flow = Flow(entry.flow.source, entry.flow.destination, entry.flow.proto, entry.flow.dport, other,
                            entry.flow.sport, entry.flow.in_interface)
                got = simulate(network, flow).verdict
                assert got == entry.verdict, (
                    f"{cell.zone.key} -> {cell.service.key}: {other} is in the class of {entry.flow.source_address} "
                    f"({sc.label}) but the engine says {got}, not {entry.verdict}"
                )


def test_mysqlserver_snapshot_matrix() -> None:
    path = ROOT / "examples" / "mysqlserver"
    if not path.exists():
        pytest.skip("examples/mysqlserver is not in the tree")
    _, m = matrix_of(str(path))
    published = "published *:8066/tcp"
    assert {z.key for z in m.zones} >= {"outside:eth0", "host", "container:mysqlserver", "container:webapp"}
    out = m.cell("outside:eth0", published)
    assert out.verdict == "reachable"
    e = out.entries[0]
    assert any("172.17.0.2:3306" in n for n in e.nat)  # DNAT to the container
    assert e.deciding is not None and e.deciding.chain == "DOCKER"  # Docker's per-port ACCEPT
    web = m.cell("container:webapp", published)
    assert web.verdict == "reachable" and all(x.via_proxy for x in web.entries)
    # the container address itself is not reachable from outside (raw PREROUTING drop)
    assert m.cell("outside:eth0", "container 172.17.0.2:3306/tcp").verdict == "blocked"


def test_host_services_come_from_listening_sockets_too(tmp_path) -> None:
    """A snapshot's ss shows what listens on the host: sshd on 0.0.0.0:22 is a service (and open from
    outside with no INPUT rule), a loopback-only resolver and docker-proxy's sockets are not."""
    import shutil

    src = ROOT / "examples" / "mysqlserver"
    if not src.exists():
        pytest.skip("examples/mysqlserver is not in the tree")
    snap = tmp_path / "snap"
    shutil.copytree(src, snap)
    with open(snap / "ss.txt", "a", encoding="utf-8") as fh:
        fh.write('tcp   LISTEN 0      511      192.0.2.10:8443       0.0.0.0:*    users:(("nginx",pid=900,fd=6))\n')
    _, m = matrix_of(str(snap))
    keys = {s.key for s in m.services}
    assert "host:22/tcp (sshd)" in keys
    assert "host 192.0.2.10:8443/tcp (nginx)" in keys
    assert not any(":53/" in k for k in keys)  # systemd-resolved listens on 127.0.0.53 only
    assert not any(k.startswith("host") and ":8066/" in k for k in keys)  # docker-proxy: the published port
    ssh = m.cell("outside:eth0", "host:22/tcp (sshd)")
    assert ssh.verdict == "reachable" and ssh.entries[0].server == "host"
    nginx = m.cell("outside:eth0", "host 192.0.2.10:8443/tcp (nginx)")
    assert nginx.verdict == "reachable" and nginx.entries[0].flow.destination == ipaddress.ip_address("192.0.2.10")
    # nothing listens on the port no rule names: the host refuses it
    free = next(s.key for s in m.services if "no rule names it" in s.key)
    assert m.cell("outside:eth0", free).verdict == "blocked"


def test_bypass_shows_in_the_matrix(tmp_path) -> None:
    """ufw denies port 8080 for the host, yet the published 8080 is open from outside."""
    from tests.audit.test_audit_corpus import _with_published_port

    text = corpus("hostaudit-ufw-docker28-libvirt-counters.v4.rules").read_text()
    rules = tmp_path / "host.rules"
    rules.write_text("\n".join(
        line for line in _with_published_port(text).splitlines() if "REDACTED" not in line and "IP4_1" not in line
    ) + "\n")
    _, m = matrix_of(str(rules))
    free = next(s.key for s in m.services if "no rule names it" in s.key and "v6" not in s.key)
    assert m.cell("outside:eth0", "published *:8080/tcp").verdict == "reachable"
    assert m.cell("outside:eth0", free).verdict == "blocked"


@pytest.mark.parametrize("fmt", ["table", "json", "html", "svg"])
def test_matrix_formats(fmt, tmp_path, capsys) -> None:
    path = corpus("moby-iptabler-golden-default-proxy-icc-masq-nat.rules")
    out = tmp_path / f"m.{fmt}"
    assert main(["matrix", str(path), "--format", fmt, "-o", str(out)]) == 0
    text = out.read_text()
    if fmt == "json":
        doc = json.loads(text)
        cells = {(c["zone"], c["service"]): c for c in doc["cells"]}
        c = cells[("outside:eth0", "published *:8080/tcp")]
        assert c["verdict"] == "reachable"
        assert c["entries"][0]["deciding_rule"]["chain"] == "DOCKER"
        assert any("assumed uplink" in a for a in doc["assumptions"])
    elif fmt == "svg":
        root = ET.fromstring(text)
        titles = [t.text for t in root.iter("{http://www.w3.org/2000/svg}title")]
        assert any("decided by" in (t or "") and "DOCKER" in (t or "") for t in titles)
    elif fmt == "html":
        assert text.startswith("<!DOCTYPE html>") and 'title="outside:eth0 -&gt; published *:8080/tcp: reachable' in text
    else:
        assert "published *:8080/tcp" in text and "OPEN" in text


def test_matrix_reports_bad_input(tmp_path, capsys) -> None:
    assert main(["matrix", str(tmp_path / "missing.rules")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_containers_the_rules_treat_alike_share_a_zone() -> None:
    from natsim.audit.flows import cell_flows
    from natsim.generate import docker_host
    from natsim.parse import parse_text
    from natsim.audit.assume import with_assumed_uplinks
    from natsim.engine import Network
    from natsim.explain.inputs import infer_topology
    from natsim.topology.model import Topology

    rs = parse_text(docker_host(40, containers=20), "gen.rules").ruleset
    topo, _ = with_assumed_uplinks(infer_topology({4: rs}, Topology()), {4: rs})
    flows = cell_flows(Network(rulesets={4: rs}, topology=topo))
    zone_keys = {cf.zone.key for cf in flows}
    [cls] = [z for z in zone_keys if z.startswith("containers on")]
    assert "(20," in cls
    # the representative's own published port is asked from another member (not a hairpin)
    rep_flows = [cf for cf in flows if cf.zone.key == cls and cf.service.kind == "published"]
    rep = rep_flows[0].zone.members[0]
    own = [cf for cf in rep_flows if cf.service.rule.rule.target.to_destination[0].addresses.lo
           == topo.container(rep).addresses()[0]]
    assert own and all(cf.flow.source == f"container:{cf.zone.members[1]}" for cf in own)


def test_assumed_uplinks_follow_the_rules_subnets() -> None:
    """libvirt's rules put 192.168.231.0/24 behind virbr1: a VM there reaches the host's DNS, as LIBVIRT_INP says."""
    path = corpus("hostaudit-ufw-docker28-libvirt-counters.v4.rules")
    _, m = matrix_of(str(path))
    assert any("virbr1 with addresses 192.168.231.1/24" in a for a in m.assumptions)
    cell = m.cell("outside:virbr1", "host:53/udp")
    vm = [e for e in cell.entries if (e.source_class or "").startswith("192.168.231.")]
    assert vm and vm[0].verdict == "reachable" and vm[0].deciding.chain == "LIBVIRT_INP"
    # the Docker network without containers gets a stand-in member, so the bridge is a zone
    assert m.cell("container:any-on-docker0", "host:53/udp").verdict == "blocked"


def test_unknown_cells_say_what_natsim_would_need_to_know(capsys) -> None:
    """A container reaching itself through its published port depends on br_netfilter and hairpin mode;
    with neither known the cell is unknown, and its entry (and the table) says which facts and what fails."""
    path = corpus("moby-iptabler-golden-noproxy-hairpin-icc-masq-nat.ip6.rules")
    _, m = matrix_of(str(path))
    cell = next(c for c in m.cells.values() if c.zone.kind == "container" and c.service.kind == "published")
    assert cell.verdict == "unknown"
    reason = cell.entries[0].reason
    assert reason.startswith("depends on what natsim does not know: ")
    assert "bridge-nf-call-ip6tables" in reason and "hairpin off" in reason and "blocked assuming" in reason
    assert "accepts the connection" not in reason  # not the reachable branch's story
    assert main(["matrix", str(path)]) == 0
    assert "        why: depends on what natsim does not know" in capsys.readouterr().out


def test_source_classes_are_named_by_their_networks() -> None:
    """One rule rejects a single address: its class is named by that address, the rest is 'any other address'."""
    path = corpus("serveraudit-docker29-default-ubuntu2404.rules")
    _, m = matrix_of(str(path))
    cell = m.cell("outside:eth0", "host ping")
    labels = {e.source_class: e.verdict for e in cell.entries}
    assert labels == {"any other address": "reachable", "103.204.159.72": "blocked"}


def test_svg_leaves_room_for_every_label(tmp_path) -> None:
    """Service names end before the grid starts and the slanted zone names end inside the picture
    (a 12px monospace glyph is 7.2px wide); the old layout cut both on the libvirt host."""
    import re

    out = tmp_path / "m.svg"
    assert main(["matrix", str(corpus("hostaudit-ufw-docker28-libvirt-counters.v4.rules")), "--format", "svg",
                 "-o", str(out)]) == 0
    root = ET.parse(out).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    width = float(root.get("width"))
    grid_left = min(float(r.get("x")) for r in root.iter(f"{ns}rect") if r.get("width") == "108")
    for t in root.iter(f"{ns}text"):
        text = t.text or ""
        turned = re.match(r"translate\(([\d.]+),([\d.]+)\) rotate\(-45\)", t.get("transform") or "")
        if turned:
            assert float(turned.group(1)) + 0.7071 * 7.2 * len(text) <= width, text
        elif t.get("x") == "4" and text and not text.startswith("OPEN"):
            assert 4 + 7.2 * len(text) <= grid_left, text


def test_kube_proxy_services_are_services(tmp_path) -> None:
    """kube-proxy names a service's address and port in the jump (KUBE-SERVICES, KUBE-NODEPORTS) and only the
    pod in the DNAT: the matrix still lists ClusterIPs and NodePorts, and the host reaches a ClusterIP's pods."""
    from natsim.generate import kube_proxy

    rules = tmp_path / "kube.rules"
    rules.write_text(kube_proxy(3))
    _, m = matrix_of(str(rules))
    keys = [s.key for s in m.services]
    assert {"published 10.96.0.10:80/tcp", "published 10.96.0.11:80/tcp", "published *:30000/tcp"} <= set(keys)
    assert len(keys) == len(set(keys))
    cell = m.cell("host", "published 10.96.0.11:80/tcp")
    assert cell.verdict == "reachable"
    # svc1 has two endpoints picked by -m statistic: the entry's DNAT goes to one of them
    assert any("10.244.0.3:8080" in n or "10.244.0.4:8080" in n for n in cell.entries[0].nat)
    # a Kubernetes node forwards (assumed, and said): the NodePort is open from outside, masqueraded
    network, _ = matrix_of(str(rules))
    node_port = m.cell("outside:eth0", "published *:30000/tcp")
    assert node_port.verdict == "reachable"
    assert any(n.startswith("MASQUERADE") for e in node_port.entries for n in e.nat)
    result = simulate(network, node_port.entries[0].flow)
    assert any("kube-proxy's chains are present" in a for a in result.assumptions)


def test_docker_services_do_not_change_with_routed_forwards() -> None:
    """Docker's DNATs carry their own port: the path-based scan adds nothing for them."""
    from natsim.audit.services import forwards, routed_forwards
    from natsim.parse import parse_file

    for name in ("moby-iptabler-golden-default-proxy-icc-masq-nat.rules", "moby-iptablesdoc-v29-usernet-portmap.S.txt",
                 "free5gc-compose-docker-tailscale-sctp.rules"):
        rs = parse_file(corpus(name), lenient=True).ruleset
        assert forwards(rs), name
        assert routed_forwards(rs) == [], name


def test_kube_endpoint_rules_only_cut_their_own_service(tmp_path) -> None:
    """An endpoint chain's ``-s POD/32 -j KUBE-MARK-MASQ`` is reached only through its service's
    ``-d CLUSTER-IP --dport`` jump: it splits that service's sources, not every service's, so the
    classes per cell do not grow with the number of services."""
    from natsim.audit.flows import cell_flows
    from natsim.generate import kube_proxy

    most = []
    for n in (3, 12):
        rules = tmp_path / f"kube{n}.rules"
        rules.write_text(kube_proxy(n))
        network, _ = matrix_of(str(rules))
        per_cell: dict[tuple[str, str], int] = {}
        for cf in cell_flows(network):
            if cf.zone.kind == "outside" and cf.service.kind == "published":
                per_cell[(cf.zone.key, cf.service.key)] = per_cell.get((cf.zone.key, cf.service.key), 0) + 1
        most.append(max(per_cell.values()))
    # any other address, the rest of the pod subnet (KUBE-SVC's ! -s POD-CIDR), and each endpoint pod (<= 3 here)
    assert most[0] == most[1] == 5


def test_matrix_filters_ask_what_the_whole_matrix_asks(capsys) -> None:
    """--from/--service keep some zones and services; each kept cell answers as in the whole matrix."""
    path = corpus("hostaudit-ufw-docker28-libvirt-counters.v4.rules")
    _, whole = matrix_of(str(path))
    assert main(["matrix", str(path), "--from", "outside", "--service", "host:53*", "--service", "ping",
                 "--format", "json"]) == 0
    part = json.loads(capsys.readouterr().out)
    zones = {z["key"] for z in part["zones"]}
    services = {s["key"] for s in part["services"]}
    assert zones == {z.key for z in whole.zones if z.kind == "outside"}
    assert services == {s.key for s in whole.services if s.key.startswith("host:53") or "ping" in s.key}
    for c in part["cells"]:
        full = whole.cell(c["zone"], c["service"])
        assert c["verdict"] == full.verdict
        assert [e["flow"] for e in c["entries"]] == [str(e.flow) for e in full.entries]
    assert any("--from/--service" in a for a in part["assumptions"])
    assert main(["matrix", str(path), "--from", "container:nobody-here"]) == 2


def test_a_chain_that_jumps_to_itself_does_not_sink_the_matrix(tmp_path, capsys) -> None:
    """The kernel refuses the loop (natsim says so); the matrix still answers for the rules as written."""
    rules = tmp_path / "loop.rules"
    rules.write_text("*filter\n:INPUT ACCEPT [0:0]\n:X - [0:0]\n-A INPUT -p tcp --dport 22 -j X\n"
                     "-A X -p tcp -j X\n-A X -s 10.0.0.0/8 -j DROP\nCOMMIT\n")
    assert main(["matrix", str(rules), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["cells"]
