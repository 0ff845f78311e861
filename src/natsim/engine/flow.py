"""What the user asks about: one connection from a source namespace to a destination.

A flow names *where* the connection starts (a network namespace of the topology) and
what it is sent to; the engine then walks the request and its reply through every
namespace they cross.  Resolving user words (``host:8066/tcp``, ``container:web``)
into a Flow is the explain layer's job.
"""

from __future__ import annotations

from dataclasses import dataclass

from natsim.model.values import IPAddress

#: The source port a client uses when the flow does not name one (an ephemeral port).
DEFAULT_SPORT = 40000


@dataclass(frozen=True, slots=True)
class Flow:
    """One connection: TCP/UDP/SCTP to ``dport``, or an ICMP echo request when ``proto`` is icmp.

    ``source`` is a namespace name of the topology: ``"host"``, ``"outside"`` (a client
    beyond the host's interface), ``"container:NAME"`` (resolved through --net=host and
    --net=container:X to the namespace the container's processes use) or any other
    namespace the topology holds.  ``source_address`` None lets the source's routing
    pick the address, as the kernel does.  ``in_interface`` says which host interface an
    outside client arrives on (None: the interface that owns the destination, else the
    one with the default route).
    """

    source: str
    destination: IPAddress
    proto: str = "tcp"
    dport: int | None = None
    source_address: IPAddress | None = None
    sport: int | None = None
    in_interface: str | None = None

    @property
    def family(self) -> int:
        return self.destination.version

    @property
    def is_icmp(self) -> bool:
        return self.proto in ("icmp", "icmpv6", "ipv6-icmp")

    def __str__(self) -> str:
        dst = str(self.destination)
        if self.dport is None:
            return f"{self.source} -> {dst}/{self.proto}"
        if self.destination.version == 6:
            dst = f"[{dst}]"
        return f"{self.source} -> {dst}:{self.dport}/{self.proto}"
