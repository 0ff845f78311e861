"""The packet walk: netfilter hooks, routing, conntrack and NAT across namespaces.

Public API::

    from natsim.engine import Network, Flow, simulate
    net = Network(rulesets={4: rs4, 6: rs6_or_None}, ipsets=ipsets_or_None, topology=topology)
    result = simulate(net, Flow("outside", ip_address("192.0.2.10"), "tcp", 8080))

Modules: ``flow`` (what is asked), ``network`` (rules + ipsets + topology, compiled once), ``world``
(namespaces, L2 segments, routing tables, built from the topology), ``chains`` (indexed chains and the
jump/goto/RETURN walk), ``matches``/``targets`` (one semantics function per model class), ``conntrack``
(entries and NAT bindings), ``walk`` (the kernel's receive/send/bridge paths), ``branches`` (unknown facts and
statistic draws as re-run branches), ``simulation`` (legs, docker-proxy, outcomes), and the contract values
``packet``, ``tri``, ``result``.  Decisions: docs/decisions/0060-0067.

Names are loaded lazily: ``natsim.topology.model`` imports ``natsim.engine.tri``, and an
eager import of the simulator here would make that import circular.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from natsim.engine.flow import Flow
    from natsim.engine.network import Network
    from natsim.engine.simulation import simulate

__all__ = ["Flow", "Network", "simulate"]

_WHERE = {"Flow": "natsim.engine.flow", "Network": "natsim.engine.network", "simulate": "natsim.engine.simulation"}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'natsim.engine' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
