"""Each audit check on a small ruleset where its finding follows from the rules (and where it must not)."""

from __future__ import annotations

from natsim.audit.run import audit_ruleset
from natsim.model.ruleset import IpSet, IpSets
from tests.audit.conftest import corpus, ruleset_of

DOCKER27 = """*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 3306 -j DNAT --to-destination 172.17.0.2:3306
-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.3:80
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A FORWARD -o docker0 -j DOCKER
-A FORWARD -i docker0 ! -o docker0 -j ACCEPT
-A FORWARD -i docker0 -o docker0 -j ACCEPT
-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 3306 -j ACCEPT
-A DOCKER-USER -j RETURN
COMMIT
"""


def checks(text: str, **kw) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in audit_ruleset(ruleset_of(text), **kw):
        out.setdefault(f.check, []).append(f)
    return out


def test_dead_forward_and_database_on_all_addresses() -> None:
    found = checks(DOCKER27)
    [dead] = found["dead-forward"]  # 8080 -> 172.17.0.3:80 has no ACCEPT in DOCKER: FORWARD policy DROP
    assert "8080" in dead.title and any(c.text == ":FORWARD DROP" for c in dead.rules)
    [db] = found["published-on-all-addresses"]
    assert "MySQL" in db.title and "127.0.0.1:3306:3306" in db.fix
    # pre-28: the container address itself is reachable from outside
    assert "container-directly-reachable" in found


def test_published_on_one_address_is_not_reported() -> None:
    text = DOCKER27.replace("-A DOCKER ! -i docker0 -p tcp -m tcp --dport 3306",
                            "-A DOCKER -d 127.0.0.1/32 ! -i docker0 -p tcp -m tcp --dport 3306")
    assert "published-on-all-addresses" not in checks(text)


def test_isolation_rule_without_br_netfilter() -> None:
    text = DOCKER27.replace("-A DOCKER-USER -j RETURN",
                            "-A DOCKER-USER -i docker0 -o docker0 -j DROP\n-A DOCKER-USER -j RETURN")
    [f] = checks(text)["isolation-needs-br-netfilter"]
    assert f.severity.label == "medium"
    assert [c.role for c in f.rules] == ["meant to isolate", "Docker's icc accept"]
    # with userland-proxy=false (no RETURN for docker0) Docker loads br_netfilter itself
    noproxy = text.replace("-A DOCKER -i docker0 -j RETURN\n", "")
    assert "isolation-needs-br-netfilter" not in checks(noproxy)


def test_accept_both_ways() -> None:
    text = DOCKER27.replace("-A DOCKER-USER -j RETURN",
                            "-A DOCKER-USER -i eth0 -o docker0 -j ACCEPT\n-A DOCKER-USER -i docker0 -o eth0 -j ACCEPT\n"
                            "-A DOCKER-USER -j RETURN")
    [f] = checks(text)["accept-both-ways"]
    assert f.severity.label == "medium" and "docker0" in f.title
    one_way = text.replace("-A DOCKER-USER -i eth0 -o docker0 -j ACCEPT",
                           "-A DOCKER-USER -i eth0 -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT")
    assert "accept-both-ways" not in checks(one_way)


def test_ipsets_and_unknown_modules() -> None:
    text = corpus("moby-iptablesdoc-v28.0.0-usernet-portmap.S.txt").read_text()
    [f] = checks(text, tables_complete=False)["missing-ipset"]
    assert "docker-ext-bridges-v4" in f.title and f.severity.label == "info"
    known = IpSets((IpSet("docker-ext-bridges-v4", "hash:net"),))
    assert "missing-ipset" not in checks(text, ipsets=known, tables_complete=False)
    text = DOCKER27.replace("-A DOCKER-USER -j RETURN", "-A DOCKER-USER -m string --string x --algo bm -j DROP\n"
                            "-A DOCKER-USER -j RETURN")
    [u] = checks(text)["unknown-module"]
    assert "-m string" in u.title


def test_partial_ruleset() -> None:
    found = checks(corpus("kube-proxy-test-overall-iptables-rules.restore.rules").read_text())
    assert {f.title.split(":")[0] for f in found["partial-ruleset"]} == {"table nat", "table filter"}
    assert "unreachable-chain" not in found


def test_isolation_check_reads_the_topology(tmp_path, capsys) -> None:
    """Through the CLI (inferred topology); a snapshot saying bridge-nf-call-iptables=1 would silence it."""
    import json

    from natsim.cli import main

    text = DOCKER27.replace("-A DOCKER-USER -j RETURN",
                            "-A DOCKER-USER -i docker0 -o docker0 -j DROP\n-A DOCKER-USER -j RETURN")
    path = tmp_path / "iso.rules"
    path.write_text(text)
    assert main(["audit", str(path), "--format", "json", "--fail-on", "medium"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert "isolation-needs-br-netfilter" in {f["check"] for f in doc["findings"]}
