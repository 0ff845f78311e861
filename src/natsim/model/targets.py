"""Typed targets (``-j NAME ...`` / ``-g CHAIN``): one frozen dataclass per target.

As with matches, only syntax lives here; semantics are in ``natsim.engine.targets``.
A target extension natsim does not know is kept as :class:`UnknownTarget`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from natsim.model.options import option
from natsim.model.values import IPAddress, IPNetwork, MarkMask, NatRange, PortRange


class Target:
    """Base of all targets.  ``name`` is what follows ``-j`` in iptables-save output."""

    __slots__ = ()
    name: ClassVar[str]
    #: Tables the kernel accepts this target in (None: any table).
    tables: ClassVar[frozenset[str] | None] = None
    #: Built-in hooks (chains) the kernel accepts it from, after following jumps (None: any).
    hooks: ClassVar[frozenset[str] | None] = None


TARGETS: dict[str, type[Target]] = {}


def target(name: str, tables: tuple[str, ...] | None = None, hooks: tuple[str, ...] | None = None):
    def register(cls: type[Target]) -> type[Target]:
        cls.name = name
        cls.tables = frozenset(tables) if tables is not None else None
        cls.hooks = frozenset(hooks) if hooks is not None else None
        TARGETS[name] = cls
        return cls

    return register


@target("ACCEPT")
@dataclass(frozen=True, slots=True)
class Accept(Target):
    pass


@target("DROP")
@dataclass(frozen=True, slots=True)
class Drop(Target):
    pass


@target("RETURN")
@dataclass(frozen=True, slots=True)
class Return(Target):
    pass


@target("QUEUE")
@dataclass(frozen=True, slots=True)
class Queue(Target):
    pass


@dataclass(frozen=True, slots=True)
class Jump(Target):
    """``-j CHAIN`` (``goto=False``) or ``-g CHAIN`` (``goto=True``) to a user-defined chain."""

    chain: str
    goto: bool = False

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.chain


# ipt_REJECT/ip6t_REJECT register .table = "filter" (the kernel refuses REJECT in raw/mangle/security).
@target("REJECT", tables=("filter",), hooks=("INPUT", "FORWARD", "OUTPUT"))
@dataclass(frozen=True, slots=True)
class Reject(Target):
    reject_with: str | None = option("--reject-with", kind="str", negatable=False, refined="reject_with")


@target("DNAT", tables=("nat",), hooks=("PREROUTING", "OUTPUT"))
@dataclass(frozen=True, slots=True)
class Dnat(Target):
    to_destination: tuple[NatRange, ...] | None = option("--to-destination", kind="nat_range", negatable=False)
    random: bool | None = option("--random", kind="flag", negatable=False)
    persistent: bool | None = option("--persistent", kind="flag", negatable=False)


@target("SNAT", tables=("nat",), hooks=("POSTROUTING", "INPUT"))
@dataclass(frozen=True, slots=True)
class Snat(Target):
    to_source: tuple[NatRange, ...] | None = option("--to-source", kind="nat_range", negatable=False)
    random: bool | None = option("--random", kind="flag", negatable=False)
    random_fully: bool | None = option("--random-fully", kind="flag", negatable=False)
    persistent: bool | None = option("--persistent", kind="flag", negatable=False)


@target("MASQUERADE", tables=("nat",), hooks=("POSTROUTING",))
@dataclass(frozen=True, slots=True)
class Masquerade(Target):
    to_ports: PortRange | None = option("--to-ports", kind="port_nat", negatable=False)
    random: bool | None = option("--random", kind="flag", negatable=False)
    random_fully: bool | None = option("--random-fully", kind="flag", negatable=False)


@target("REDIRECT", tables=("nat",), hooks=("PREROUTING", "OUTPUT"))
@dataclass(frozen=True, slots=True)
class Redirect(Target):
    to_ports: PortRange | None = option("--to-ports", kind="port_nat", negatable=False)
    random: bool | None = option("--random", kind="flag", negatable=False)


@target("NETMAP", tables=("nat",), hooks=("PREROUTING", "POSTROUTING", "OUTPUT", "INPUT"))
@dataclass(frozen=True, slots=True)
class Netmap(Target):
    to: IPNetwork | None = option("--to", kind="network", negatable=False)


@target("LOG")
@dataclass(frozen=True, slots=True)
class Log(Target):
    log_level: str | None = option("--log-level", kind="str", negatable=False, refined="log_level")
    log_prefix: str | None = option("--log-prefix", kind="str", negatable=False)
    log_tcp_sequence: bool | None = option("--log-tcp-sequence", kind="flag", negatable=False)
    log_tcp_options: bool | None = option("--log-tcp-options", kind="flag", negatable=False)
    log_ip_options: bool | None = option("--log-ip-options", kind="flag", negatable=False)
    log_uid: bool | None = option("--log-uid", kind="flag", negatable=False)
    log_macdecode: bool | None = option("--log-macdecode", kind="flag", negatable=False)


@target("NFLOG")
@dataclass(frozen=True, slots=True)
class Nflog(Target):
    nflog_prefix: str | None = option("--nflog-prefix", kind="str", negatable=False)
    nflog_group: int | None = option("--nflog-group", kind="int", negatable=False, refined="u16")
    nflog_range: int | None = option("--nflog-range", kind="int", negatable=False)
    nflog_size: int | None = option("--nflog-size", kind="int", negatable=False)
    nflog_threshold: int | None = option("--nflog-threshold", kind="int", negatable=False)


@target("MARK")
@dataclass(frozen=True, slots=True)
class MarkTarget(Target):
    """iptables-save prints every form as ``--set-xmark V/M``; restore input may use the others."""

    set_xmark: MarkMask | None = option("--set-xmark", kind="mark_mask", negatable=False)
    set_mark: MarkMask | None = option("--set-mark", kind="mark_mask", negatable=False)
    and_mark: int | None = option("--and-mark", kind="int", negatable=False)
    or_mark: int | None = option("--or-mark", kind="int", negatable=False)
    xor_mark: int | None = option("--xor-mark", kind="int", negatable=False)


@target("CONNMARK")
@dataclass(frozen=True, slots=True)
class ConnmarkTarget(Target):
    set_xmark: MarkMask | None = option("--set-xmark", kind="mark_mask", negatable=False)
    set_mark: MarkMask | None = option("--set-mark", kind="mark_mask", negatable=False)
    save_mark: bool | None = option("--save-mark", kind="flag", negatable=False)
    restore_mark: bool | None = option("--restore-mark", kind="flag", negatable=False)
    nfmask: int | None = option("--nfmask", kind="int", negatable=False)
    ctmask: int | None = option("--ctmask", kind="int", negatable=False)
    mask: int | None = option("--mask", kind="int", negatable=False)
    and_mark: int | None = option("--and-mark", kind="int", negatable=False)
    or_mark: int | None = option("--or-mark", kind="int", negatable=False)
    xor_mark: int | None = option("--xor-mark", kind="int", negatable=False)


@target("CT", tables=("raw",))
@dataclass(frozen=True, slots=True)
class Ct(Target):
    notrack: bool | None = option("--notrack", kind="flag", negatable=False)
    helper: str | None = option("--helper", kind="str", negatable=False)
    ctevents: str | None = option("--ctevents", kind="str", negatable=False)
    expevents: str | None = option("--expevents", kind="str", negatable=False)
    zone: str | None = option("--zone", kind="str", negatable=False)
    timeout: str | None = option("--timeout", kind="str", negatable=False)


@target("NOTRACK", tables=("raw",))
@dataclass(frozen=True, slots=True)
class Notrack(Target):
    pass


@target("TRACE", tables=("raw",))
@dataclass(frozen=True, slots=True)
class Trace(Target):
    pass


@target("CHECKSUM", tables=("mangle",))
@dataclass(frozen=True, slots=True)
class Checksum(Target):
    checksum_fill: bool | None = option("--checksum-fill", kind="flag", negatable=False)


@target("TCPMSS")
@dataclass(frozen=True, slots=True)
class Tcpmss(Target):
    set_mss: int | None = option("--set-mss", kind="int", negatable=False, refined="mss")
    clamp_mss_to_pmtu: bool | None = option("--clamp-mss-to-pmtu", kind="flag", negatable=False)


@target("TPROXY", tables=("mangle",), hooks=("PREROUTING",))
@dataclass(frozen=True, slots=True)
class Tproxy(Target):
    on_port: int | None = option("--on-port", kind="int", negatable=False)
    on_ip: IPAddress | None = option("--on-ip", kind="address", negatable=False)
    tproxy_mark: MarkMask | None = option("--tproxy-mark", kind="mark_mask", negatable=False)


@dataclass(frozen=True, slots=True)
class UnknownTarget(Target):
    """A target extension natsim does not model, kept word for word (``-j CLASSIFY --set-class 1:1``)."""

    target_name: str
    args: tuple[str, ...] = ()

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.target_name
