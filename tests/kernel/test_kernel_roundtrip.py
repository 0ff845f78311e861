"""The kernel decides: natsim's model of a dump equals its model of what the kernel keeps of it.

For each fixture the kernel accepts: load it with iptables-restore (legacy and nft
backends; ip6tables-restore for IPv6) into a throwaway network namespace, read it back
with iptables-save, and compare natsim's models (counters ignored, as the originals
have none that restore keeps).  Also the canonical rendering of each fixture (which
is how `iptables -S` files and old-syntax files are loaded).  What the kernel refuses,
natsim refuses (a few invalid rulesets), and generated rulesets survive
render -> restore -> save -> parse.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from natsim.errors import InputError
from natsim.model.ruleset import Chain, Ruleset, Table
from natsim.parse import parse_file, parse_text
from natsim.render.save import render_ruleset

pytestmark = pytest.mark.kernel

CORPUS = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"
FILES = sorted(p for p in CORPUS.iterdir() if p.suffix in (".rules", ".txt") and not p.name.startswith("hostaudit-"))
BACKENDS = ("legacy", "nft")
TIMEOUT = 20


def _missing() -> str | None:
    if os.geteuid() != 0:
        return "kernel tests need root (network namespaces, iptables)"
    for tool in ("ip", "iptables-legacy-restore", "iptables-nft-restore", "ip6tables-legacy-restore",
                 "ip6tables-nft-restore"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


class Namespace:
    """A network namespace of our own, for one backend; removed at the end."""

    def __init__(self, backend: str) -> None:
        self.backend = backend
        self.name = f"parser-rt-{os.getpid()}-{backend}-{uuid.uuid4().hex[:6]}"
        subprocess.run(["ip", "netns", "add", self.name], check=True, timeout=TIMEOUT)

    def run(self, argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], input=stdin, capture_output=True,
                              text=True, timeout=TIMEOUT)

    def tool(self, family: int, what: str) -> str:
        return f"{'ip6tables' if family == 6 else 'iptables'}-{self.backend}-{what}"

    def restore(self, text: str, family: int) -> subprocess.CompletedProcess[str]:
        return self.run([self.tool(family, "restore")], text)

    def save(self, family: int) -> str:
        out = self.run([self.tool(family, "save")])
        assert out.returncode == 0, out.stderr
        return out.stdout

    def reset(self) -> None:
        for family in (4, 6):
            doc = "".join(f"*{t}\n" + "".join(f":{c} ACCEPT [0:0]\n" for c in chains) + "COMMIT\n"
                          for t, chains in (("raw", ("PREROUTING", "OUTPUT")),
                                            ("mangle", ("PREROUTING", "INPUT", "FORWARD", "OUTPUT",
                                                        "POSTROUTING")),
                                            ("nat", ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING")),
                                            ("filter", ("INPUT", "FORWARD", "OUTPUT"))))
            self.restore(doc, family)

    def close(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], timeout=TIMEOUT, capture_output=True)


@pytest.fixture(scope="module", params=BACKENDS)
def netns(request):
    reason = _missing()
    if reason:
        pytest.skip(reason)
    ns = Namespace(request.param)
    try:
        # Docker 28.0.0's rules match this set; iptables-restore refuses a missing set.
        for name, family in (("docker-ext-bridges-v4", "inet"), ("docker-ext-bridges-v6", "inet6")):
            ns.run(["ipset", "create", name, "hash:net", "family", family])
        yield ns
    finally:
        ns.close()


def strip(rs: Ruleset, tables: set[str] | None = None) -> Ruleset:
    """The ruleset without counters (and only ``tables``), for comparing with the kernel's dump."""
    out = []
    for t in rs.tables:
        if tables is not None and t.name not in tables:
            continue
        chains = tuple(
            Chain(c.name, c.policy, None, tuple(dataclasses.replace(r, counters=None) for r in c.rules))
            for c in t.chains
        )
        out.append(Table(t.name, chains))
    return Ruleset(rs.family, tuple(out))


def first_difference(a: Ruleset, b: Ruleset) -> str:
    from natsim.render.save import render_rule

    for ta, tb in zip(a.tables, b.tables):
        if ta == tb:
            continue
        for ca, cb in zip(ta.chains, tb.chains):
            if ca == cb:
                continue
            if ca.name != cb.name or ca.policy != cb.policy:
                return f"{ta.name}: chain {ca.name}/{ca.policy} vs {cb.name}/{cb.policy}"
            for ra, rb in zip(ca.rules, cb.rules):
                if ra != rb:
                    return f"{ta.name} {ca.name}:\n  ours:   {render_rule(ra, ca.name)}\n  kernel: " \
                           f"{render_rule(rb, cb.name)}\n  {ra}\n  {rb}"
            return f"{ta.name} {ca.name}: {len(ca.rules)} vs {len(cb.rules)} rules"
        return f"{ta.name}: chains {[c.name for c in ta.chains]} vs {[c.name for c in tb.chains]}"
    return f"tables {[t.name for t in a.tables]} vs {[t.name for t in b.tables]}"


def kernel_model(ns: Namespace, text: str, family: int, tables: set[str]) -> Ruleset | str:
    """Load ``text``; the model of the kernel's dump, or the kernel's refusal message."""
    ns.reset()
    loaded = ns.restore(text, family)
    if loaded.returncode != 0:
        return loaded.stderr.strip() or f"exit status {loaded.returncode}"
    saved = ns.save(family)
    return strip(parse_text(saved, "kernel-save", family=family).ruleset, tables)


LIMITS = ["5/day 8", "5/day 5", "1/day 5", "1/day 2", "1/day 1", "10/day 100", "1/hour 1000", "3/hour 5",
          "2/day 3", "7/hour 2000"]


@pytest.mark.parametrize("rate_burst", LIMITS)
def test_limit_overflow_check_agrees_with_legacy(netns: Namespace, rate_burst: str):
    """xt_limit refuses a rate whose credits overflow (computed for HZ*CREDITS_PER_JIFFY = 32000)."""
    from natsim.validate import validate

    if netns.backend != "legacy":
        pytest.skip("nft's limit has no overflow check; natsim follows legacy (decision 0023)")
    rate, burst = rate_burst.split()
    text = f"*filter\n-A INPUT -m limit --limit {rate} --limit-burst {burst} -j ACCEPT\nCOMMIT\n"
    refused = netns.restore(text, 4).returncode != 0
    assert bool(validate(parse_text(text, "limit"))) == refused


ACCEPTED = {
    "unreached-loop": "*filter\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-A B -j A\nCOMMIT\n",
    "unreached-masquerade": "*nat\n:X - [0:0]\n-A X -j MASQUERADE\nCOMMIT\n",
    "builtin-declared-twice": "*filter\n:INPUT ACCEPT [0:0]\n:INPUT DROP [0:0]\nCOMMIT\n",
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_what_the_kernel_accepts_natsim_accepts(netns: Namespace, name: str):
    from natsim.validate import validate

    assert netns.restore(ACCEPTED[name], 4).returncode == 0
    assert validate(parse_text(ACCEPTED[name], name)) == []


def test_kernel_tools_accept_what_natsim_reads_differently(netns: Namespace):
    """Decisions 0022/0023 rest on these: 1.8 refuses `-s ! ADDR`, accepts an unterminated quote."""
    old = netns.restore("*filter\n-A INPUT -s ! 10.0.0.1 -j ACCEPT\nCOMMIT\n", 4)
    assert old.returncode != 0
    quote = netns.restore('*filter\n-A INPUT -m comment --comment "abc -j ACCEPT\nCOMMIT\n', 4)
    assert quote.returncode == 0


#: Fixtures written in syntax today's iptables-restore refuses (natsim reads them; decision 0022).
OLD_SYNTAX = {"fffuu-ugent.rules"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
@pytest.mark.parametrize("variant", ("original", "rendered"))
def test_kernel_agrees_on_fixture(netns: Namespace, path: Path, variant: str):
    parsed = parse_file(path)
    ours = strip(parsed.ruleset)
    if variant == "original":
        if parsed.format != "save":
            pytest.skip("iptables -S output is not iptables-restore input (see the rendered variant)")
        if path.name in OLD_SYNTAX:
            result = netns.restore(path.read_text(), ours.family)
            assert result.returncode != 0, "iptables 1.8 was expected to refuse '-s ! ADDR'"
            return
        text = path.read_text()
    else:
        text = render_ruleset(parsed.ruleset, counters=False)
    kernel = kernel_model(netns, text, ours.family, {t.name for t in ours.tables})
    if isinstance(kernel, str):
        pytest.skip(f"{netns.backend} kernel/iptables refused it: {kernel.splitlines()[0]}")
    assert kernel == ours, first_difference(ours, kernel)


INVALID = {
    "dnat-in-filter": "*filter\n-A INPUT -p tcp -j DNAT --to-destination 10.0.0.1\nCOMMIT\n",
    "unknown-option": "*filter\n-A INPUT -p tcp --no-such-option 1 -j ACCEPT\nCOMMIT\n",
    "dport-without-proto": "*filter\n-A INPUT --dport 80 -j ACCEPT\nCOMMIT\n",
    "negated-proto-dport": "*filter\n-A INPUT ! -p tcp --dport 80 -j ACCEPT\nCOMMIT\n",
    "bad-address": "*filter\n-A INPUT -s 10.0.0.300 -j ACCEPT\nCOMMIT\n",
    "bad-port": "*filter\n-A INPUT -p tcp --dport 70000 -j ACCEPT\nCOMMIT\n",
    "two-targets": "*filter\n-A INPUT -j ACCEPT -j DROP\nCOMMIT\n",
    "no-commit": "*filter\n-A INPUT -j ACCEPT\n",
    "policy-on-user-chain": "*filter\n:FOO ACCEPT [0:0]\nCOMMIT\n",
    "bad-policy": "*filter\n:INPUT REJECT [0:0]\nCOMMIT\n",
    "no-such-table": "*nosuch\nCOMMIT\n",
    "duplicate-option": "*filter\n-A INPUT -p tcp --dport 80 --dport 81 -j ACCEPT\nCOMMIT\n",
    "insert-too-far": "*filter\n-I INPUT 3 -j ACCEPT\nCOMMIT\n",
    "table-option": "*filter\n-t nat -A INPUT -j ACCEPT\nCOMMIT\n",
    "long-interface": "*filter\n-A INPUT -i abcdefghijklmnopq -j ACCEPT\nCOMMIT\n",
    "unknown-target-or-chain": "*filter\n-A INPUT -j NO-SUCH-CHAIN\nCOMMIT\n",
    "masquerade-in-prerouting": "*nat\n-A PREROUTING -j MASQUERADE\nCOMMIT\n",
    "reject-in-nat": "*nat\n-A PREROUTING -j REJECT\nCOMMIT\n",
    "drop-in-nat": "*nat\n-A PREROUTING -j DROP\nCOMMIT\n",
    "owner-in-input": "*filter\n-A INPUT -m owner --uid-owner 0 -j ACCEPT\nCOMMIT\n",
    "owner-reached-from-input": "*filter\n:X - [0:0]\n-A INPUT -j X\n-A X -m owner --uid-owner 0\nCOMMIT\n",
    "rpfilter-in-filter": "*filter\n-A INPUT -m rpfilter -j ACCEPT\nCOMMIT\n",
    "loop": "*filter\n:A - [0:0]\n:B - [0:0]\n-A A -j B\n-A B -j A\n-A INPUT -j A\nCOMMIT\n",
    "duplicate-chain": "*filter\n:FOO - [0:0]\n:FOO - [0:0]\nCOMMIT\n",
    "undeclared-chain": "*filter\n-A FOO -j ACCEPT\nCOMMIT\n",
    "jump-to-builtin": "*filter\n:X - [0:0]\n-A X -j INPUT\nCOMMIT\n",
    "snat-in-prerouting": "*nat\n-A PREROUTING -j SNAT --to-source 1.2.3.4\nCOMMIT\n",
    # decision 0153: matches and targets that need their protocol, statistic's nth options
    "tcp-match-without-proto": "*filter\n-A INPUT -m tcp --dport 80 -j ACCEPT\nCOMMIT\n",
    "tcp-match-with-udp": "*filter\n-A INPUT -p udp -m tcp --dport 80 -j ACCEPT\nCOMMIT\n",
    "icmp-match-without-proto": "*filter\n-A INPUT -m icmp --icmp-type 8 -j ACCEPT\nCOMMIT\n",
    "multiport-without-proto": "*filter\n-A INPUT -m multiport --dports 80,443 -j ACCEPT\nCOMMIT\n",
    "tcp-reset-without-tcp": "*filter\n-A INPUT -p udp -j REJECT --reject-with tcp-reset\nCOMMIT\n",
    "nth-every-without-packet": "*filter\n-A INPUT -m statistic --mode nth --every 3 -j ACCEPT\nCOMMIT\n",
    "nth-packet-too-big": "*filter\n-A INPUT -m statistic --mode nth --every 3 --packet 3 -j ACCEPT\nCOMMIT\n",
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_what_the_kernel_refuses_natsim_refuses(netns: Namespace, name: str):
    from natsim.validate import validate

    text = INVALID[name]
    refused = netns.restore(text, 4)
    if netns.backend == "nft" and refused.returncode == 0:
        pytest.skip("iptables-nft accepts this; natsim follows the stricter legacy backend (decision 0023)")
    assert refused.returncode != 0, f"{netns.backend} accepted {name}; the test's premise is wrong"
    try:
        parsed = parse_text(text, name)
    except InputError:
        return
    problems = validate(parsed)
    assert problems, f"natsim accepted {name}, which the kernel refuses: {refused.stderr.strip()}"


try:
    from hypothesis import HealthCheck, given, settings

    from tests.parse.strategies import rulesets
except ImportError:  # pragma: no cover - hypothesis is a test dependency
    rulesets = None


if rulesets is not None:

    @settings(max_examples=15, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(ruleset=rulesets(version=4, max_rules=3))
    def test_generated_rulesets_survive_the_kernel(netns: Namespace, ruleset: Ruleset):
        """render -> iptables-restore -> iptables-save -> parse gives the generated model back."""
        kernel = kernel_model(netns, render_ruleset(ruleset), 4, {t.name for t in ruleset.tables})
        assert not isinstance(kernel, str), kernel
        assert kernel == strip(ruleset), first_difference(strip(ruleset), kernel)


@pytest.mark.parametrize("path", sorted(CORPUS.glob("hostaudit-*.rules")), ids=lambda p: p.name)
def test_counters_survive_the_kernel(netns: Namespace, path: Path):
    """An `iptables-save -c` dump (its redacted lines left out) keeps every counter through restore -c/save -c."""
    parsed = parse_file(path, lenient=True)
    family = parsed.ruleset.family
    if netns.backend == "nft" and family == 6:
        pytest.skip("ip6tables-nft-restore 1.8.9 --counters keeps chain counters but zeroes rule counters")
    netns.reset()
    loaded = netns.run([netns.tool(family, "restore"), "--counters"], render_ruleset(parsed.ruleset))
    if loaded.returncode != 0:
        pytest.skip(f"{netns.backend} refused it: {loaded.stderr.strip().splitlines()[0]}")
    saved = netns.run([netns.tool(family, "save"), "-c"])
    assert saved.returncode == 0, saved.stderr
    kernel = parse_text(saved.stdout, "kernel-save", family=family).ruleset
    names = {t.name for t in parsed.ruleset.tables}
    kernel = Ruleset(family, tuple(t for t in kernel.tables if t.name in names))
    assert kernel == parsed.ruleset, first_difference(parsed.ruleset, kernel)
