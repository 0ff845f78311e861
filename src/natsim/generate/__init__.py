"""Deterministic generators of big, realistic rulesets (iptables-save text).

Used by the benchmarks and by tests that need scale: :func:`docker_host` (a Docker
29 host with N published ports) and :func:`kube_proxy` (kube-proxy's iptables mode
with N services).  The same arguments always give the same text.
"""

from natsim.generate.docker import docker_host
from natsim.generate.kube import kube_proxy

__all__ = ["docker_host", "kube_proxy"]
