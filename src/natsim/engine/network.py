"""The input of a simulation: rules, ipsets and topology, immutable and compiled once.

``Network`` is a frozen value; the compiled chains and the engine's world view are
cached on first use, so simulating many flows on one Network pays for them once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Mapping

from natsim.engine.chains import CRuleset, compile_ruleset
from natsim.engine.world import World
from natsim.model.ruleset import IpSets, Ruleset
from natsim.topology.model import Topology


@dataclass(frozen=True, eq=False)
class Network:
    """What the engine simulates on.

    ``rulesets`` are the Docker host's (family -> Ruleset, or None when that family's
    rules are not known: a packet of that family then meets no rules and the answer
    says so).  ``namespace_rulesets`` holds rules of other namespaces (containers may
    have their own); namespaces not listed have none.  ``ipsets`` None means the
    contents of every ipset are unknown.
    """

    rulesets: Mapping[int, Ruleset | None] = field(default_factory=dict)
    ipsets: IpSets | None = None
    topology: Topology | None = None
    namespace_rulesets: Mapping[str, Mapping[int, Ruleset]] = field(default_factory=dict)

    @cached_property
    def world(self) -> World:
        return World(self.topology)

    @cached_property
    def _compiled(self) -> dict[tuple[str, int], CRuleset | None]:
        out: dict[tuple[str, int], CRuleset | None] = {}
        host = self.world.topology.host
        for fam, rs in self.rulesets.items():
            out[(host, fam)] = compile_ruleset(rs) if rs is not None else None
        for ns, by_fam in self.namespace_rulesets.items():
            for fam, rs in by_fam.items():
                out[(ns, fam)] = compile_ruleset(rs)
        return out

    @cached_property
    def assumptions(self) -> tuple[str, ...]:
        """What the topology and the world view assumed (the same for every flow)."""
        out = list(self.world.assumptions)
        if self.topology is not None:
            out.extend(self.topology.assumptions())
        return tuple(dict.fromkeys(out))

    @cached_property
    def assumption_set(self) -> frozenset[str]:
        return frozenset(self.assumptions)

    @cached_property
    def kube_proxy_node(self) -> bool:
        """The host's IPv4 rules hold kube-proxy's (iptables mode) service chain: it is a Kubernetes node."""
        rs = self.rulesets.get(4)
        nat = rs.table("nat") if rs is not None else None
        return nat is not None and nat.chain("KUBE-SERVICES") is not None

    def compiled(self, namespace: str, family: int) -> CRuleset | None:
        return self._compiled.get((namespace, family))

    def rules_known(self, namespace: str, family: int) -> bool:
        """False when the host's rules of this family were not given (as opposed to given and empty)."""
        if namespace != self.world.topology.host:
            return True
        return self.rulesets.get(family) is not None
