"""Checks the kernel makes when a ruleset is loaded, with located messages.

The parser accepts every line that is well-formed on its own; these checks look at
the ruleset as a whole, as iptables-restore and the kernel do when it is committed:
rules in chains that were never declared, chains declared twice, jumps to chains that
do not exist (or to built-in chains), jump loops, and targets used in a table or
reached from a hook where the kernel refuses them (DNAT outside nat
PREROUTING/OUTPUT, MASQUERADE outside POSTROUTING, REJECT in nat ...).
Each claim is checked against iptables-restore in tests/kernel/test_kernel_roundtrip.py.
"""

from __future__ import annotations

from collections.abc import Iterable

from natsim.errors import InputError
from natsim.model.location import Location
from natsim.model.ruleset import BUILTIN_CHAINS, Rule, Ruleset, Table
from natsim.engine.matches import proto_number
from natsim.model.matches import Dccp, Icmp, Icmp6, Limit, Multiport, Sctp, Statistic, Tcp, Udp, UdpLite
from natsim.model.targets import TARGETS, Jump, Reject, UnknownTarget
from natsim.parse import ParsedFile
from natsim.parse.normalize import limit_period

#: Target extensions of the kernel that natsim does not model; ``-j`` of any other
#: unknown name that is not a chain is a jump to a chain that does not exist.
KNOWN_TARGET_EXTENSIONS = frozenset({
    "AUDIT", "CHECKSUM", "CLASSIFY", "CLUSTERIP", "CONNSECMARK", "CT", "DSCP", "ECN", "HL", "HMARK",
    "IDLETIMER", "LED", "MIRROR", "NFQUEUE", "RATEEST", "SECMARK", "SET", "SNPT", "DNPT", "SYNPROXY",
    "TEE", "TOS", "TTL", "ULOG", "IPV4OPTSSTRIP", "TARPIT", "DELUDE", "CHAOS", "LOGMARK", "SYSRQ",
    "STEAL", "ACCOUNT", "RAWDNAT", "RAWSNAT", "DHCPMAC", "ECHO", "IPMARK",
}) | frozenset(TARGETS)


#: Matches the kernel accepts only in some tables / from some hooks: class name -> (tables, hooks); None = any.
MATCH_PLACES: dict[str, tuple[frozenset[str] | None, frozenset[str] | None]] = {
    "Owner": (None, frozenset({"OUTPUT", "POSTROUTING"})),
    "Rpfilter": (frozenset({"raw", "mangle"}), frozenset({"PREROUTING"})),
}


#: xt_limit converts rates with HZ * CREDITS_PER_JIFFY; 32000 for HZ=250 and HZ=1000 (the usual kernels).
_LIMIT_HZ_CPJ = 32000
_LIMIT_SCALE = 10000
_U32 = 0xFFFFFFFF


def _user2credits(user: int) -> int:
    """xt_limit's user2credits, in u32 arithmetic as the kernel does it."""
    user &= _U32
    if user > _U32 // _LIMIT_HZ_CPJ:
        return ((user // _LIMIT_SCALE) * _LIMIT_HZ_CPJ) & _U32
    return ((user * _LIMIT_HZ_CPJ) // _LIMIT_SCALE) & _U32


def limit_overflows(match: Limit) -> bool:
    """Whether xt_limit's checkentry refuses this rate and burst ("Overflow, try lower")."""
    period = limit_period(match.limit or "3/hour")
    burst = 5 if match.limit_burst is None else match.limit_burst
    if period is None:
        return False
    return burst == 0 or _user2credits(period * burst) < _user2credits(period)


#: Matches whose checkentry wants the rule's ``-p`` (not negated) to be their protocol: class -> protocol numbers.
PROTOCOL_MATCHES: dict[type, tuple[int, ...]] = {
    Tcp: (6,), Udp: (17,), UdpLite: (136,), Sctp: (132,), Dccp: (33,), Icmp: (1,), Icmp6: (58,),
    Multiport: (6, 17, 136, 132, 33),
}


def _protocol(rule: Rule) -> int | None:
    """The protocol number ``-p`` requires, or None (absent, ``all``, or negated)."""
    if rule.protocol is None or rule.protocol.negated:
        return None
    number = proto_number(rule.protocol.value)
    return number or None


def _needs_protocol(rule: Rule) -> Iterable[InputError]:
    """Matches and targets that only work for one protocol (decision 0153): iptables refuses the rule
    ("TCP match requires '-p tcp'", "multiport needs `-p tcp', ...", ipt_REJECT's "TCP_RESET invalid for
    non-tcp")."""
    proto = _protocol(rule)
    for match in rule.matches:
        wanted = PROTOCOL_MATCHES.get(type(match))
        if wanted is not None and proto not in wanted:
            name = match.module
            yield _problem(rule.location, f"found -m {name} in a rule without -p for it",
                           f"expected -p {_PROTO_WORDS.get(wanted[0], wanted[0])}" +
                           (" (or udp, udplite, sctp, dccp)" if len(wanted) > 1 else "") +
                           f" before -m {name} (iptables refuses it otherwise)", rule.text)
    tgt = rule.target
    if isinstance(tgt, Reject) and tgt.reject_with == "tcp-reset" and proto != 6:
        yield _problem(rule.location, "found -j REJECT --reject-with tcp-reset in a rule without -p tcp",
                       "expected -p tcp with --reject-with tcp-reset (the kernel refuses a TCP reset for other "
                       "protocols)", rule.text)


_PROTO_WORDS = {6: "tcp", 17: "udp", 136: "udplite", 132: "sctp", 33: "dccp", 1: "icmp", 58: "ipv6-icmp"}


def _statistic_problems(rule: Rule) -> Iterable[InputError]:
    """libxt_statistic: ``--every`` needs ``--packet`` and ``0 <= --packet < --every`` (nth mode)."""
    for match in rule.matches:
        if not isinstance(match, Statistic) or match.mode != "nth":
            continue
        every = match.every.value if match.every is not None else None
        if every is not None and match.packet is None:
            yield _problem(rule.location, f"found -m statistic --mode nth --every {every} without --packet",
                           "expected --packet P as well (iptables: option \"--every\" also requires \"--packet\")",
                           rule.text)
        elif match.packet is not None and (every is None or match.packet >= every):
            yield _problem(rule.location, f"found --packet {match.packet}" +
                           (f" with --every {every}" if every is not None else " without --every"),
                           "expected --every N and 0 <= --packet < N", rule.text)


def _rule_problems(rule: Rule) -> Iterable[InputError]:
    """Checks on one rule that iptables-restore makes (on the stricter backend, decision 0023)."""
    yield from _needs_protocol(rule)
    yield from _statistic_problems(rule)
    for neg, flag in ((rule.source, "-s"), (rule.destination, "-d")):
        if neg is not None and neg.negated and neg.value.prefixlen == 0:
            yield _problem(rule.location, f"found ! {flag} {neg.value}",
                           "expected an address match that can match (iptables-nft refuses a negated /0; "
                           "under legacy the rule never matches)", rule.text)
    for match in rule.matches:
        if isinstance(match, Limit) and limit_overflows(match):
            yield _problem(rule.location, f"found -m limit --limit {match.limit} --limit-burst "
                                          f"{5 if match.limit_burst is None else match.limit_burst}",
                           "expected a rate times burst that fits the kernel's counters (iptables-legacy "
                           "refuses it: 'Overflow, try lower')", rule.text)


def _problem(loc: Location, found: str, expected: str, text: str | None = None) -> InputError:
    return InputError(loc.file, loc.line, loc.column, found, expected, text)


def validate(parsed: ParsedFile) -> list[InputError]:
    """Every problem the kernel would refuse the ruleset for, in file order."""
    problems: list[InputError] = []
    for note in parsed.undeclared:
        if parsed.format == "save":
            expected = f"expected ':{note.chain} - [0:0]' before rules of chain {note.chain} (table {note.table})"
        else:
            expected = f"expected '-N {note.chain}' before rules of chain {note.chain} (table {note.table})"
        problems.append(_problem(note.location, f"found a rule in undeclared chain {note.chain}", expected))
    for note in parsed.duplicates:
        if note.chain in BUILTIN_CHAINS.get(note.table, ()):
            continue  # re-declaring a built-in chain only sets its policy again
        problems.append(_problem(note.location, f"found chain {note.chain} declared again",
                                 f"expected each chain once per table ({note.table})"))
    for table in parsed.ruleset.tables:
        problems.extend(check_table(table))
    problems.sort(key=lambda p: (p.file, p.line, p.column))
    return problems


def check_ruleset(ruleset: Ruleset) -> list[InputError]:
    """The whole-ruleset checks for a model that did not come from a file (no declaration notes)."""
    out = [p for t in ruleset.tables for p in check_table(t)]
    out.sort(key=lambda p: (p.file, p.line, p.column))
    return out


def _jumps(rule: Rule) -> str | None:
    t = rule.target
    return t.chain if isinstance(t, Jump) else None


def check_table(table: Table) -> Iterable[InputError]:
    builtins = BUILTIN_CHAINS.get(table.name, ())
    names = {c.name for c in table.chains}
    # Jumps to chains that do not exist, or to built-in chains.
    for chain in table.chains:
        for rule in chain.rules:
            t = rule.target
            target_name = t.chain if isinstance(t, Jump) else t.target_name if isinstance(t, UnknownTarget) else None
            if target_name in builtins:
                yield _problem(rule.location, f"found a jump to built-in chain {target_name}",
                               "expected a jump to a user-defined chain", rule.text)
            elif isinstance(t, UnknownTarget) and t.target_name not in KNOWN_TARGET_EXTENSIONS \
                    and t.target_name not in names:
                yield _problem(rule.location, f"found -j {t.target_name}",
                               f"expected a chain of table {table.name} or a target extension "
                               f"({t.target_name} is neither)", rule.text)
    # Which built-in hooks reach each chain; loops.
    reached: dict[str, set[str]] = {c.name: set() for c in table.chains}
    edges = {c.name: [(r, _jumps(r)) for r in c.rules if _jumps(r) in names] for c in table.chains}
    for hook in builtins:
        stack = [hook]
        while stack:
            name = stack.pop()
            if hook in reached[name]:
                continue
            reached[name].add(hook)
            stack.extend(dst for _r, dst in edges[name] if dst is not None)
    yield from _loops(edges, [b for b in builtins if b in edges])
    # Matches and targets the table or the reaching hooks do not allow.
    for chain in table.chains:
        hooks = reached[chain.name]
        for rule in chain.rules:
            yield from _rule_problems(rule)
            for match in rule.matches:
                place = MATCH_PLACES.get(type(match).__name__)
                if place is None:
                    continue
                m_tables, m_hooks = place
                if m_tables is not None and table.name not in m_tables:
                    yield _problem(rule.location, f"found -m {match.module} in table {table.name}",
                                   f"expected it only in table {', '.join(sorted(m_tables))} "
                                   "(the kernel refuses it elsewhere)", rule.text)
                elif m_hooks is not None and hooks - m_hooks:
                    yield _problem(rule.location,
                                   f"found -m {match.module} reached from {', '.join(sorted(hooks - m_hooks))}",
                                   f"expected it only in chains reached from {', '.join(sorted(m_hooks))}",
                                   rule.text)
            cls = type(rule.target)
            if rule.target is None or isinstance(rule.target, (Jump, UnknownTarget)):
                continue
            if table.name == "nat" and rule.target.name == "DROP":
                yield _problem(rule.location, "found DROP in table nat",
                               "expected no DROP in nat (iptables refuses: nat is not for filtering)", rule.text)
                continue
            allowed_tables = getattr(cls, "tables", None)
            if allowed_tables is not None and table.name not in allowed_tables:
                yield _problem(rule.location, f"found target {rule.target.name} in table {table.name}",
                               f"expected it only in table {', '.join(sorted(allowed_tables))} "
                               "(the kernel refuses it elsewhere)", rule.text)
                continue
            allowed_hooks = getattr(cls, "hooks", None)
            if allowed_hooks is not None and hooks - allowed_hooks:
                bad = ", ".join(sorted(hooks - allowed_hooks))
                yield _problem(rule.location,
                               f"found target {rule.target.name} reached from {bad} (chain {chain.name})",
                               f"expected it only in chains reached from {', '.join(sorted(allowed_hooks))}",
                               rule.text)


def _loops(edges: dict[str, list[tuple[Rule, str | None]]], starts: list[str]) -> Iterable[InputError]:
    """A jump that closes a cycle reachable from a built-in chain (the kernel refuses those: ELOOP;
    a loop among chains no hook reaches is accepted)."""
    state: dict[str, int] = {}  # 1 on stack, 2 done
    for start in starts:
        if state.get(start):
            continue
        stack: list[tuple[str, int]] = [(start, 0)]
        state[start] = 1
        while stack:
            name, i = stack.pop()
            out = edges[name]
            if i < len(out):
                stack.append((name, i + 1))
                rule, dst = out[i]
                if dst is None:
                    continue
                if state.get(dst) == 1:
                    yield _problem(rule.location, f"found a jump from {name} to {dst} that closes a loop",
                                   "expected chains that do not jump back into themselves "
                                   "(the kernel refuses loops)", rule.text)
                elif not state.get(dst):
                    state[dst] = 1
                    stack.append((dst, 0))
            else:
                state[name] = 2
