"""The namespace lab: Docker-like hosts built in network namespaces, the kernel's ground truth.

Usage (see tests/lab/README.md)::

    from tests.lab import Host, Bridge, Container, Listen, Publish, build
    with build(Host(rules_v4=..., containers=(Container("c1", "docker0", "172.17.0.2",
                                                        listen=(Listen("tcp", 80),)),)),
               prefix="engine") as h:
        r = h.probe("outside", h.address("host"), 8080)
        assert r.outcome == "connected" and r.seen == "198.18.0.2"
"""

from .host import HOST, OUTSIDE, Probe, RunningHost, build
from .netns import LabError, sweep_stale
from .spec import Bridge, Container, Host, Listen, Publish
from .trace import TracedPacket, TraceStep, parse_trace

__all__ = ["HOST", "OUTSIDE", "Bridge", "Container", "Host", "LabError", "Listen", "Probe", "Publish",
           "RunningHost", "TraceStep", "TracedPacket", "build", "parse_trace", "sweep_stale"]
