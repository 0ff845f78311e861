"""Differential testing: random variations of the catalog's hosts, natsim's answer against the kernel's.

The catalog records hand-picked cases; real hosts differ from them in small ways (a user rule
in DOCKER-USER or INPUT, a changed policy, a rule removed by hand, another sysctl). This module
makes such variations at random, measures them in the lab (both backends) and simulates them with
natsim (the host given to natsim as the TOML of tests/lab/topology.py, so natsim learns exactly
what the kernel had). Every disagreement is printed with the mutation that caused it.

    .venv/bin/python tests/kernel/scenarios/differential.py [--seed N] [--variants N]
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import random
import sys
from dataclasses import dataclass, replace
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.kernel.scenarios.catalog import Flow, Scenario, catalog  # noqa: E402
from tests.kernel.scenarios.measure import measure  # noqa: E402
from tests.lab.rulesets import with_rules  # noqa: E402
from tests.lab.spec import Host  # noqa: E402
from tests.lab.topology import to_toml  # noqa: E402


@dataclass(frozen=True)
class Mutation:
    what: str  # one line, shown with each disagreement
    apply: object  # Callable[[Host], Host]


def _rule_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("-A ")]


def mutations(spec: Host, rng: random.Random) -> list[Mutation]:
    """The variations that make sense for this host (drawn from with ``rng``)."""
    out: list[Mutation] = []
    rules = spec.rules_v4
    addrs = [str(ipaddress.ip_interface(spec.uplink_v4[0]).ip), spec.outside_v4] + [
        c.v4 for c in spec.containers if c.v4] + [b.gateway4 for b in spec.bridges if b.gateway4]
    ifaces = [spec.uplink] + [b.name for b in spec.bridges]
    ports = sorted({p.host_port for p in spec.publish} | {p.container_port for p in spec.publish} | {9000})

    def user_rule(chain: str = "FORWARD") -> str:
        parts = []
        flags = {"INPUT": ["-i"], "OUTPUT": ["-o"]}.get(chain, ["-i", "-o"])
        if rng.random() < 0.5:
            parts += [rng.choice(flags), rng.choice(ifaces)]
        if rng.random() < 0.4:
            parts += [rng.choice(["-s", "-d"]), rng.choice(addrs) + "/32"]
        if rng.random() < 0.5:
            parts += ["-p", "tcp", "-m", "tcp", "--dport", str(rng.choice(ports))]
        if rng.random() < 0.25:
            parts += ["-m", "conntrack", "--ctstate", rng.choice(["NEW", "ESTABLISHED", "RELATED,ESTABLISHED",
                                                                   "INVALID", "DNAT", "SNAT"])]
        return " ".join(parts + ["-j", rng.choice(["DROP", "REJECT", "ACCEPT", "RETURN"])])

    if ":DOCKER-USER" in rules:
        r = "-I DOCKER-USER " + user_rule()
        out.append(Mutation(f"filter: {r}", lambda h, r=r: replace(h, rules_v4=with_rules(h.rules_v4, "filter", r))))
    for chain in ("INPUT", "FORWARD", "OUTPUT"):
        r = f"-I {chain} " + user_rule(chain).replace(" -j RETURN", " -j ACCEPT")
        out.append(Mutation(f"filter: {r}", lambda h, r=r: replace(h, rules_v4=with_rules(h.rules_v4, "filter", r))))
    extra = ["-A INPUT -i lo -j ACCEPT", "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"]
    if rng.random() < 0.5:
        extra.append(f"-A INPUT -i {rng.choice(ifaces)} -j ACCEPT")
    out.append(Mutation("filter INPUT policy DROP + " + "; ".join(extra),
                        lambda h, e=tuple(extra): replace(h, rules_v4=with_rules(
                            _policy(h.rules_v4, "INPUT", "DROP"), "filter", *e))))
    forward = "ACCEPT" if ":FORWARD DROP" in rules else "DROP"
    out.append(Mutation(f"filter FORWARD policy {forward}",
                        lambda h, p=forward: replace(h, rules_v4=_policy(h.rules_v4, "FORWARD", p))))
    lines = _rule_lines(rules)
    if lines:
        gone = rng.choice(lines)
        out.append(Mutation(f"rule removed: {gone}", lambda h, g=gone: replace(
            h, rules_v4="\n".join(x for x in h.rules_v4.splitlines() if x != g) + "\n")))
    out.append(Mutation("br_netfilter toggled", lambda h: replace(h, br_netfilter=not h.br_netfilter)))
    out.append(Mutation("userland proxy toggled", lambda h: replace(h, userland_proxy=not h.userland_proxy)))
    out.append(Mutation("hairpin toggled on every bridge", lambda h: replace(
        h, bridges=tuple(replace(b, hairpin=not b.hairpin) for b in h.bridges))))
    localnet = () if spec.route_localnet else tuple(b.name for b in spec.bridges)
    out.append(Mutation(f"route_localnet={int(bool(localnet))} on every bridge",
                        lambda h, v=localnet: replace(h, route_localnet=v)))
    out.append(Mutation("rp_filter toggled (0 <-> 1 strict)", lambda h: replace(h, rp_filter=1 - min(h.rp_filter, 1))))
    r = f"-I PREROUTING -p tcp -m tcp --dport {rng.choice(ports)} -j DROP"
    out.append(Mutation(f"raw: {r}", lambda h, r=r: replace(h, rules_v4=with_rules(h.rules_v4, "raw", r))))
    servers = [c for c in spec.containers if c.listen and c.net_container is None and c.v4]
    uplink_addrs = [str(ipaddress.ip_interface(a).ip) for a in spec.uplink_v4]
    nat_rules = [f"-I OUTPUT -p tcp -m tcp --dport 9999 -j REDIRECT --to-ports {rng.choice(ports)}",
                 f"-I PREROUTING -p tcp -m tcp --dport 9999 -j REDIRECT --to-ports {rng.choice(ports)}",
                 f"-I POSTROUTING -o {spec.uplink} -j SNAT --to-source {rng.choice(uplink_addrs)}",
                 f"-I POSTROUTING -o {rng.choice(ifaces)} -j MASQUERADE"]
    if servers:
        c = rng.choice(servers)
        nat_rules.append(f"-I PREROUTING -i {spec.uplink} -p tcp -m tcp --dport 9000 -j DNAT --to-destination "
                         f"{c.v4}:{c.listen[0].port}")
    r = rng.choice(nat_rules)
    out.append(Mutation(f"nat: {r}", lambda h, r=r: replace(h, rules_v4=with_rules(h.rules_v4, "nat", r))))
    mark = (f"-I PREROUTING -i {rng.choice(ifaces)} -j MARK --set-xmark 0x1/0xffffffff",
            f"-I {rng.choice(['FORWARD', 'INPUT'])} -m mark --mark 0x1 -j {rng.choice(['DROP', 'ACCEPT'])}")
    out.append(Mutation(f"mangle: {mark[0]}; filter: {mark[1]}", lambda h, m=mark: replace(
        h, rules_v4=with_rules(with_rules(h.rules_v4, "mangle", m[0]), "filter", m[1]))))
    if servers:
        c = rng.choice(servers)
        out.append(Mutation(f"{c.name}'s servers listen on 127.0.0.1 only", lambda h, n=c.name: replace(
            h, containers=tuple(replace(x, listen=tuple(replace(l, addr="127.0.0.1") for l in x.listen))
                                if x.name == n else x for x in h.containers))))
    if spec.rules_v6.strip() and ":DOCKER-USER" in spec.rules_v6:
        r6 = "-I DOCKER-USER " + rng.choice(["-i eth0", "-o br-dummy", "-s 2001:db8:ff::2/128"]) + " -j " + rng.choice(
            ["DROP", "REJECT", "RETURN"])
        out.append(Mutation(f"ip6 filter: {r6}", lambda h, r=r6: replace(h, rules_v6=with_rules(h.rules_v6, "filter", r))))
    if spec.ipsets.strip():
        adds = [l for l in spec.ipsets.splitlines() if l.startswith("add ")]
        if adds:
            gone = rng.choice(adds)
            out.append(Mutation(f"ipset entry removed: {gone}", lambda h, g=gone: replace(
                h, ipsets="\n".join(l for l in h.ipsets.splitlines() if l != g) + "\n")))
    return out


def _policy(text: str, chain: str, policy: str) -> str:
    """Change a built-in chain's policy in the filter table (the first table that declares it)."""
    if f":{chain} " not in text.split("*filter", 1)[-1].split("COMMIT", 1)[0]:
        return with_rules(text, "filter").replace("*filter\n", f"*filter\n:{chain} {policy} [0:0]\n", 1)
    head, _, tail = text.partition("*filter")
    body, _, rest = tail.partition("COMMIT")
    lines = [f":{chain} {policy} [0:0]" if l.startswith(f":{chain} ") else l for l in body.split("\n")]
    return head + "*filter" + "\n".join(lines) + "COMMIT" + rest


def variant(base: Scenario, rng: random.Random, depth: int = 2) -> Scenario:
    spec, whats = base.spec, []
    for _ in range(depth):
        m = rng.choice(mutations(spec, rng))
        spec, whats = m.apply(spec), whats + [m.what]  # type: ignore[operator]
    description = " | ".join(whats)
    tag = hashlib.sha1(description.encode()).hexdigest()[:6]  # names must be unique within a measure() batch
    return replace(base, name=f"{base.name}+{tag}", description=description, spec=spec)


# --------------------------------------------------------------------------- natsim's side


def natsim_network(spec: Host):
    """natsim's model of the lab host: its rules parsed, its topology read from :func:`to_toml`."""
    from natsim.engine import Network
    from natsim.parse import parse_ipset_text, parse_text
    from natsim.topology.toml_file import parse_toml

    rulesets = {4: parse_text(spec.rules_v4, "variant.rules", family=4).ruleset}
    if spec.rules_v6.strip():
        rulesets[6] = parse_text(spec.rules_v6, "variant.ip6.rules", family=6).ruleset
    ipsets = parse_ipset_text(spec.ipsets, "variant.ipset") if spec.ipsets.strip() else None
    return Network(rulesets=rulesets, ipsets=ipsets, topology=parse_toml(to_toml(spec), "variant.toml"))


def natsim_answer(spec: Host, net, flow: Flow) -> dict:
    """natsim's verdict for a flow, in the lab's words: {outcome, by, seen} (outcome 'unknown' if it cannot tell)."""
    from natsim.engine import Flow as NFlow
    from natsim.engine import simulate

    src = flow.frm if flow.frm in ("outside", "host") else f"container:{flow.frm}"
    result = simulate(net, NFlow(src, ipaddress.ip_address(flow.dst), flow.proto, flow.port))
    if len(result.outcomes) != 1:
        return {"outcome": "unknown", "by": None, "seen": None}
    o = result.outcomes[0]
    if o.verdict != "reachable":
        return {"outcome": o.end or o.verdict, "by": None, "seen": None}
    by = o.server
    if by and by.startswith("container:"):
        owner = by.split(":", 1)[1]
        by = next((c.name for c in spec.containers if spec.netns_owner(c.name).name == owner
                   and any(l.port == o.destination_port for l in c.listen)), owner)
    seen = str(o.seen_source) if o.seen_source is not None else None
    return {"outcome": "connected", "by": by, "seen": seen}


def disagreements(scenarios: list[Scenario]) -> list[str]:
    kernel = measure(scenarios)
    out = []
    for s in scenarios:
        try:
            net = natsim_network(s.spec)
        except Exception as e:  # a crash is a finding too
            out.append(f"{s.name}: natsim cannot read the host: {type(e).__name__}: {e} [{s.description}]")
            continue
        for i, flow in enumerate(s.flows):
            k_nft, k_legacy = kernel[(s.name, "nft")][i], kernel[(s.name, "legacy")][i]
            if k_nft != k_legacy:
                out.append(f"{s.name} {flow.id}: the backends differ: nft {k_nft}, legacy {k_legacy} [{s.description}]")
                continue
            try:
                got = natsim_answer(s.spec, net, flow)
            except Exception as e:  # a crash is a finding too
                got = {"outcome": f"natsim error {type(e).__name__}: {e}", "by": None, "seen": None}
            want = dict(k_nft)
            # for ping the lab records the echo reply's source, not what the pinged side saw: outcome only
            if got["outcome"] == "connected" and want["outcome"] == "connected" and flow.proto != "icmp":
                same = got == want
            else:
                same = got["outcome"] == want["outcome"]
            if not same:
                out.append(f"{s.name} {flow.id}: kernel {want}, natsim {got} [{s.description}]")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--variants", type=int, default=12)
    ap.add_argument("--depth", type=int, default=2)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    bases = list(catalog())
    variants = []
    for i in range(args.variants):
        v = variant(rng.choice(bases), rng, args.depth)
        variants.append(replace(v, name=f"{v.name}#{i}"))  # the same mutations can be drawn twice
    problems = []
    for i in range(0, len(variants), 3):
        problems += disagreements(variants[i:i + 3])
    for p in problems:
        print(p)
    flows = sum(len(v.flows) for v in variants)
    print(f"{len(variants)} variants, {flows} flows, {len(problems)} disagreements (seed {args.seed})")


if __name__ == "__main__":
    main()
