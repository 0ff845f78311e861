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
    """The traced packets in order, each with its header fields per hook and its steps.

    The kernel's trace id is not a packet identity: it changes along the way (a routed frame from a
    bridge port gets a new one) and later packets reuse old ones. So a packet starts where it meets
    the lab's ``-j TRACE`` rule, and an unknown id is joined to the packet with the same IPv4 ``ID``
    header field and source port, which NAT leaves alone (IPv6 packets are followed by trace id only).
    """
    out: list[TracedPacket] = []
    by_tid: dict[str, TracedPacket] = {}
    by_key: dict[tuple[str, str], TracedPacket] = {}
    pending: dict[str, dict[str, str]] = {}  # the last PACKET line per trace id, not yet given to a packet
    last: dict[str, dict[str, str]] = {}
    for line in lines:
        m = PACKET_RE.match(line)
        if m:
            pending[m.group(2)] = last[m.group(2)] = _fields(m.group(3))
            continue
        m = TRACE_RE.match(line)
        if not m:
            continue
        _, tid, table, chain, kind, handle, verdict, target, rule = m.groups()
        rule = re.sub(r"^-[46] -t \S+ ", "", rule.strip())
        fields = last.get(tid, {})
        # IPv4's ID with the source port names one packet (ID 0 does not: DF packets may all carry it;
        # the port tells apart senders whose counters meet); IPv6 has no such field
        key = ("ID", fields["ID"] + "/" + fields.get("SPORT", "")) if fields.get("ID", "0") != "0" else ("tid", tid)
        tracing = rule.endswith("-j TRACE")
        # a packet meets the TRACE rule again after loopback (raw OUTPUT, then raw PREROUTING on lo)
        start = tracing and not (key[0] == "ID" and key in by_key)
        packet = None if start else by_key.get(key) or by_tid.get(tid)
        if packet is None:
            packet = TracedPacket(tid)
            out.append(packet)
        by_tid[tid], by_key[key] = packet, packet
        if tid in pending:
            packet.packets.append(pending.pop(tid))
        if not tracing:
            packet.steps.append(TraceStep(table, chain, kind, verdict or "", target, rule, handle))
    return out
