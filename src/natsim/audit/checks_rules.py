"""Checks that need only the rules: dead rules, unreachable chains, uncertainty, loose accepts.

Each check is a function ``(ruleset, context) -> list[Finding]``; they read the
shadowing analysis (computed once per ruleset) and the rule regions.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from natsim.audit.findings import Cited, Finding, Severity
from natsim.audit.probe import Header, ProbeResult, probe
from natsim.audit.regions import region_of
from natsim.audit.shadow import DeadRule, RuleAt, analyse_ruleset
from natsim.model import matches as m
from natsim.model import targets as t
from natsim.model.ruleset import IpSets, Rule, Ruleset
from natsim.topology.model import Topology


@dataclass
class Context:
    """What every check may read; the expensive analyses are computed once, lazily."""

    ruleset: Ruleset
    ipsets: IpSets | None = None
    topology: Topology | None = None
    tables_complete: bool = True  # False for partial dumps (``iptables -t X -S`` of some tables)
    _dead: list[DeadRule] | None = field(default=None, repr=False)

    @property
    def dead(self) -> list[DeadRule]:
        if self._dead is None:
            self._dead = analyse_ruleset(self.ruleset)
        return self._dead

    def probe(self, table: str, chain: str, header: Header) -> ProbeResult:
        return probe(self.ruleset, table, chain, header, tables_complete=self.tables_complete)

    def dead_keys(self) -> set[tuple[str, str, int]]:
        return {(d.ref.table, d.ref.chain, d.ref.index) for d in self.dead if d.kind != "same-as-policy"}


def all_rules(ruleset: Ruleset):
    for table in ruleset.tables:
        for chain in table.chains:
            for idx, rule in enumerate(chain.rules, start=1):
                yield RuleAt(table.name, chain.name, idx, rule)


def _verdict_word(rule: Rule) -> str:
    return rule.target.name if rule.target is not None else "(no target)"


def check_dead_rules(rs: Ruleset, ctx: Context) -> list[Finding]:
    out = []
    for d in ctx.dead:
        rule = d.ref.rule
        cites = (Cited.of(d.ref, "this rule"),) + tuple(Cited.of(c, "decides first") for c in d.culprits)
        verdict = _verdict_word(rule)
        if d.kind == "shadowed":
            intended = isinstance(rule.target, (t.Drop, t.Reject, t.Accept))
            sev = Severity.MEDIUM if isinstance(rule.target, (t.Drop, t.Reject)) else Severity.LOW
            out.append(Finding(
                "shadowed-rule", sev if intended else Severity.LOW,
                f"{verdict} rule in {d.ref.table}/{d.ref.chain} is never reached",
                "Earlier rules decide every packet it matches, with a different outcome, so its "
                f"{verdict} never happens" + (" — the rule does not do what it says." if intended else "."),
                "Move the rule above the rules that decide first, narrow those, or delete it.",
                cites,
            ))
        elif d.kind == "redundant":
            out.append(Finding(
                "redundant-rule", Severity.INFO,
                f"{verdict} rule in {d.ref.table}/{d.ref.chain} is redundant",
                "Earlier rules already give every packet it matches the same outcome; it only adds "
                "length and confusion.",
                "Delete it (after checking its counters are 0).",
                cites,
            ))
        elif d.kind == "same-as-policy":
            out.append(Finding(
                "rule-same-as-policy", Severity.INFO,
                f"{verdict} rule at the end of {d.ref.table}/{d.ref.chain} repeats the policy",
                f"No later rule matches its packets and the chain policy is {verdict} already.",
                "Delete it, or keep it on purpose as a guard against a policy change.",
                cites,
            ))
        else:
            out.append(Finding(
                "rule-matches-nothing", Severity.LOW,
                f"rule in {d.ref.table}/{d.ref.chain} can match no packet",
                "Its conditions contradict each other.",
                "Fix or delete it.",
                cites,
            ))
    return out


def live_chains(rs: Ruleset, dead: set[tuple[str, str, int]]) -> dict[str, set[str]]:
    """Per table, the user chains some reachable rule jumps to (transitively from built-ins)."""
    out: dict[str, set[str]] = {}
    for table in rs.tables:
        seen: set[str] = set()
        todo = [c.name for c in table.chains if c.builtin]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            chain = table.chain(name)
            for idx, rule in enumerate(chain.rules if chain else (), start=1):
                if isinstance(rule.target, t.Jump) and (table.name, name, idx) not in dead:
                    todo.append(rule.target.chain)
        out[table.name] = seen
    return out


def check_unreachable_chains(rs: Ruleset, ctx: Context) -> list[Finding]:
    live = live_chains(rs, ctx.dead_keys())
    out = []
    for table in rs.tables:
        users = [c for c in table.chains if not c.builtin and c.rules]
        if users and not any(c.rules for c in table.chains if c.builtin):
            # no built-in chain jumps anywhere: restore input for some chains only (kube-proxy writes
            # such files), so which chains are entered is decided by rules this file does not hold
            out.append(Finding(
                "partial-ruleset", Severity.INFO,
                f"table {table.name}: the built-in chains hold no rules, only user chains",
                "The file looks like part of a ruleset (e.g. iptables-restore input for some chains); the jumps "
                "into its chains are elsewhere, so chain reachability and every verdict through these chains "
                "depend on rules natsim was not given.",
                "Audit the full `iptables-save` output of the host.",
                (Cited.of(RuleAt(table.name, users[0].name, 1, users[0].rules[0]), "first rule"),),
            ))
            continue
        for chain in table.chains:
            if chain.builtin or chain.name in live[table.name] or not chain.rules:
                continue
            accepts = [
                RuleAt(table.name, chain.name, i, r)
                for i, r in enumerate(chain.rules, start=1) if isinstance(r.target, t.Accept)
            ]
            first = RuleAt(table.name, chain.name, 1, chain.rules[0])
            out.append(Finding(
                "unreachable-chain", Severity.LOW if accepts else Severity.INFO,
                f"chain {table.name}/{chain.name} is never entered ({len(chain.rules)} rules"
                + (f", {len(accepts)} ACCEPT" if accepts else "") + ")",
                "No reachable rule jumps to it, so none of its rules ever runs"
                + ("; the traffic its ACCEPT rules were written for is decided elsewhere." if accepts else "."),
                f"Jump to it from where it was meant to run (iptables -t {table.name} -A <CHAIN> -j {chain.name}), "
                "or delete it.",
                tuple(Cited.of(a, "ACCEPT nothing reaches") for a in accepts[:5]) or (Cited.of(first, "first rule"),),
            ))
    return out


def _set_names(rule: Rule) -> list[str]:
    return [
        mm.match_set.value[0] for mm in rule.matches
        if isinstance(mm, m.Set) and mm.match_set is not None
    ]


def check_uncertainty(rs: Ruleset, ctx: Context) -> list[Finding]:
    """Unknown modules and ipsets whose contents natsim was not given."""
    unknown: dict[str, list[RuleAt]] = defaultdict(list)
    sets: dict[str, list[RuleAt]] = defaultdict(list)
    for at in all_rules(rs):
        for mm in at.rule.matches:
            if isinstance(mm, m.UnknownMatch):
                unknown[f"match -m {mm.name}"].append(at)
        if isinstance(at.rule.target, t.UnknownTarget):
            unknown[f"target -j {at.rule.target.target_name}"].append(at)
        for name in _set_names(at.rule):
            if ctx.ipsets is None or ctx.ipsets.get(name) is None:
                sets[name].append(at)
    out = []
    for what, ats in sorted(unknown.items()):
        out.append(Finding(
            "unknown-module", Severity.INFO,
            f"{len(ats)} rule(s) use {what}, which natsim does not model",
            "Packets that reach these rules get an 'unknown' verdict where the module could decide; "
            "the rest of the answer stays exact.",
            "Nothing to change in the firewall; check these rules by hand.",
            tuple(Cited.of(a) for a in ats[:5]),
        ))
    for name, ats in sorted(sets.items()):
        missing = "no ipset contents were given" if ctx.ipsets is None else f"ipset {name} is not in the ipset dump"
        out.append(Finding(
            "missing-ipset", Severity.INFO if ctx.ipsets is None else Severity.LOW,
            f"{len(ats)} rule(s) match ipset {name}, whose contents are unknown",
            f"iptables-save does not include ipset contents ({missing}); verdicts that depend on the set are "
            "unknown.",
            "Pass `ipset save` output (a snapshot directory) so the set can be evaluated.",
            tuple(Cited.of(a) for a in ats[:5]),
        ))
    return out


def _plain_iface(neg) -> str | None:
    return None if neg is None or neg.negated else neg.value.name


def check_both_ways(rs: Ruleset, ctx: Context) -> list[Finding]:
    """``-i A -o B -j ACCEPT`` and ``-i B -o A -j ACCEPT``, neither limited to replies."""
    table = rs.table("filter")
    if table is None:
        return []
    live = live_chains(rs, ctx.dead_keys())["filter"]
    dead = ctx.dead_keys()
    accepts: dict[tuple[str, str], RuleAt] = {}
    for chain in table.chains:
        if chain.name not in live or chain.name in ("INPUT", "OUTPUT"):
            continue
        for idx, rule in enumerate(chain.rules, start=1):
            if not isinstance(rule.target, t.Accept) or ("filter", chain.name, idx) in dead:
                continue
            a, b = _plain_iface(rule.in_interface), _plain_iface(rule.out_interface)
            only_ifaces = len(region_of(rule).constraints) == 2 and not region_of(rule).opaque
            if a and b and a != b and only_ifaces:
                accepts.setdefault((a, b), RuleAt("filter", chain.name, idx, rule))
    out = []
    for (a, b), fwd in sorted(accepts.items()):
        back = accepts.get((b, a))
        if back is None or (b, a) < (a, b):
            continue
        bridge = next((x for x in (a, b) if _is_docker_bridge(x)), None)
        sev = Severity.MEDIUM if bridge else Severity.LOW
        into = b if bridge == b else a
        out.append(Finding(
            "accept-both-ways", sev,
            f"new connections are accepted both ways between {a} and {b}",
            "Both directions are accepted without a conntrack state restriction, so either side may open "
            "connections to the other; usually one direction was meant to carry only replies"
            + (f" — here every port of every container behind {bridge} is open from the other side, "
               "not only the published ones." if bridge else "."),
            f"If only replies should flow into {into}, add `-m conntrack --ctstate RELATED,ESTABLISHED` to the "
            f"rule that accepts `-o {into}` (replace it in place with iptables -R CHAIN N ...).",
            (Cited.of(fwd, f"{a} -> {b}"), Cited.of(back, f"{b} -> {a}")),
        ))
    return out


def _is_docker_bridge(name: str) -> bool:
    return name == "docker0" or name.startswith("br-") or name == "docker_gwbridge"


RULE_CHECKS = (check_dead_rules, check_unreachable_chains, check_uncertainty, check_both_ways)
