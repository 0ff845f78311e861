"""kube-proxy (iptables mode) rulesets as small values, and a strategy for them.

:func:`kube_rules` writes the iptables-save text kube-proxy's rules have once the kernel
prints them back (the layout of fixtures/corpus/kube-proxy-test-overall-iptables-rules):
KUBE-SERVICES → KUBE-SVC-* (one ``-m statistic`` branch per endpoint, probabilities 1/n,
1/(n-1) … 1) → KUBE-SEP-* (DNAT), node ports through KUBE-NODEPORTS → KUBE-EXT-*, the
0x4000 masquerade mark, and a filter REJECT for services without endpoints.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
from dataclasses import dataclass

from hypothesis import strategies as st

__all__ = ["KubeService", "kube_rules", "kube_services"]

#: The cluster's pod network: traffic from elsewhere to a ClusterIP is masqueraded.
POD_CIDR = "10.244.0.0/16"


@dataclass(frozen=True)
class KubeService:
    namespace: str
    name: str
    cluster_ip: ipaddress.IPv4Address
    port: int
    proto: str = "tcp"
    endpoints: tuple[tuple[ipaddress.IPv4Address, int], ...] = ()
    node_port: int | None = None

    @property
    def port_name(self) -> str:
        return f"{self.namespace}/{self.name}:p{self.port}"


def _chain(prefix: str, *parts: str) -> str:
    """A stable 16-character chain suffix, as kube-proxy names its per-service chains."""
    digest = hashlib.sha256("".join(parts).encode()).digest()
    return f"{prefix}-{base64.b32encode(digest).decode()[:16]}"


def _quote(comment: str) -> str:
    return f'"{comment}"'  # iptables-save quotes every comment


def kube_rules(services: tuple[KubeService, ...]) -> str:
    """iptables-save text (nat and filter) for ``services``."""
    from natsim.parse.normalize import probability_text  # the kernel's rounding of probabilities

    nat_chains = {"KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"}
    nat: dict[str, list[str]] = {c: [] for c in ("PREROUTING", "OUTPUT", "POSTROUTING")}
    filt: dict[str, list[str]] = {c: [] for c in ("INPUT", "FORWARD", "OUTPUT")}
    filter_chains = {"KUBE-SERVICES", "KUBE-FORWARD"}

    def add(table: dict[str, list[str]], chain: str, body: str) -> None:
        table.setdefault(chain, []).append(f"-A {chain} {body}")

    portals = '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES'
    add(nat, "PREROUTING", portals)
    add(nat, "OUTPUT", portals)
    add(nat, "POSTROUTING", '-m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING')
    add(nat, "KUBE-MARK-MASQ", "-j MARK --set-xmark 0x4000/0x4000")
    add(nat, "KUBE-POSTROUTING", "-m mark ! --mark 0x4000/0x4000 -j RETURN")
    add(nat, "KUBE-POSTROUTING", "-j MARK --set-xmark 0x4000/0x0")
    add(nat, "KUBE-POSTROUTING",
        '-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully')
    add(filt, "FORWARD", '-m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD')
    add(filt, "OUTPUT", '-m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES')
    add(filt, "KUBE-FORWARD", "-m conntrack --ctstate INVALID -j DROP")
    add(filt, "KUBE-FORWARD", '-m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT')

    for s in services:
        pn, p = s.port_name, s.proto
        if not s.endpoints:
            add(filt, "KUBE-SERVICES", f"-d {s.cluster_ip}/32 -p {p} -m comment --comment "
                f'"{pn} has no endpoints" -m {p} --dport {s.port} -j REJECT --reject-with icmp-port-unreachable')
            continue
        svc = _chain("KUBE-SVC", pn, p)
        nat_chains.add(svc)
        add(nat, "KUBE-SERVICES",
            f'-d {s.cluster_ip}/32 -p {p} -m comment --comment "{pn} cluster IP" -m {p} --dport {s.port} -j {svc}')
        add(nat, svc, f'! -s {POD_CIDR} -d {s.cluster_ip}/32 -p {p} -m comment --comment "{pn} cluster IP" '
            f"-m {p} --dport {s.port} -j KUBE-MARK-MASQ")
        n = len(s.endpoints)
        for i, (ip, port) in enumerate(s.endpoints):
            sep = _chain("KUBE-SEP", pn, p, f"{ip}:{port}")
            nat_chains.add(sep)
            comment = f'-m comment --comment "{pn} -> {ip}:{port}"'
            if i < n - 1:
                prob = probability_text(str(1 / (n - i)))
                add(nat, svc, f"{comment} -m statistic --mode random --probability {prob} -j {sep}")
            else:
                add(nat, svc, f"{comment} -j {sep}")
            add(nat, sep, f"-s {ip}/32 -m comment --comment {_quote(pn)} -j KUBE-MARK-MASQ")
            add(nat, sep, f"-p {p} -m comment --comment {_quote(pn)} -m {p} -j DNAT --to-destination {ip}:{port}")
        if s.node_port is not None:
            ext = _chain("KUBE-EXT", pn, p)
            nat_chains.add(ext)
            add(nat, "KUBE-NODEPORTS",
                f"-p {p} -m comment --comment {_quote(pn)} -m {p} --dport {s.node_port} -j {ext}")
            add(nat, ext, f'-m comment --comment "masquerade traffic for {pn} external destinations" -j KUBE-MARK-MASQ')
            add(nat, ext, f"-j {svc}")
    add(nat, "KUBE-SERVICES", '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule '
        'in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')

    def table(name: str, builtins: tuple[str, ...], user: set[str], rules: dict[str, list[str]]) -> list[str]:
        order = list(builtins) + sorted(user)
        out = [f"*{name}"] + [f":{c} ACCEPT [0:0]" for c in builtins] + [f":{c} - [0:0]" for c in sorted(user)]
        for c in order:
            out += rules.get(c, [])
        return out + ["COMMIT"]

    lines = table("nat", ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"), nat_chains, nat)
    lines += table("filter", ("INPUT", "FORWARD", "OUTPUT"), filter_chains, filt)
    return "\n".join(lines) + "\n"


@st.composite
def kube_services(draw: st.DrawFn, max_services: int = 4, max_endpoints: int = 3) -> tuple[KubeService, ...]:
    """Up to ``max_services`` services with 0–``max_endpoints`` endpoints each (0: REJECT)."""
    out = []
    node_ports = iter(range(30000, 30100))
    for i in range(draw(st.integers(1, max_services))):
        n = draw(st.integers(0, max_endpoints))
        endpoints = tuple((ipaddress.IPv4Address(f"10.244.{i}.{j + 2}"), draw(st.sampled_from((80, 8080, 53))))
                          for j in range(n))
        out.append(KubeService(
            "default" if i % 2 == 0 else "kube-system", f"svc{i}", ipaddress.IPv4Address(f"10.96.0.{10 + i}"),
            draw(st.sampled_from((80, 443, 53))), draw(st.sampled_from(("tcp", "udp"))), endpoints,
            next(node_ports) if n and draw(st.booleans()) else None,
        ))
    return tuple(out)
