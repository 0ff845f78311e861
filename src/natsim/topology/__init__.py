"""The host, its namespaces, bridges and containers: the facts a verdict needs besides the rules.

See :mod:`natsim.topology.model` for the values and the adapters beside it for the sources.
"""

from natsim.topology.model import (
    HOST,
    OUTSIDE,
    BridgePort,
    Conflict,
    Container,
    DaemonOptions,
    DockerNetwork,
    Endpoint,
    FdbEntry,
    Finding,
    Link,
    LinkAddress,
    Listener,
    Namespace,
    Neighbour,
    PolicyRule,
    Provenance,
    PublishedPort,
    Route,
    Sysctl,
    Topology,
    assumed,
    container_namespace_name,
    inferred,
    read_from,
    source_of,
)

__all__ = [
    "HOST", "OUTSIDE", "BridgePort", "Conflict", "Container", "DaemonOptions", "DockerNetwork", "Endpoint",
    "FdbEntry", "Finding", "Link", "LinkAddress", "Listener", "Namespace", "Neighbour", "PolicyRule", "Provenance",
    "PublishedPort", "Route", "Sysctl", "Topology", "assumed", "container_namespace_name", "inferred", "read_from",
    "source_of",
]
