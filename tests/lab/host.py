"""Build a :class:`tests.lab.spec.Host` in network namespaces and probe it.

One agent process per namespace (plus one per ``--net=container:X`` process) does all the
work inside its namespace, so building a host costs a handful of process starts and probes
cost about a millisecond. :class:`RunningHost` is a context manager; leaving it (or the
interpreter exiting) deletes every namespace it created.
"""

from __future__ import annotations

import ipaddress
import re
import sys
import time
from dataclasses import dataclass

from . import netns
from .netns import Agent, LabError, parallel
from .spec import Host, Listen, prefix_len
from .trace import TracedPacket

OUTSIDE, HOST = "outside", "host"
CANARY_PORT = 9  # UDP port of the trace canary (host to loopback); flows should not use it

RESTORE = {
    ("legacy", 4): "iptables-legacy-restore",
    ("legacy", 6): "ip6tables-legacy-restore",
    ("nft", 4): "iptables-nft-restore",
    ("nft", 6): "ip6tables-nft-restore",
}
SAVE = {k: v.replace("-restore", "-save") for k, v in RESTORE.items()}
IPTABLES = {k: v.replace("-restore", "") for k, v in RESTORE.items()}


@dataclass(frozen=True)
class Probe:
    """What one probe found: the outcome and, when a server answered, the peer address it saw."""

    outcome: str  # connected | closed | refused | timeout | unreachable | error
    seen: str | None = None  # the client address as the answering server saw it
    seen_port: int | None = None
    by: str | None = None  # which server answered ("docker-proxy", a container name, "host", ...)
    local: str | None = None  # the client's own address for the connection
    local_port: int | None = None
    server_local: str | None = None  # the address the server was reached on (after DNAT)
    ms: float = 0.0
    detail: str = ""

    @classmethod
    def from_agent(cls, res: dict) -> "Probe":
        fields = cls.__dataclass_fields__
        return cls(**{k: v for k, v in res.items() if k in fields})


def _role(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)[:20]


class RunningHost:
    """A built lab host: probe it, inspect it, then close it."""

    def __init__(self, spec: Host, prefix: str = "klab"):
        spec.validate()
        self.spec = spec
        self.prefix = prefix
        self.agents: dict[str, Agent] = {}
        self.ns: dict[str, str] = {}  # role or container name → namespace name
        self.closed = False
        netns.sweep_stale()
        self.ns[HOST] = netns.new_name(prefix, "host")
        self.ns[OUTSIDE] = netns.new_name(prefix, "out")
        own = [c for c in spec.containers if c.net_container is None]
        for c in own:
            self.ns[c.name] = netns.new_name(prefix, "c-" + _role(c.name))
        for c in spec.containers:
            if c.net_container:
                self.ns[c.name] = self.ns[spec.netns_owner(c.name).name]
        self.namespaces = [self.ns[HOST], self.ns[OUTSIDE]] + [self.ns[c.name] for c in own]
        try:
            netns.create(self.namespaces)
            for who in [HOST, OUTSIDE] + [c.name for c in spec.containers]:
                self.agents[who] = Agent(self.ns[who], who)
            for a in self.agents.values():
                a.wait_ready()
            self._build()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        s = self.spec
        # ICMP errors are rate limited per destination (1 s by default): parallel probes that all
        # meet a REJECT would get one answer and time out otherwise. natsim models single flows.
        base = [("net.ipv6.conf.all.accept_dad", 0), ("net.ipv6.conf.default.accept_dad", 0),
                ("net.ipv4.conf.all.rp_filter", 0), ("net.ipv4.conf.default.rp_filter", 0),
                ("net.ipv4.icmp_ratelimit", s.icmp_ratelimit), ("net.ipv6.icmp.ratelimit", s.icmp_ratelimit)]
        owners = [OUTSIDE] + [c.name for c in s.containers if c.net_container is None]
        parallel([(self.agents[w], "sysctl", {"values": base}) for w in [HOST] + owners])
        self.agents[HOST].run(["ip", "-batch", "-"], input="\n".join(self._host_links()) + "\n")
        parallel([(self.agents[w], "run", {"argv": ["ip", "-batch", "-"], "input": "\n".join(lines) + "\n"})
                  for w, lines in self._peer_links().items()])
        self.agents[HOST].call("sysctl", values=self._host_sysctls())
        if s.ipsets.strip():
            self.agents[HOST].run(["ipset", "restore", "-exist"], input=s.ipsets)
        self.load_rules(s.rules_v4, s.rules_v6, flush_conntrack=False)
        calls = []
        for c in s.containers:
            has6 = self.spec.netns_owner(c.name).v6 is not None
            calls += [(self.agents[c.name], "listen", a) for a in self._listen_args(c.listen, c.name, has6)]
        has6 = bool(s.uplink_v6)
        calls += [(self.agents[HOST], "listen", a) for a in self._listen_args(s.host_listen, HOST, has6)]
        calls += [(self.agents[OUTSIDE], "listen", a)
                  for a in self._listen_args(s.outside_listen, OUTSIDE, s.outside_v6 is not None)]
        if s.userland_proxy:
            for p in s.publish:
                c = s.container(p.container)
                target = c.v6 if (":" in p.host_ip and c.v6) else c.v4
                calls.append((self.agents[HOST], "proxy", {"proto": p.proto, "addr": p.host_ip,
                                                           "port": p.host_port, "to_addr": target,
                                                           "to_port": p.container_port}))
        parallel(calls)

    def _host_links(self) -> list[str]:
        s = self.spec
        out_ns = self.ns[OUTSIDE]
        lines = ["link set lo up", f"link add {s.uplink} type veth peer name eth0 netns {out_ns}"]
        lines += [f"addr add {a} dev {s.uplink}" for a in s.uplink_v4]
        lines += [f"addr add {a} dev {s.uplink} nodad" for a in s.uplink_v6]
        lines.append(f"link set {s.uplink} up")
        for b in s.bridges:
            lines.append(f"link add {b.name} type bridge forward_delay 0 stp_state 0 mcast_snooping 0")
            if b.v4:
                lines.append(f"addr add {b.v4} dev {b.name}")
            if b.v6:
                lines.append(f"addr add {b.v6} dev {b.name} nodad")
            lines.append(f"link set {b.name} up")
        for port, c in self._ports():
            b = s.bridge(c.bridge)
            hairpin = b.hairpin if c.hairpin is None else c.hairpin
            lines += [f"link add {port} type veth peer name eth0 netns {self.ns[c.name]}",
                      f"link set {port} master {b.name}",
                      f"link set dev {port} type bridge_slave hairpin {'on' if hairpin else 'off'}",
                      f"link set {port} up"]
        return lines

    def _ports(self):
        """(host-side veth name, container) for every container with its own namespace."""
        own = [c for c in self.spec.containers if c.net_container is None]
        return [(f"veth{i}", c) for i, c in enumerate(own)]

    def bridge_port(self, container: str) -> str:
        owner = self.spec.netns_owner(container)
        return next(p for p, c in self._ports() if c.name == owner.name)

    def _peer_links(self) -> dict[str, list[str]]:
        s = self.spec
        gw4 = ipaddress.ip_interface(s.uplink_v4[0]).ip if s.uplink_v4 else None
        out = ["link set lo up", f"addr add {s.outside_v4}/{prefix_len(s.uplink_v4[0])} dev eth0",
               "link set eth0 up"]
        if gw4:
            out.append(f"route add default via {gw4}")
        if s.outside_v6 and s.uplink_v6:
            out += [f"addr add {s.outside_v6}/{prefix_len(s.uplink_v6[0])} dev eth0 nodad",
                    f"route add default via {ipaddress.ip_interface(s.uplink_v6[0]).ip}"]
        result = {OUTSIDE: out}
        for _, c in self._ports():
            b = s.bridge(c.bridge)
            lines = ["link set lo up", "link set eth0 up"]
            if c.v4 and b.v4:
                lines += [f"addr add {c.v4}/{prefix_len(b.v4)} dev eth0", f"route add default via {b.gateway4}"]
            if c.v6 and b.v6:
                lines += [f"addr add {c.v6}/{prefix_len(b.v6)} dev eth0 nodad",
                          f"route add default via {b.gateway6}"]
            result[c.name] = lines
        return result

    def _host_sysctls(self) -> list[tuple[str, object]]:
        s = self.spec
        ifaces = ["all", "default", "lo", s.uplink] + [b.name for b in s.bridges] + [p for p, _ in self._ports()]
        v = [("net.ipv4.ip_forward", int(s.ip_forward)), ("net.ipv6.conf.all.forwarding", int(s.ip_forward))]
        v += [(f"net.ipv4.conf.{i}.rp_filter", s.rp_filter) for i in ifaces]
        v += [(f"net.ipv4.conf.{i}.route_localnet", 1) for i in s.route_localnet]
        v += [("net.bridge.bridge-nf-call-iptables", int(s.br_netfilter)),
              ("net.bridge.bridge-nf-call-ip6tables", int(s.br_netfilter))]
        return v

    @staticmethod
    def _listen_args(listen: tuple[Listen, ...], by: str, has6: bool) -> list[dict]:
        out = []
        for item in listen:
            addrs = [item.addr] if item.addr else (["0.0.0.0", "::"] if has6 else ["0.0.0.0"])
            out += [{"proto": item.proto, "addr": a, "port": item.port, "by": by} for a in addrs]
        return out

    # ------------------------------------------------------------------ using
    def address(self, who: str, family: int = 4) -> str:
        """The primary address of ``host`` (uplink), ``outside``, a container or a bridge (its gateway)."""
        s = self.spec
        if who == HOST:
            return str(ipaddress.ip_interface((s.uplink_v4 if family == 4 else s.uplink_v6)[0]).ip)
        if who == OUTSIDE:
            return s.outside_v4 if family == 4 else s.outside_v6
        if any(b.name == who for b in s.bridges):
            b = s.bridge(who)
            return b.gateway4 if family == 4 else b.gateway6
        c = s.netns_owner(who)
        return c.v4 if family == 4 else c.v6

    def probe(self, frm: str, dst: str, port: int | None = None, proto: str = "tcp", timeout: float = 0.5,
              src: str | None = None, sport: int = 0, confirm: float | None = None) -> Probe:
        """Connect from ``frm`` (``outside``, ``host`` or a container name) to dst:port and report.

        ``confirm``: a timeout is probed once more with this longer timeout before it is reported, so a
        busy machine (a starved agent or server thread) cannot pass for a drop; a real drop still times out.
        """
        if proto == "icmp":
            req = {"proto": "icmp", "dst": dst, "src": src, "timeout": timeout}
        else:
            req = {"proto": proto, "dst": dst, "port": port, "src": src, "sport": sport, "timeout": timeout}
        result = Probe.from_agent(self.agents[frm].call("probe", **req))
        if result.outcome == "timeout" and confirm is not None and confirm > timeout:
            result = Probe.from_agent(self.agents[frm].call("probe", **{**req, "timeout": confirm}))
        return result

    def probe_many(self, requests: list[dict]) -> list[Probe]:
        """Many probes at the same time (keys as for :meth:`probe`, plus ``frm``): costs the slowest one."""
        return [Probe.from_agent(res) for res in probe_batches([(self, r) for r in requests])]

    def load_rules(self, rules_v4: str = "", rules_v6: str = "", flush_conntrack: bool = True) -> None:
        """Replace the host's rules (iptables-restore semantics: the tables in the text are replaced).

        Cheaper than building another host when only the rules change; conntrack is flushed so
        earlier connections cannot decide the next probes.
        """
        for family, text in ((4, rules_v4), (6, rules_v6)):
            if text.strip():
                cmd = RESTORE[(self.spec.backend, family)]
                self.agents[HOST].run([cmd, "-w"] if self.spec.backend == "legacy" else [cmd], input=text)
        if flush_conntrack:
            self.flush_conntrack()

    def run(self, argv: list[str], where: str = HOST, input: str | None = None, check: bool = True) -> dict:
        return self.agents[where].run(argv, input=input, check=check)

    def iptables(self, *args: str, family: int = 4) -> str:
        return self.run([IPTABLES[(self.spec.backend, family)], "-w", *args])["out"]

    def save(self, family: int = 4) -> str:
        return self.run([SAVE[(self.spec.backend, family)]])["out"]

    def conntrack(self) -> str:
        return self.run(["conntrack", "-L"], check=False)["out"]

    def flush_conntrack(self) -> None:
        self.run(["conntrack", "-F"], check=False)

    def sysctl(self, key: str, where: str = HOST) -> str:
        return self.agents[where].call("read", path="/proc/sys/" + key.replace(".", "/"))["text"].strip()

    def listen(self, where: str, proto: str, port: int, addr: str = "0.0.0.0", by: str | None = None) -> int:
        return self.agents[where].call("listen", proto=proto, addr=addr, port=port, by=by or where)["sid"]

    def stop_listener(self, where: str, sid: int) -> None:
        self.agents[where].call("close", sid=sid)

    def _trace_rules(self, family: int, rules: list[tuple[str, list[str]]], insert: bool) -> None:
        for chain, m in rules:
            if insert:
                self.iptables("-t", "raw", "-I", chain, "1", *m, "-j", "TRACE", family=family)
            else:
                self.iptables("-t", "raw", "-D", chain, *m, "-j", "TRACE", family=family)

    def _canary(self, handle: int, family: int, patience: float = 10.0) -> list[int]:
        """Send a traced UDP packet from the host to loopback until the monitor has printed it.

        Once it has, the monitor is subscribed (before the first probe) or has printed every earlier
        event (after the last one): netlink delivers trace events in order. A fixed sleep instead
        loses the first or last flow's events when the machine is busy.
        """
        dst = "::1" if family == 6 else "127.0.0.1"
        deadline = time.monotonic() + patience
        ports: list[int] = []  # the client ports of the canaries sent: their lines are left out
        while time.monotonic() < deadline:
            p = self.probe(HOST, dst, CANARY_PORT, "udp", timeout=0.02)
            if p.local_port:
                ports.append(p.local_port)
            # any canary of this call will do: on a busy machine the monitor may print each one later than
            # the next is sent
            needles = [f"SPORT={port} DPORT={CANARY_PORT} " for port in ports]
            if needles and self.agents[HOST].call("peek", handle=handle, needles=needles, wait=0.1)["seen"]:
                return ports
        raise LabError(f"xtables-monitor --trace -{family} printed nothing for {patience} s")

    def _traced(self, family: int, rules: list[tuple[str, list[str]]], action):
        """Run ``action()`` under ``xtables-monitor --trace`` with the given raw TRACE rules: (its result, lines).

        A monitor that exits on its own lost events (its netlink socket overflowed while the machine
        was busy): the whole traced action is run again, up to three times in all, then it is an error.
        """
        rules = rules + [("OUTPUT", ["-p", "udp", "--dport", str(CANARY_PORT)])]
        attempts = 3
        for attempt in range(1, attempts + 1):
            self._trace_rules(family, rules, insert=True)
            problem = None
            try:
                handle = self.agents[HOST].call("spawn", argv=["xtables-monitor", "--trace", f"-{family}"])["handle"]
                canaries: list[int] = []
                try:
                    canaries += self._canary(handle, family)
                    result = action(handle)
                    canaries += self._canary(handle, family)
                except LabError as e:  # a canary never printed: the monitor stalled or died
                    problem = str(e)
                finally:
                    res = self.agents[HOST].call("collect", handle=handle, grace=0.0)
            finally:
                self._trace_rules(family, rules, insert=False)
            if res.get("exited") is not None:
                problem = f"xtables-monitor exited {res['exited']} during the trace (lost events?): {res['out'][-300:]!r}"
            if problem is None:
                return result, without_canaries(res["out"].splitlines(), canaries)
            if attempt == attempts:
                raise LabError(problem)
            sys.stderr.write(f"lab trace: traced again after: {problem}\n")  # pytest shows it if the test fails
        raise AssertionError("unreachable")

    def trace(self, frm: str, dst: str, port: int | None = None, proto: str = "tcp", timeout: float = 0.5,
              settle: float = 0.15, first_only: bool = False) -> tuple[Probe, list[str]]:
        """Probe with ``-j TRACE`` in raw PREROUTING/OUTPUT and return the kernel's rule-by-rule trace.

        nft backend only: ``xtables-monitor --trace`` prints nftables trace events for the rules that
        iptables-nft created. The trace rules are removed again afterwards. The lab's own canary
        packets (UDP from the host to loopback port ``CANARY_PORT``) are left out of the lines;
        ``settle`` is kept for callers and no longer needed. ``first_only``: trace a TCP probe's SYN
        alone (fewer events for the monitor's netlink socket when the caller reads no later packet).
        """
        if self.spec.backend != "nft":
            raise LabError("tracing needs the nft backend (xtables-monitor)")
        family = 6 if ":" in dst else 4
        match = (["-p", proto] + (["--syn"] if first_only and proto == "tcp" else [])
                 + (["--dport", str(port)] if port and proto != "icmp" else []))
        return self._traced(family, [("PREROUTING", match), ("OUTPUT", match)],
                            lambda _: self.probe(frm, dst, port, proto, timeout))

    def trace_flows(self, requests: list[dict], settle: float = 0.15) -> list[tuple[Probe, "TracedPacket | None"]]:
        """TCP/UDP probes one after another under one ``xtables-monitor --trace``: each with the kernel's
        trace of its first packet, or None if it was not traced.

        ``requests`` as for :meth:`probe_many`. nft backend only; IPv4 and IPv6 are traced separately.
        A probe's first packet is the first traced packet after the previous probe's with the probe's
        client port, destination port (and SYN for TCP): the kernel reuses client ports, so a later
        probe's packet may carry an earlier one's port, but never comes before it.
        """
        from .trace import parse_trace

        if self.spec.backend != "nft":
            raise LabError("tracing needs the nft backend (xtables-monitor)")
        found: dict[int, tuple[Probe, TracedPacket | None]] = {}
        for family in (4, 6):
            index = [i for i, r in enumerate(requests) if (":" in r["dst"]) == (family == 6)]
            mine = [requests[i] for i in index]
            if not mine:
                continue
            # only a TCP probe's SYN is traced: its first packet is all this returns, and the ACK and FIN
            # would triple the events that can overflow the monitor's netlink socket on a busy machine
            rules = [(chain, ["-p", proto] + (["--syn"] if proto == "tcp" else []) + ["-m", "multiport", "--dports",
                              ",".join(sorted({str(r["port"]) for r in mine if r.get("proto", "tcp") == proto}))])
                     for chain in ("PREROUTING", "OUTPUT") for proto in ("tcp", "udp")
                     if any(r.get("proto", "tcp") == proto for r in mine)]

            def run(handle: int, mine: list[dict] = mine) -> list[Probe]:
                probes = []
                for r in mine:  # one at a time, each after the monitor printed the last: its netlink
                    p = self.probe(**r)  # socket overflows (ENOBUFS) when events come in a burst
                    probes.append(p)
                    if p.local_port:
                        self.agents[HOST].call("peek", handle=handle, needle=f"SPORT={p.local_port} ", wait=0.5)
                return probes

            probes, lines = self._traced(family, rules, run)
            packets = parse_trace(lines)
            pos = 0
            for i, r, p in zip(index, mine, probes):
                first = None
                for j in range(pos, len(packets)):
                    head = packets[j].packets[0] if packets[j].packets else {}
                    if (head.get("SPORT") == str(p.local_port) and head.get("DPORT") == str(r["port"])
                            and (r.get("proto", "tcp") != "tcp" or "SYN" in head and "ACK" not in head)):
                        first, pos = packets[j], j + 1
                        break
                found[i] = (p, first)
        return [found[i] for i in range(len(requests))]

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for a in self.agents.values():
            try:
                a.stop()
            except Exception:
                pass
        netns.delete(self.namespaces)

    def __enter__(self) -> "RunningHost":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def without_canaries(lines: list[str], ports: list[int]) -> list[str]:
    """The monitor's non-empty lines minus those of the canary packets (UDP from one of ``ports`` to
    ``CANARY_PORT``). A trace id names a canary from its PACKET line until a PACKET line of another
    packet reuses the id."""
    mark = {f"SPORT={p} DPORT={CANARY_PORT} " for p in ports}
    canary_ids: set[str] = set()
    out = []
    for line in lines:
        if not line.strip():
            continue
        words = line.split(None, 3)
        tid = words[2] if len(words) > 2 and words[0] in ("PACKET:", "TRACE:") else None
        if words and words[0] == "PACKET:" and tid:
            if any(m in line + " " for m in mark):
                canary_ids.add(tid)
            else:
                canary_ids.discard(tid)
        if tid not in canary_ids:
            out.append(line)
    return out


def probe_batches(requests: list[tuple[RunningHost, dict]]) -> list[dict]:
    """Run probes of one or more hosts concurrently: one batch per namespace agent, all agents at once.

    Each request is a :meth:`RunningHost.probe` keyword dict with ``frm``; answers come back in order.
    """
    groups: dict[int, tuple[Agent, list[int]]] = {}
    reqs = []
    for i, (host, r) in enumerate(requests):
        r = dict(r)
        agent = host.agents[r.pop("frm")]
        r.setdefault("proto", "tcp")
        r.setdefault("timeout", 0.5)
        reqs.append(r)
        groups.setdefault(id(agent), (agent, []))[1].append(i)
    calls = [(agent, "probes", {"probes": [reqs[i] for i in idxs]}) for agent, idxs in groups.values()]
    out: list[dict] = [{}] * len(requests)
    for (_, idxs), res in zip(groups.values(), parallel(calls)):
        for i, r in zip(idxs, res["results"]):
            out[i] = r
    return out


def build(spec: Host, prefix: str = "klab") -> RunningHost:
    """Create the namespaces for ``spec`` and start its servers; use as a context manager."""
    return RunningHost(spec, prefix)
