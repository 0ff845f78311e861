"""Helpers for the real-case acceptance tests: ask natsim as a user does, and the kernel as the judge.

A case is a real report (a GitHub issue, a moby test, a host dump) turned into a question:
"from X to Y, what happens, what address does the server see, which rule decides?".
natsim is asked through its command line (``natsim explain ... --json``), exactly what a
user runs; the kernel is asked through the namespace lab (tests/lab) built from the same
description, so both sides see the same host.
"""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from natsim.cli import main

from tests.lab import Host
from tests.lab.host import OUTSIDE
from tests.lab.topology import to_toml

REPO = Path(__file__).resolve().parents[2]
CORPUS = REPO / "fixtures" / "corpus"
LAB_CLIENT = Host().outside_v4


@dataclass(frozen=True)
class Answer:
    """What `natsim explain --json` printed, plus its exit status and stderr."""

    status: int
    data: dict[str, Any]
    stderr: str

    @property
    def verdict(self) -> str:
        return self.data["verdict"]

    @property
    def seen(self) -> str | None:
        return self.data.get("seen_source")

    @property
    def rule(self) -> str | None:
        d = self.data.get("deciding_rule")
        return d["text"] if d else None

    @property
    def deciding(self) -> dict[str, Any] | None:
        return self.data.get("deciding_rule")

    def everything(self) -> str:
        """The whole answer as one string, for "does natsim say X anywhere" checks."""
        return json.dumps(self.data)


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``natsim ARGV`` in-process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def explain_argv(*argv: str) -> Answer:
    """``natsim explain ARGV --json --no-fix``: for questions whose arguments a test spells itself."""
    status, out, err = run_cli(["explain", *argv, "--json", "--no-fix"])
    assert status in (0, 1), f"natsim explain exited {status}: {err}"
    return Answer(status, json.loads(out), err)


def explain(rules: Path | str, frm: str, to: str, *extra: str, topology: Path | None = None) -> Answer:
    """``natsim explain RULES --from FRM --to TO --json [--topology T] EXTRA``."""
    argv = [str(rules), "--from", frm, "--to", to, *extra]
    if topology is not None:
        argv += ["--topology", str(topology)]
    return explain_argv(*argv)


def assert_answer(a: Answer, verdict: str, seen: str | None = None, rule: str | None = None) -> None:
    """The verdict, and the source the server sees and the deciding rule where the case names them."""
    assert a.verdict == verdict, a.data["reason"]
    if seen is not None:
        assert a.seen == seen
    if rule is not None:
        assert a.rule == rule, a.deciding


def hosts_of(cases: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
    """The cases the lab can send, grouped by their host spec (``case[1]``) so each host is built once."""
    hosts: dict[int, list[tuple[Any, ...]]] = {}
    for case in cases:
        if lab_can_send(case[2], case[3]):
            hosts.setdefault(id(case[1]), []).append(case)
    return list(hosts.values())


def toml_value(v: object) -> str:
    """A TOML value for the small topology files tests write: string, integer, list or inline table."""
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return str(v) if isinstance(v, int) else json.dumps(v)


def toml_block(header: str, **keys: object) -> str:
    """``[[HEADER]]`` and its keys (``None`` values left out; ``_`` in a key written as ``-``), after a blank line."""
    lines = [f"[[{header}]]"] + [f"{k.replace('_', '-')} = {toml_value(v)}" for k, v in keys.items() if v is not None]
    return "\n" + "\n".join(lines) + "\n"


def interface(name: str, kind: str, *addresses: str) -> str:
    """A ``[[namespace.interface]]`` block."""
    return toml_block("namespace.interface", name=name, kind=kind, addresses=list(addresses))


def route(dst: str, dev: str, via: str | None = None, scope: str | None = None, table: int | None = None) -> str:
    """A ``[[namespace.route]]`` block (keys in the order the snapshot docs show)."""
    return toml_block("namespace.route", dst=dst, via=via, dev=dev, scope=scope, table=table)


def host_namespace(*blocks: str, sysctl: dict[str, int] | None = None) -> str:
    """The host's ``[[namespace]]`` with its loopback first, then ``blocks`` (interfaces, then routes)."""
    return toml_block("namespace", name="host", sysctl=sysctl) + interface("lo", "loopback", "127.0.0.1/8") + "".join(blocks)


UPLINK = interface("eth0", "physical", "198.18.0.1/24")
"""The uplink the small hand-made hosts share: eth0 at 198.18.0.1/24 ..."""
UPLINK_ROUTES = route("default", "eth0", via="198.18.0.254") + route("198.18.0.0/24", "eth0", scope="link")
"""... its default route via 198.18.0.254 and its link route."""


def write_host(tmp: Path, name: str, spec: Host) -> tuple[Path, Path]:
    """The spec's IPv4 rules and its topology TOML as files (rules file named after the case)."""
    rules = tmp / f"{name}.rules"
    rules.write_text(spec.rules_v4)
    topo = tmp / f"{name}.toml"
    topo.write_text(user_toml(spec))
    return rules, topo


def user_toml(spec: Host) -> str:
    """The lab's topology as a user's snapshot shows it: the host's side only, no "outside" namespace.

    A real host knows its uplink, not the machines beyond it; natsim puts the client there itself.
    """
    blocks = to_toml(spec).split("[[namespace]]")
    kept = [b for b in blocks if f'name = "{OUTSIDE}"' not in b.split("\n", 3)[1]]
    text = "[[namespace]]".join(kept)
    return "\n".join(line for line in text.splitlines() if line != f'peer-namespace = "{OUTSIDE}"')


def lab_source(frm: str) -> str:
    """natsim's ``--from`` for a lab endpoint name (``c1`` -> ``container:c1``)."""
    if frm == "outside":
        return LAB_CLIENT  # the lab's outside client, so that the seen address is comparable
    return frm if frm == "host" else f"container:{frm}"


def kernel_probes(spec: Host, requests: list[dict[str, Any]], backend: str = "nft",
                  host_setup: tuple[tuple[str, ...], ...] = ()) -> list[Any]:
    """Build ``spec`` in namespaces, run ``host_setup`` commands in its host namespace (e.g. ``ip rule``),
    send every request at once, tear down; the lab's Probe results."""
    from dataclasses import replace

    from tests.lab import build

    with build(replace(spec, backend=backend), prefix="cases") as h:
        for argv in host_setup:
            h.run(list(argv))
        return h.probe_many(requests)


def lab_can_send(frm: str, dst: str) -> bool:
    """False for outside -> 127.0.0.0/8: the lab's client would talk to its own loopback, not to the host
    (natsim's question is a packet *arriving* on the uplink addressed to 127.0.0.1, which raw PREROUTING drops)."""
    return not (frm == "outside" and dst.startswith("127."))


KERNEL_VERDICT = {"connected": "reachable", "closed": "blocked", "refused": "blocked", "timeout": "blocked",
                  "unreachable": "blocked"}
