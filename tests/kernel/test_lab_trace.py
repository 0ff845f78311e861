"""natsim's rule-by-rule walk against the kernel's own trace (xtables-monitor --trace, nft backend).

For every TCP flow of some catalog scenarios that the kernel connected, the rules the client's
first packet matched on the host (in order, as iptables prints them) must be exactly the rules
natsim's request leg matched in the host namespace, up to where docker-proxy takes over (the
proxy's own connection is a new packet the trace does not follow).
"""

from __future__ import annotations

import ipaddress

import pytest

from tests.kernel.scenarios.catalog import by_name
from tests.kernel.scenarios.differential import natsim_network
from tests.lab import build
from tests.lab.trace import parse_trace

pytestmark = pytest.mark.kernel

SCENARIOS = ["v28.5-noproxy", "v28.5-proxy-brnf", "docker27-free5gc", "ufw-docker28-libvirt"]


def natsim_rules(net, flow) -> list[str]:
    from natsim.engine import Flow, simulate

    src = flow.frm if flow.frm in ("outside", "host") else f"container:{flow.frm}"
    result = simulate(net, Flow(src, ipaddress.ip_address(flow.dst), flow.proto, flow.port))
    assert len(result.outcomes) == 1
    out = []
    for step in result.outcomes[0].legs[0].steps:
        if step.kind == "proxy":
            break
        if step.kind == "rule" and step.matched is True and step.namespace == "host" and step.rule is not None:
            out.append(step.rule.text)
    return out


@pytest.mark.parametrize("name", SCENARIOS)
def test_natsim_matches_the_same_rules_as_the_kernel_trace(name):
    scenario = by_name(name)
    flows = [f for f in scenario.flows if f.proto == "tcp"]
    net = natsim_network(scenario.spec)
    with build(scenario.host("nft"), prefix="ktrace") as h:
        traced = h.trace_flows([{"frm": f.frm, "dst": f.dst, "port": f.port, "timeout": 0.3} for f in flows])
        compared, wrong = 0, []
        for flow, (probe, packet) in zip(flows, traced):
            if probe.outcome != "connected" or packet is None:
                continue
            ours = natsim_rules(net, flow)
            kernel = [s.rule for s in packet.steps if s.kind == "rule"]
            if kernel != ours:
                # confirmed alone (the only traced probe of its monitor session) before it counts, so
                # events of flows traced together cannot pass for a disagreement
                kernel = alone(h, flow)
            compared += 1
            if kernel != ours:
                wrong.append(f"{flow.id}:\n  kernel: {kernel}\n  natsim: {ours}")
    assert compared >= 3, "too few traced flows to compare"
    assert not wrong, "\n".join(wrong)


def alone(h, flow) -> list[str] | None:
    """The rules the flow's first packet matched, traced in a session of its own (None: not connected)."""
    probe, lines = h.trace(flow.frm, flow.dst, flow.port, timeout=1.0, first_only=True)
    if probe.outcome != "connected":
        return None
    first = next((t for t in parse_trace(lines) if t.packets and t.packets[0].get("SPORT") == str(probe.local_port)
                  and t.packets[0].get("DPORT") == str(flow.port)), None)
    return None if first is None else [s.rule for s in first.steps if s.kind == "rule"]
