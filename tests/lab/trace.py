"""The kernel's rule-by-rule trace (``xtables-monitor --trace``) as data, to compare with natsim's trace.

Each packet the kernel traced becomes a :class:`TracedPacket`: the header fields xtables-monitor
printed (``IN``, ``OUT``, ``SRC``, ``DST``, ``SPORT``, ``DPORT`` ...) at each hook, and the steps
in order: which table/chain, whether a rule or the policy decided, the verdict and the rule text
as iptables prints it. The lab's own ``-j TRACE`` rules are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

TRACE_RE = re.compile(r"^\s*TRACE: (\d+) ([0-9a-f]+) ([^:\s]+):([^:\s]+):(rule|policy|return)(?::(0x[0-9a-f]+))?"
                      r"(?::([A-Z]+))?(?::(\S+))?\s*(.*)$")
PACKET_RE = re.compile(r"^\s*PACKET: (\d+) ([0-9a-f]+) (.*)$")


@dataclass(frozen=True)
class TraceStep:
    table: str
    chain: str
    kind: str  # "rule", "policy" or "return"
    verdict: str  # ACCEPT, DROP, CONTINUE, JUMP, GOTO, RETURN ... ("" for a plain return)
    target_chain: str | None = None  # for JUMP/GOTO
    rule: str = ""  # "-A DOCKER ! -i br-dummy -p tcp ... -j DNAT ..." (without the "-4 -t nat" prefix)
    handle: str | None = None


@dataclass
class TracedPacket:
    trace_id: str
    packets: list[dict[str, str]] = field(default_factory=list)  # header fields per PACKET line
    steps: list[TraceStep] = field(default_factory=list)

    def chains(self) -> list[str]:
        """``table:chain`` in the order the packet went through them (repeats collapsed)."""
        out: list[str] = []
        for s in self.steps:
            key = f"{s.table}:{s.chain}"
            if not out or out[-1] != key:
                out.append(key)
        return out

    def decisions(self) -> list[TraceStep]:
        """The steps that ended a chain's walk: a policy, an ACCEPT/DROP/... rule (not JUMP/CONTINUE)."""
        return [s for s in self.steps if s.verdict not in ("JUMP", "GOTO", "CONTINUE", "")]


def _fields(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for word in text.split():
        key, eq, value = word.partition("=")
        out[key] = value if eq else "1"  # flags such as SYN, ACK, DF
    return out


def parse_trace(lines: list[str]) -> list[TracedPacket]:
    """Group xtables-monitor --trace lines by trace id, in first-seen order."""
    packets: dict[str, TracedPacket] = {}
    for line in lines:
        m = PACKET_RE.match(line)
        if m:
            packets.setdefault(m.group(2), TracedPacket(m.group(2))).packets.append(_fields(m.group(3)))
            continue
        m = TRACE_RE.match(line)
        if not m:
            continue
        _, tid, table, chain, kind, handle, verdict, target, rule = m.groups()
        rule = re.sub(r"^-[46] -t \S+ ", "", rule.strip())
        if rule.endswith("-j TRACE"):
            continue  # the lab's own tracing rule
        packets.setdefault(tid, TracedPacket(tid)).steps.append(
            TraceStep(table, chain, kind, verdict or "", target, rule, handle))
    return list(packets.values())
