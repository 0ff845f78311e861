"""``natsim diff`` on files: exit status like diff(1), text and JSON, and one-sentence errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from natsim.cli import main
from natsim.live import process

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"
GOLDEN = FIXTURES / "moby-iptabler-golden-default-proxy-icc-masq-nat.rules"

BASE = """*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-USER
-A INPUT -i lo -j ACCEPT
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A DOCKER-USER -j RETURN
COMMIT
"""


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["diff", "--structural", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_same_file_is_equal(capsys) -> None:
    code, out, _ = run(capsys, str(GOLDEN), str(GOLDEN))
    assert code == 0 and "result: equal" in out


def test_textual_variants_of_one_rule_are_equal(tmp_path, capsys) -> None:
    a = write(tmp_path, "a.rules", BASE.replace("-A INPUT -i lo", "[1:60] -A INPUT -i lo"))
    b = write(tmp_path, "b.rules", BASE.replace("-p tcp -m tcp --dport 22", "-p tcp --dport 22")
              .replace("-A INPUT -i lo", "[12:720] -A INPUT -i lo"))
    code, out, _ = run(capsys, a, b)
    assert code == 0, out
    code, out, _ = run(capsys, "--counters", a, b)
    assert code == 1 and "counters [1:60] -> [12:720]" in out
    # A file without counters says nothing about them: no counter change against one that has them.
    code, out, _ = run(capsys, "--counters", write(tmp_path, "c.rules", BASE), b)
    assert code == 0, out


def test_inserted_docker_user_rule_is_one_addition(tmp_path, capsys) -> None:
    a = write(tmp_path, "a.rules", BASE)
    b = write(tmp_path, "b.rules", BASE.replace(
        "-A DOCKER-USER -j RETURN", "-A DOCKER-USER -s 203.0.113.0/24 -j DROP\n-A DOCKER-USER -j RETURN"))
    code, out, _ = main(["diff", "--structural", "--json", a, b]), *capsys.readouterr()
    data = json.loads(out)
    assert code == 1 and data["exit_status"] == 1 and not data["equal"]
    (change,) = data["structural"]["rules"]
    assert change["kind"] == "added" and change["chain"] == "DOCKER-USER" and change["new_index"] == 1
    assert change["new"]["text"] == "-A DOCKER-USER -s 203.0.113.0/24 -j DROP"
    assert change["new"]["line"] == 9


def test_removed_published_port(tmp_path, capsys) -> None:
    text = GOLDEN.read_text()
    kept = [ln for ln in text.splitlines() if "--dport 80" not in ln and "--dport 8080" not in ln]
    assert len(kept) < len(text.splitlines())
    b = write(tmp_path, "b.rules", "\n".join(kept) + "\n")
    code, out, _ = main(["diff", "--structural", "--json", str(GOLDEN), b]), *capsys.readouterr()
    data = json.loads(out)
    removed = {(c["table"], c["chain"]) for c in data["structural"]["rules"] if c["kind"] == "removed"}
    assert code == 1 and ("nat", "DOCKER") in removed and ("filter", "DOCKER") in removed
    assert all(c["kind"] == "removed" for c in data["structural"]["rules"])


def test_missing_operand_is_exit_2_in_one_sentence(tmp_path, capsys) -> None:
    code = main(["diff", str(GOLDEN), str(tmp_path / "nope.rules")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "nope.rules" in err


def test_bad_rules_file_is_exit_2_with_location(tmp_path, capsys) -> None:
    bad = write(tmp_path, "bad.rules", BASE.replace("--dport 22", "--dport 99999"))
    code = main(["diff", "--structural", str(GOLDEN), bad])
    err = capsys.readouterr().err
    assert code == 2 and "bad.rules:8" in err and "Traceback" not in err


def test_live_without_root_fails_in_one_sentence(monkeypatch, capsys) -> None:
    monkeypatch.setattr(process.os, "geteuid", lambda: 1000)
    code = main(["diff", "--structural", "live", str(GOLDEN)])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().count("\n") == 0 and "root" in err


def test_live_without_iptables_tools_fails_in_one_sentence(monkeypatch, capsys) -> None:
    monkeypatch.setattr(process.os, "geteuid", lambda: 0)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(process, "_SBIN", ())
    code = main(["diff", "--structural", str(GOLDEN), "live"])
    err = capsys.readouterr().err
    assert code == 2 and err.strip().count("\n") == 0 and "iptables" in err


def test_missing_namespace_fails_in_one_sentence(monkeypatch, capsys) -> None:
    monkeypatch.setattr(process.os, "geteuid", lambda: 0)
    code = main(["diff", "--structural", "--netns", "natsim-no-such-ns", "live", str(GOLDEN)])
    err = capsys.readouterr().err
    assert code == 2 and "natsim-no-such-ns" in err and err.strip().count("\n") == 0


IPSET = """create docker-ext-bridges-v4 hash:net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1
add docker-ext-bridges-v4 172.17.0.0/16
add docker-ext-bridges-v4 192.0.2.0/24
"""


def snapshot(tmp_path: Path, name: str, ipset: str, extra_rule: str = "") -> str:
    d = tmp_path / name
    d.mkdir()
    (d / "iptables.rules").write_text(BASE.replace("COMMIT\n", extra_rule + "COMMIT\n"))
    (d / "ipset.txt").write_text(ipset)
    return str(d)


def test_snapshots_differing_in_an_ipset_entry(tmp_path, capsys) -> None:
    a = snapshot(tmp_path, "a", IPSET)
    b = snapshot(tmp_path, "b", IPSET.replace("192.0.2.0/24", "198.51.100.0/24"))
    code, out, _ = main(["diff", "--structural", "--json", a, b]), *capsys.readouterr()
    data = json.loads(out)
    assert code == 1 and data["structural"]["rules"] == []
    (change,) = data["structural"]["ipsets"]
    assert (change["kind"], change["name"], change["added"], change["removed"]) == (
        "changed", "docker-ext-bridges-v4", ["198.51.100.0/24"], ["192.0.2.0/24"])
    code, out, _ = run(capsys, a, snapshot(tmp_path, "c", IPSET))
    assert code == 0 and "result: equal" in out


def test_ipv4_against_ipv6_is_an_error(capsys) -> None:
    v6 = FIXTURES / "moby-iptabler-golden-noproxy-hairpin-icc-masq-nat.ip6.rules"
    code = main(["diff", str(GOLDEN), str(v6)])
    err = capsys.readouterr().err
    assert code == 2 and "nothing to compare" in err and err.strip().count("\n") == 0


@pytest.mark.parametrize("used", [False, True])
def test_ipset_change_equivalent_only_when_no_rule_uses_the_set(tmp_path, capsys, used: bool) -> None:
    """A set no rule names cannot change a flow; a set a rule names must be met by a compared flow."""
    rule = "-A INPUT -m set --match-set docker-ext-bridges-v4 src -j DROP\n" if used else ""
    a = snapshot(tmp_path, "a", IPSET, rule)
    b = snapshot(tmp_path, "b", IPSET.replace("192.0.2.0/24", "198.51.100.0/24"), rule)
    code = main(["diff", "--json", a, b])
    data = json.loads(capsys.readouterr().out)
    assert data["semantic"] is not None
    if not used:
        assert (code, data["equivalent"], data["semantic"]["unexercised"]) == (0, True, [])
    else:  # either a compared flow met the set and changed, or the set is named as not reached
        missed = "ipset docker-ext-bridges-v4 (changed)" in data["semantic"]["unexercised"]
        assert code == 1 and not data["equivalent"] and (missed or data["semantic"]["changes"])
