"""A demanding user's first questions on every real dump in fixtures/corpus.

Whatever the dump, ``natsim explain`` must answer (exit 0/1) or refuse with a clear one-line reason
(exit 2) — never an internal error (exit 3) or a traceback.  Dumps the parser must refuse as
published (the hostaudit author's redactions) are answered with ``--lenient``.
"""

from __future__ import annotations

import json

import pytest

from caseskit import CORPUS, run_cli

DUMPS = sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".rules", ".txt") and p.name != "SOURCES.md")
REDACTED = {"hostaudit-ufw-docker28-libvirt-counters.v4.rules", "hostaudit-ufw-docker28-libvirt-counters.v6.rules"}


@pytest.mark.parametrize("name", DUMPS)
def test_first_question_is_answered_or_refused_clearly(name):
    extra = ["--lenient"] if name in REDACTED else []
    for frm, to in (("outside", "host:8080/tcp"),):  # the question a Docker user asks first
        status, out, err = run_cli(["explain", str(CORPUS / name), "--from", frm, "--to", to, "--json", "--no-fix",
                                    *extra])
        assert status in (0, 1, 2), err
        assert "Traceback" not in err and "internal error" not in err, err
        if status == 2:
            assert err.strip().count("\n") <= 3 and err.startswith("natsim:"), err
        else:
            assert json.loads(out)["verdict"] in ("reachable", "blocked", "unknown", "depends on the address")


def test_ipv6_dump_gets_an_assumed_uplink_like_ipv4():
    status, out, err = run_cli(["explain", str(CORPUS / "moby-iptabler-golden-default-proxy-icc-masq-nat.ip6.rules"),
                                "--from", "outside", "--to", "host:8080/tcp", "--json", "--no-fix"])
    assert status in (0, 1), err
    assert "fd49:efd7:54aa::1" in out  # the DNAT target, reached (or not) through an assumed IPv6 uplink


def test_ipv6_no_route_is_not_a_fact_when_routes_are_unknown():
    status, out, err = run_cli(["explain", str(CORPUS / "hostaudit-ufw-docker28-libvirt-counters.v6.rules"),
                                "--lenient", "--from", "2001:db8::5", "--to", "[2001:db8::1]:22/tcp", "--json",
                                "--no-fix"])
    assert status in (0, 1), err
    answer = json.loads(out)
    assert not (answer["verdict"] == "blocked" and "no route" in answer["reason"]), answer["reason"]
