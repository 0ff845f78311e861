"""A short text account of a topology: what natsim read, inferred and could not know.

``natsim snapshot --show DIR`` prints it, so a user can check the picture an answer will
rest on before asking the question.
"""

from __future__ import annotations

from natsim.engine.tri import Unknown
from natsim.topology.model import Container, Namespace, Topology, source_of


def _flag(value: object, on: str = "on", off: str = "off") -> str:
    if value is None:
        return "?"
    if isinstance(value, Unknown):
        return f"unknown ({value.reason})"
    return on if value else off


def _namespace(ns: Namespace) -> list[str]:
    out = [f"namespace {ns.name} ({ns.role})"]
    if ns.links is None:
        out.append("  interfaces: not known")
    for l in ns.links or ():
        if l.kind == "loopback":
            continue
        addrs = " ".join(str(a) for a in l.addresses or () if a.scope != "link") or "-"
        port = f", port of {l.master} hairpin {_flag(l.hairpin)}" if l.master else ""
        out.append(f"  {l.name} ({l.kind or 'kind ?'}{', down' if l.up is False else ''}) {addrs}{port}")
    for r in ns.routes or ():
        if r.table == 254 and r.dst.prefixlen == 0:
            out.append(f"  default route via {r.gateway or '-'} dev {r.dev or '-'}")
    if ns.routes is None:
        out.append("  routes: not known")
    if ns.sysctls is None:
        out.append("  sysctls: not known")
    else:
        fwd = ns.sysctl("net.ipv4.ip_forward")
        out.append(f"  ip_forward {fwd.value if fwd else '?'}, bridge-nf-call-iptables {_flag(ns.bridge_nf_call(4))}")
    if ns.listeners is not None:
        shown = ", ".join(f"{l.proto} {l.address}:{l.port}{' ' + l.process if l.process else ''}"
                          for l in ns.listeners)
        out.append(f"  listening: {shown or 'nothing'}")
    return out


def _container(topo: Topology, c: Container) -> list[str]:
    addrs = ", ".join(str(a) for a in c.addresses()) or "-"
    line = f"container {c.name} ({c.network_mode or 'mode ?'}) {addrs}"
    if source_of(c, "name").is_assumption:
        line += " [name assumed]"
    out = [line]
    if c.ports:
        out.append("  publishes " + ", ".join(str(p) for p in c.ports))
    if c.mode == "bridge":
        bp = topo.bridge_port(c.name)
        where = f"{bp.bridge or '?'} port {bp.port or '?'}"
        out.append(f"  sits on {where}, hairpin {_flag(bp.hairpin)}")
        out.extend(f"  note: {n}" for n in bp.notes)
    return out


def render_topology(topo: Topology) -> str:
    """Namespaces, Docker networks and containers, then conflicts, warnings, assumptions and missing inputs."""
    lines: list[str] = []
    d = topo.daemon
    lines.append(f"docker: userland-proxy {_flag(d.userland_proxy)}, iptables {_flag(d.iptables)},"
                 f" ip6tables {_flag(d.ip6tables)}, era {d.era or '?'}")
    for ns in topo.namespaces:
        lines.extend(_namespace(ns))
    for n in topo.networks or ():
        subnets = ", ".join(str(s) for s in n.subnets or ()) or "subnet ?"
        lines.append(f"network {n.name} ({n.driver or '?'}, bridge {n.bridge or '-'}) {subnets}, icc {_flag(n.icc)},"
                     f" internal {_flag(n.internal)}, gateway mode {n.gateway_mode_v4 or '?'}")
    for c in topo.containers or ():
        lines.extend(_container(topo, c))
    for title, items in (("conflicts", [str(c) for c in topo.conflicts]),
                         ("warnings", [str(f) for f in topo.findings]),
                         ("assumptions", list(topo.assumptions())),
                         ("not known (missing inputs)", list(topo.missing))):
        if items:
            lines.append(f"{title}:")
            lines.extend(f"  - {i}" for i in items)
    return "\n".join(lines) + "\n"
