"""A simulation leaves no reference cycles behind (decision 0138).

The matrix runs thousands of simulations with the cyclic collector paused; that is only safe
while every simulation's garbage is freed by reference counting alone.
"""

from __future__ import annotations

import gc

from enginehosts import golden_host, network

from natsim.audit.flows import cell_flows
from natsim.gcpause import cyclic_gc_paused


def test_simulations_leave_no_cycles() -> None:
    from natsim.engine import simulate

    net = network("moby-iptabler-golden-default-proxy-icc-masq-nat.rules", golden_host())
    flows = cell_flows(net)
    assert len(flows) > 10
    simulate(net, flows[0].flow)  # first use builds and caches the world and the compiled rules
    gc.collect()
    with cyclic_gc_paused():
        results = [simulate(net, cf.flow) for cf in flows]
        assert {r.verdict for r in results} >= {"reachable", "blocked"}
        del results
        assert gc.collect() == 0  # nothing the cyclic collector alone could free


def test_the_pause_restores_the_collector() -> None:
    assert gc.isenabled()
    with cyclic_gc_paused():
        assert not gc.isenabled()
        with cyclic_gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
