"""Hypothesis strategies and pytest helpers for testing natsim, and firewalls with natsim.

Strategies (hypothesis is needed for these; every value is built from small choices so
that a failing example shrinks to a readable counterexample):

* :mod:`natsim.testing.ip`: addresses, prefixes and ranges (IPv4, IPv6).
* :mod:`natsim.testing.netfilter`: every typed match and target (driven by the model's option
  specs), rules, loop-free chains with jumps/gotos/returns, tables, whole rulesets.
* :mod:`natsim.testing.docker`: Docker hosts (bridges, containers, published ports,
  userland-proxy, icc, br_netfilter, hairpin) and their rules in the layout of each Docker era.
* :mod:`natsim.testing.kube`: kube-proxy (iptables mode) rulesets.
* :mod:`natsim.testing.topology`: natsim topologies of those hosts and flows between them.
* :mod:`natsim.testing.verdicts`: comparing natsim's answer with what the kernel did.

Assertions (:mod:`natsim.testing.assertions`, no hypothesis needed): :func:`load`,
:func:`assert_reachable`, :func:`assert_not_reachable`, :func:`assert_only_published_ports_exposed`.
The pytest plugin (:mod:`natsim.testing.pytest_plugin`, entry point ``pytest11``) adds the
``natsim_network`` and ``natsim`` fixtures; see docs/testing.md.

Names are imported lazily, so that the pytest plugin works without hypothesis installed.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE: dict[str, str] = {
    **{n: "natsim.testing.ip" for n in (
        "address_ranges", "addresses", "ipv4_addresses", "ipv4_networks", "ipv6_addresses", "ipv6_networks",
        "networks")},
    **{n: "natsim.testing.netfilter" for n in (
        "chains", "interfaces", "match_classes", "matches", "option_values", "port_ranges", "rules", "rulesets",
        "tables", "target_classes", "targets")},
    **{n: "natsim.testing.docker" for n in (
        "BridgeSpec", "ContainerSpec", "DockerHost", "PortSpec", "docker_hosts", "docker_ipsets", "docker_rules",
        "host_from_dict", "host_to_dict")},
    **{n: "natsim.testing.kube" for n in ("KubeService", "kube_rules", "kube_services")},
    **{n: "natsim.testing.topology" for n in ("FlowSpec", "flow_of", "flows", "scenarios", "topologies",
                                              "topology_of")},
    **{n: "natsim.testing.verdicts" for n in ("Disagreement", "compare", "kernel_verdict")},
    **{n: "natsim.testing.assertions" for n in (
        "Exposure", "assert_not_reachable", "assert_only_published_ports_exposed", "assert_reachable",
        "exposures", "load", "reachability")},
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'natsim.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return __all__
