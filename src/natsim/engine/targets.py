"""What each target does: one function per class of ``natsim.model.targets``.

A target function returns an :class:`Action` that the chain walker carries out:
a verdict (accept, drop, reject), a jump, a return, a changed packet (MARK), or a
NAT binding for conntrack to record.  NAT targets compute the new address here
(MASQUERADE: the outgoing interface's address; REDIRECT: the incoming interface's).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Callable, Literal, Protocol

from natsim.engine.packet import Packet
from natsim.engine.tri import Unknown
from natsim.model import targets as t
from natsim.model.construct import fast_init
from natsim.model.values import IPAddress, MarkMask, NatRange

ActionKind = Literal["accept", "drop", "reject", "return", "jump", "goto", "continue", "nat", "unknown"]


class TargetEnv(Protocol):
    hook: str
    family: int
    next_hop: IPAddress | None

    def masquerade_address(self, out_iface: str | None, next_hop: IPAddress | None) -> IPAddress | None: ...

    def redirect_address(self, in_iface: str | None) -> IPAddress | None: ...


@fast_init
@dataclass(frozen=True, slots=True)
class NatBinding:
    """A NAT decision: rewrite the source (``src``) or destination (``dst``) of the connection."""

    manip: Literal["src", "dst"]
    address: IPAddress | None  # None: keep the address (port-only NAT)
    port: int | None = None  # None: keep the port
    how: str = ""  # "DNAT", "MASQUERADE", ...


@fast_init
@dataclass(frozen=True, slots=True)
class Action:
    kind: ActionKind
    chain: str | None = None
    packet: Packet | None = None  # "continue" with a changed packet (MARK)
    nat: NatBinding | None = None
    reject_with: str | None = None
    unknown: Unknown | None = None
    connmark: int | None = None  # CONNMARK set to this value
    notrack: bool = False
    note: str = ""


TargetFn = Callable[[Any, Packet, TargetEnv], Action]
TARGET_SEMANTICS: dict[type, TargetFn] = {}
CONTINUE = Action("continue")


def semantics(cls: type) -> Callable[[TargetFn], TargetFn]:
    def register(fn: TargetFn) -> TargetFn:
        TARGET_SEMANTICS[cls] = fn
        return fn

    return register


def _const(cls: type, action: Action) -> None:
    TARGET_SEMANTICS[cls] = lambda tg, p, env: action


_const(t.Accept, Action("accept"))
_const(t.Drop, Action("drop"))
_const(t.Return, Action("return"))
for _cls in (t.Log, t.Nflog, t.Trace, t.Checksum, t.Tcpmss):
    _const(_cls, CONTINUE)
TARGET_SEMANTICS[t.Queue] = lambda tg, p, env: Action(
    "unknown", unknown=Unknown("-j QUEUE hands the packet to a userspace program whose verdict is not known")
)


_JUMPS: dict[tuple[bool, str], Action] = {}


@semantics(t.Jump)
def _jump(tg: t.Jump, p: Packet, env: TargetEnv) -> Action:
    key = (tg.goto, tg.chain)
    act = _JUMPS.get(key)
    if act is None:  # the same few jumps are taken by every packet: one Action each
        act = _JUMPS[key] = Action("goto" if tg.goto else "jump", chain=tg.chain)
    return act


@semantics(t.Reject)
def _reject(tg: t.Reject, p: Packet, env: TargetEnv) -> Action:
    default = "icmp-port-unreachable" if env.family == 4 else "icmp6-port-unreachable"
    return Action("reject", reject_with=tg.reject_with or default)


def _mark_value(old: int, tg: Any) -> int:
    if tg.set_xmark is not None:
        return (old & ~tg.set_xmark.mask & 0xFFFFFFFF) ^ tg.set_xmark.value
    if tg.set_mark is not None:
        mm: MarkMask = tg.set_mark
        return (old & ~mm.mask & 0xFFFFFFFF) | mm.value
    if tg.and_mark is not None:
        return old & tg.and_mark
    if tg.or_mark is not None:
        return old | tg.or_mark
    if tg.xor_mark is not None:
        return old ^ tg.xor_mark
    return old


@semantics(t.MarkTarget)
def _mark(tg: t.MarkTarget, p: Packet, env: TargetEnv) -> Action:
    return Action("continue", packet=p.with_(mark=_mark_value(p.mark, tg)))


@semantics(t.ConnmarkTarget)
def _connmark(tg: t.ConnmarkTarget, p: Packet, env: TargetEnv) -> Action:
    ctmark = p.conn.mark if p.conn is not None else 0
    if tg.save_mark:
        mask = tg.mask if tg.mask is not None else (tg.nfmask if tg.nfmask is not None else 0xFFFFFFFF)
        cmask = tg.ctmask if tg.ctmask is not None else mask
        return Action("continue", connmark=(ctmark & ~cmask & 0xFFFFFFFF) | (p.mark & mask))
    if tg.restore_mark:
        mask = tg.mask if tg.mask is not None else (tg.ctmask if tg.ctmask is not None else 0xFFFFFFFF)
        nfmask = tg.nfmask if tg.nfmask is not None else mask
        return Action("continue", packet=p.with_(mark=(p.mark & ~nfmask & 0xFFFFFFFF) | (ctmark & mask)))
    return Action("continue", connmark=_mark_value(ctmark, tg))


@semantics(t.Ct)
def _ct(tg: t.Ct, p: Packet, env: TargetEnv) -> Action:
    return Action("continue", notrack=bool(tg.notrack))


@semantics(t.Notrack)
def _notrack(tg: t.Notrack, p: Packet, env: TargetEnv) -> Action:
    return Action("continue", notrack=True)


def _pick(ranges: tuple[NatRange, ...] | None, orig_port: int | None) -> tuple[IPAddress | None, int | None, str]:
    """The address and port a NAT range gives a new connection.

    The kernel keeps the original port when it lies in the range (nf_nat_core.c
    get_unique_tuple: in_range), else takes one from the range; of an address range
    it picks by a hash we cannot reproduce, so natsim takes the first and says so.
    """
    if not ranges:
        return None, None, ""
    r = ranges[0]
    note = ""
    addr = None
    if r.addresses is not None:
        addr = r.addresses.lo
        if r.addresses.lo != r.addresses.hi:
            note = f"address range {r.addresses}: the kernel picks one by hash; natsim shows the first"
    port = None
    if r.ports is not None:
        if orig_port is not None and orig_port in r.ports:
            port = orig_port
        else:
            port = r.ports.lo
            if r.ports.lo != r.ports.hi:
                more = f"port range {r.ports}: the kernel picks a free port; natsim shows the first"
                note = f"{note}; {more}" if note else more
    return addr, port, note


@semantics(t.Dnat)
def _dnat(tg: t.Dnat, p: Packet, env: TargetEnv) -> Action:
    addr, port, note = _pick(tg.to_destination, p.dport)
    return Action("nat", nat=NatBinding("dst", addr, port, "DNAT"), note=note)


@semantics(t.Snat)
def _snat(tg: t.Snat, p: Packet, env: TargetEnv) -> Action:
    addr, port, note = _pick(tg.to_source, p.sport)
    return Action("nat", nat=NatBinding("src", addr, port, "SNAT"), note=note)


@semantics(t.Masquerade)
def _masquerade(tg: t.Masquerade, p: Packet, env: TargetEnv) -> Action:
    addr = env.masquerade_address(p.out_iface, env.next_hop)
    if addr is None:
        # nf_nat_masquerade.c: no usable address on the interface -> NF_DROP
        return Action("drop", note=f"MASQUERADE: interface {p.out_iface} has no address to masquerade to")
    port = None
    if tg.to_ports is not None and p.sport is not None:
        port = p.sport if p.sport in tg.to_ports else tg.to_ports.lo
    return Action("nat", nat=NatBinding("src", addr, port, "MASQUERADE"))


@semantics(t.Redirect)
def _redirect(tg: t.Redirect, p: Packet, env: TargetEnv) -> Action:
    if p.in_iface is None:  # locally generated (nat OUTPUT): to the loopback address
        addr: IPAddress | None = ipaddress.ip_address("127.0.0.1" if env.family == 4 else "::1")
    else:
        addr = env.redirect_address(p.in_iface)
        if addr is None:  # nf_nat_redirect.c: no address on the incoming interface -> NF_DROP
            return Action("drop", note=f"REDIRECT: interface {p.in_iface} has no address")
    port = None
    if tg.to_ports is not None:
        port = p.dport if p.dport in tg.to_ports else tg.to_ports.lo
    return Action("nat", nat=NatBinding("dst", addr, port, "REDIRECT"))


@semantics(t.Netmap)
def _netmap(tg: t.Netmap, p: Packet, env: TargetEnv) -> Action:
    if tg.to is None:
        return CONTINUE
    manip: Literal["src", "dst"] = "dst" if env.hook in ("PREROUTING", "OUTPUT") else "src"
    old = p.dst if manip == "dst" else p.src
    net = tg.to
    bits = net.max_prefixlen
    mask = ((1 << bits) - 1) ^ ((1 << (bits - net.prefixlen)) - 1)
    new = ipaddress.ip_address((int(old) & ~mask & ((1 << bits) - 1)) | (int(net.network_address) & mask))
    return Action("nat", nat=NatBinding(manip, new, None, "NETMAP"))


@semantics(t.Tproxy)
def _tproxy(tg: t.Tproxy, p: Packet, env: TargetEnv) -> Action:
    return Action("unknown", unknown=Unknown("-j TPROXY (transparent proxying) is not modelled"))


@semantics(t.UnknownTarget)
def _unknown_target(tg: t.UnknownTarget, p: Packet, env: TargetEnv) -> Action:
    args = " ".join(tg.args)
    return Action("unknown", unknown=Unknown(f"-j {tg.target_name} {args}".rstrip() + " has no natsim semantics"))


def perform(target: object, packet: Packet, env: TargetEnv) -> Action:
    fn = TARGET_SEMANTICS.get(type(target))
    if fn is None:
        name = getattr(target, "name", type(target).__name__)
        return Action("unknown", unknown=Unknown(f"-j {name} has no natsim semantics"))
    return fn(target, packet, env)
