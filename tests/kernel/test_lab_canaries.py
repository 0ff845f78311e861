"""The lab's trace canaries are removed from what callers get, and only they (no kernel needed)."""

from __future__ import annotations

from tests.lab.host import CANARY_PORT, without_canaries
from tests.lab.trace import parse_trace

CANARY = (f"PACKET: 2 aaaa0001 OUT=lo SRC=127.0.0.1 DST=127.0.0.1 LEN=34 ID=7 DF SPORT=40001 DPORT={CANARY_PORT} \n"
          " TRACE: 2 aaaa0001 raw:OUTPUT:rule:0x9:CONTINUE  -4 -t raw -A OUTPUT -p udp -m udp --dport 9 -j TRACE\n"
          " TRACE: 2 aaaa0001 raw:OUTPUT:policy:ACCEPT \n")
PROBE = ("PACKET: 2 aaaa0001 IN=eth0 SRC=198.18.0.2 DST=198.18.0.1 LEN=60 ID=5 DF SPORT=40001 DPORT=8080 SYN \n"
         " TRACE: 2 aaaa0001 raw:PREROUTING:rule:0x4:CONTINUE  -4 -t raw -A PREROUTING -p tcp -m tcp --dport 8080 -j TRACE\n"
         " TRACE: 2 aaaa0001 raw:PREROUTING:policy:ACCEPT \n")


def test_canary_lines_go_and_a_reused_trace_id_does_not_hide_the_probe():
    # the probe reuses the canary's trace id and even its client port (another namespace): only the
    # canary's destination port tells them apart
    lines = without_canaries((CANARY + PROBE + CANARY.replace("40001", "40003")).splitlines(), [40001, 40003])
    assert lines == [line for line in PROBE.splitlines()]
    (packet,) = parse_trace(lines)
    assert packet.packets[0]["DPORT"] == "8080" and [s.chain for s in packet.steps] == ["PREROUTING"]


def test_lines_of_unknown_canaries_are_kept():
    lines = without_canaries(CANARY.splitlines(), [40002])
    assert lines == CANARY.splitlines()
