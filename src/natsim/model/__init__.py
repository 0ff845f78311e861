"""natsim's vendor model of iptables rulesets: immutable values, no behaviour."""

from natsim.model.location import Location
from natsim.model.matches import MATCHES, Match, UnknownMatch
from natsim.model.ruleset import (
    BUILTIN_CHAINS,
    TABLE_ORDER,
    Chain,
    Counters,
    IpSet,
    IpSets,
    Rule,
    Ruleset,
    SetEntry,
    Table,
)
from natsim.model.targets import TARGETS, Jump, Target, UnknownTarget
from natsim.model.values import AddressRange, Interface, MarkMask, NatRange, Neg, PortRange

__all__ = [
    "AddressRange", "BUILTIN_CHAINS", "Chain", "Counters", "Interface", "IpSet", "IpSets", "Jump",
    "Location", "MATCHES", "MarkMask", "Match", "NatRange", "Neg", "PortRange", "Rule", "Ruleset",
    "SetEntry", "TABLE_ORDER", "TARGETS", "Table", "Target", "UnknownMatch", "UnknownTarget",
]
