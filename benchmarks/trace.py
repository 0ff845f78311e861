"""benchmarks/trace.py: traces/s for a flow that hits the last of 10,000 DNAT rules, beside the kernel.

natsim: parse a generated Docker 29 host with N published ports (natsim.generate), build the
Network once, then simulate ``outside -> host:<last port>/tcp`` (request, reply and ACK
legs, through raw, nat and filter) repeatedly.  Kernel: the same rules loaded into a lab
namespace (tests/lab, root only) with the last container present; the time of one TCP
connect() through them, measured in the same run.  Prints both and their ratio.

    .venv/bin/python benchmarks/trace.py [--ports 10000] [--seconds 2] [--no-kernel]
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from natsim.engine import Flow, Network, simulate  # noqa: E402
from natsim.generate.docker import docker_host, layout  # noqa: E402
from natsim.parse import parse_text  # noqa: E402
from natsim.topology.model import (  # noqa: E402
    Container, DaemonOptions, DockerNetwork, Endpoint, Link, LinkAddress, Namespace, PublishedPort, Sysctl,
    Topology, read_from,
)

HOST_ADDR = "198.18.0.1"
CLIENT = "198.18.0.2"
SRC = read_from("benchmark")


def topology(ports: int) -> Topology:
    pubs = layout(ports)
    links = [Link("lo", "loopback", (LinkAddress(ipaddress.ip_address("127.0.0.1"), 8, "host", SRC),), True),
             Link("eth0", "physical", (LinkAddress(ipaddress.ip_address(HOST_ADDR), 24, "global", SRC),), True)]
    bridges: dict[str, ipaddress.IPv4Network] = {}
    for p in pubs:
        bridges.setdefault(p.bridge, p.subnet)
    networks = []
    for name, sub in bridges.items():
        gw = sub.network_address + 1
        links.append(Link(name, "bridge", (LinkAddress(gw, sub.prefixlen, "global", SRC),), True))
        networks.append(DockerNetwork(name, bridge=name, subnets=(sub,), gateways=(gw,), provenance=SRC))
    containers: dict[ipaddress.IPv4Address, list] = {}
    for p in pubs:
        containers.setdefault(p.container, [p.bridge, p.subnet, []])[2].append(
            PublishedPort(p.container_port, p.proto, p.host_port, None, SRC))
    cs = tuple(Container(f"c{i}", None, b, (Endpoint(b, addr, sub.prefixlen, gateway=sub.network_address + 1),),
                         tuple(pp), True, SRC) for i, (addr, (b, sub, pp)) in enumerate(containers.items()))
    sysctls = tuple(Sysctl(k, v, SRC) for k, v in (("net.ipv4.ip_forward", "1"),
                                                    ("net.bridge.bridge-nf-call-iptables", "0")))
    host = Namespace("host", "host", tuple(links), None, None, sysctls, False, None, provenance=SRC)
    return Topology((host,), tuple(networks), cs, DaemonOptions(userland_proxy=True, provenance=SRC))


def natsim_rate(ports: int, seconds: float) -> tuple[float, float, float, str]:
    text = docker_host(ports)
    t0 = time.perf_counter()
    rs = parse_text(text, "generated").ruleset
    net = Network(rulesets={4: rs}, topology=topology(ports))
    last = layout(ports)[-1]
    flow = Flow("outside", ipaddress.ip_address(HOST_ADDR), last.proto, last.host_port,
                source_address=ipaddress.ip_address(CLIENT))
    result = simulate(net, flow)  # warms the compiled chains and the world
    setup = time.perf_counter() - t0
    o = result.outcomes[0]
    summary = f"{result.verdict}: {o.destination}:{o.destination_port} seen {o.seen_source}"
    n = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        simulate(net, flow)
        n += 1
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    return n / elapsed, n / cpu, setup, summary


def kernel_connect_time(ports: int, probes: int) -> tuple[float | None, str]:
    """Median seconds of one TCP connect through the same rules in a lab namespace (root only)."""
    if os.geteuid() != 0:
        return None, "not root: kernel side skipped"
    try:
        from tests.lab import Bridge, Container as LContainer, Host, Listen, build
    except Exception as e:  # pragma: no cover - the lab is a test package
        return None, f"tests.lab unavailable: {e}"
    last = layout(ports)[-1]
    gw = last.subnet.network_address + 1
    spec = Host(backend="nft", rules_v4=docker_host(ports),
                bridges=(Bridge(last.bridge, f"{gw}/{last.subnet.prefixlen}"),),
                containers=(LContainer("last", last.bridge, str(last.container),
                                       listen=(Listen(last.proto, last.container_port),)),),
                userland_proxy=False, br_netfilter=False, uplink_v4=(f"{HOST_ADDR}/24",), uplink_v6=(),
                outside_v4=CLIENT, outside_v6=None)
    try:
        with build(spec, prefix="enginebench") as h:
            times = []
            for _ in range(probes):
                t0 = time.perf_counter()
                r = h.probe("outside", HOST_ADDR, last.host_port, proto=last.proto)
                times.append(time.perf_counter() - t0)
            return statistics.median(times), f"kernel: {r.outcome} by {r.by} seen {r.seen}"
    except Exception as e:  # pragma: no cover - environment problems are reported, not fatal
        return None, f"kernel side failed: {type(e).__name__}: {e}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--ports", type=int, default=10_000)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--probes", type=int, default=50)
    ap.add_argument("--no-kernel", action="store_true")
    a = ap.parse_args()
    rate, cpu_rate, setup, summary = natsim_rate(a.ports, a.seconds)
    legs = "request, reply" + (", ACK" if layout(a.ports)[-1].proto == "tcp" else "")
    print(f"natsim: {a.ports} published ports; parse+compile+first trace {setup:.2f} s; {summary}")
    print(f"natsim: {rate:,.0f} traces/s = {1e3 / rate:.3f} ms per trace ({legs}); "
          f"CPU time {1e3 / cpu_rate:.3f} ms per trace (wall time includes other load: {os.getloadavg()[0]:.1f})")
    if a.no_kernel:
        return
    kt, note = kernel_connect_time(a.ports, a.probes)
    print(note)
    if kt is not None:
        print(f"kernel: one new connection through the same rules (lab probe, median of {a.probes}): "
              f"{kt * 1e3:.3f} ms")
        print(f"ratio natsim trace / kernel connect: {(1 / rate) / kt:.2f}")


if __name__ == "__main__":
    main()
