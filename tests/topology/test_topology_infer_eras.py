"""Inference recovers the Docker host that generated the rules, in every era's layout (property test).

The rules come from natsim.testing.docker.docker_rules, which follows the corpus layouts; the
checks are the facts Docker's rules must reveal: bridges with their subnets, published
containers with their ports, the userland-proxy mode and the era.
"""

from __future__ import annotations

from hypothesis import given, settings

from natsim.parse import parse_text
from natsim.testing.docker import DockerHost, docker_hosts, docker_rules
from natsim.topology.infer import infer_from_rules

ERA = {"29": ">=29", "28": ">=28.0.1,<29", "28.0.0": "28.0.0", "27": "<28"}


@settings(max_examples=60, deadline=None)
@given(docker_hosts())
def test_inference_recovers_the_generating_host(host: DockerHost) -> None:
    rs = parse_text(docker_rules(host), "generated.rules").ruleset
    t = infer_from_rules({4: rs})
    assert t.daemon.era == ERA[host.era], host.describe()
    assert t.daemon.userland_proxy is host.userland_proxy, host.describe()
    for b in host.bridges:
        n = t.network(b.name)
        assert n is not None and n.bridge == b.name, host.describe()
        assert n.subnets == (b.subnet,), host.describe()
        assert n.icc is b.icc, host.describe()
    for c in host.containers:
        if not c.ports:
            continue
        got = t.container_at(c.address)
        assert got is not None, host.describe()
        assert got.endpoint().network == t.network(c.bridge).name, host.describe()
        want = {(p.host_port, p.container_port, p.proto, p.host_ip) for p in c.ports}
        have = {(p.host_port, p.container_port, p.proto, str(p.host_ip) if p.host_ip else None) for p in got.ports}
        assert want <= have, host.describe()
