"""Canonical forms: what the kernel stores for what people write.

iptables translates several spellings into one kernel structure, and iptables-save
prints that structure back.  natsim's model holds the canonical form, so that a
hand-written rule equals the kernel's dump of it (the kernel roundtrip tests check
each normalisation here against iptables-save; see docs/decisions/0021-*).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from typing import Any

from natsim.model import matches as m
from natsim.model import targets as t
from natsim.model.values import MarkMask, Neg, PortRange
from natsim.parse.names import DSCP_CLASS_ORDER, LOG_LEVELS, REJECT_TYPES4, REJECT_TYPES6

_FULL = 0xFFFFFFFF
_ALL_PORTS = PortRange(0, 65535)


#: REJECT --reject-with aliases (libxt_REJECT / libip6t_REJECT) -> the name iptables-save prints.
_REJECT_NAMES = {alias: name for name, alias in (*REJECT_TYPES4, *REJECT_TYPES6) if alias != "port-unreach"}
_REJECT_DEFAULTS = ("icmp-port-unreachable", "icmp6-port-unreachable", "port-unreach", "port-unreachable")


def _reject(obj: t.Reject) -> t.Reject:
    # The default reply is printed by iptables-save; natsim stores "default" as None.
    if obj.reject_with is None:
        return obj
    if obj.reject_with in _REJECT_DEFAULTS:
        return dataclasses.replace(obj, reject_with=None)
    name = _REJECT_NAMES.get(obj.reject_with)
    return dataclasses.replace(obj, reject_with=name) if name else obj


#: libxt_limit: rates are kept as a period in 1/10000 s and printed in the largest fitting unit.
_LIMIT_SCALE = 10000
_LIMIT_UNITS = (("day", 86400), ("hour", 3600), ("min", 60), ("sec", 1))


def limit_period(rate: str) -> int | None:
    """``5/min`` -> the period libxt_limit's parse_rate stores (None: iptables refuses the rate).

    The number is read with atoi (``5x/sec`` is 5/sec; a negative number wraps to a huge
    rate), the unit is any prefix of second/minute/hour/day; a period of 0 is "Rate too fast".
    """
    num_s, sep, unit = rate.partition("/")
    mult = 1
    if sep:
        if not unit:
            return None
        for name, full in (("second", 1), ("minute", 60), ("hour", 3600), ("day", 86400)):
            if name.startswith(unit.lower()):
                mult = full
                break
        else:
            return None
    r = _atoi(num_s) & 0xFFFFFFFF
    if r == 0:
        return None
    period = _LIMIT_SCALE * mult // r
    return period or None


_ATOI = re.compile(r"[ \t\n\v\f\r]*([+-]?\d*)")


def _atoi(text: str) -> int:
    """C's atoi as glibc does it (strtol, clamped to a long, then cut to an int)."""
    digits = _ATOI.match(text).group(1)  # type: ignore[union-attr]
    if digits in ("", "+", "-"):
        return 0
    value = max(-(2**63), min(2**63 - 1, int(digits)))
    value &= 0xFFFFFFFF
    return value - 2**32 if value >= 2**31 else value


def limit_text(period: int) -> str:
    """The rate iptables-save prints for a stored period (print_rate)."""
    rates = [(name, _LIMIT_SCALE * mult) for name, mult in _LIMIT_UNITS]
    i = 1
    while i < len(rates):
        full = rates[i][1]
        if period > full or full // period < full % period:
            break
        i += 1
    name, full = rates[i - 1]
    return f"{full // period}/{name}"


def _limit(obj: m.Limit) -> m.Limit:
    period = limit_period(obj.limit or "3/hour")
    limit = limit_text(period) if period else obj.limit
    burst = None if obj.limit_burst == 5 else obj.limit_burst
    return dataclasses.replace(obj, limit=limit, limit_burst=burst)


def probability_text(word: str) -> str:
    """libxt_statistic keeps round(p * 2^31) and prints it back with 11 decimals."""
    stored = math.floor(float(word) * 0x80000000 + 0.5)
    return f"{stored / 0x80000000:.11f}"


def _statistic(obj: m.Statistic) -> m.Statistic:
    p = obj.probability
    if p is None:
        return obj
    return dataclasses.replace(obj, probability=Neg(probability_text(p.value), p.negated))


_ALL_ONES = {"255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}


def _recent(obj: m.Recent) -> m.Recent:
    """iptables-save prints the defaults --name DEFAULT, the all-ones --mask and --rsource."""
    mask = None if obj.mask is not None and str(obj.mask) in _ALL_ONES else obj.mask
    rsource = True if not obj.rdest else obj.rsource
    return dataclasses.replace(obj, name=obj.name or "DEFAULT", mask=mask, rsource=rsource)


def _connmark(obj: t.ConnmarkTarget) -> t.ConnmarkTarget:
    obj = _xmark(obj)
    if obj.save_mark or obj.restore_mark:
        mask = obj.mask if obj.mask is not None else _FULL
        nfmask = obj.nfmask if obj.nfmask is not None else mask
        ctmask = obj.ctmask if obj.ctmask is not None else mask
        return dataclasses.replace(obj, nfmask=nfmask, ctmask=ctmask, mask=None)
    return obj


#: DSCP class names (libxt_dscp_helper) -> the code point iptables-save prints.
DSCP_CLASSES = dict(DSCP_CLASS_ORDER)


def _dscp(obj: m.Dscp) -> m.Dscp:
    cls = obj.dscp_class
    if cls is None or cls.value.upper() not in DSCP_CLASSES:
        return obj
    return dataclasses.replace(obj, dscp=Neg(DSCP_CLASSES[cls.value.upper()], cls.negated), dscp_class=None)


def _tos(obj: m.Tos) -> m.Tos:
    # A plain --tos VALUE compares the whole TOS byte: the mask is 0xff.
    v = obj.tos
    if v is not None and v.value.mask == _FULL:
        return dataclasses.replace(obj, tos=Neg(MarkMask(v.value.value, 0xFF), v.negated))
    return obj


def _pkttype(obj: m.PktType) -> m.PktType:
    v = obj.pkt_type
    return dataclasses.replace(obj, pkt_type=Neg(v.value.lower(), v.negated)) if v is not None else obj


def _log(obj: t.Log) -> t.Log:
    level = obj.log_level
    if level is None:
        return obj
    num = LOG_LEVELS.get(level.lower())
    if num is None and level.isdigit():
        num = int(level)
    if num == 4:  # LOG's default (warning) is not printed
        return dataclasses.replace(obj, log_level=None)
    return dataclasses.replace(obj, log_level=str(num) if num is not None else level)


def _xmark(obj: Any) -> Any:
    """MARK/CONNMARK --set-mark/--and-mark/--or-mark/--xor-mark are all --set-xmark V/M."""
    xmark = obj.set_xmark
    if obj.set_mark is not None:
        v, mask = obj.set_mark.value, obj.set_mark.mask
        xmark = MarkMask(v, (mask | v) & _FULL)
    elif obj.and_mark is not None:
        xmark = MarkMask(0, (~obj.and_mark) & _FULL)
    elif obj.or_mark is not None:
        xmark = MarkMask(obj.or_mark, obj.or_mark)
    elif obj.xor_mark is not None:
        xmark = MarkMask(obj.xor_mark, 0)
    if xmark is obj.set_xmark:
        return obj
    return dataclasses.replace(obj, set_xmark=xmark, set_mark=None, and_mark=None, or_mark=None, xor_mark=None)


def _ports(obj: Any) -> Any:
    """``--dport 0:65535`` (not negated) matches every port: iptables-save prints nothing.

    A negated range that touches an end is the remaining range, as iptables-nft stores
    it (``! --sport 0:1025`` is ``--sport 1026:65535``); legacy prints it as written, and
    both mean the same, so natsim keeps the positive form.
    """
    changes: dict[str, Any] = {}
    for name in ("sport", "dport"):
        value = getattr(obj, name)
        if not isinstance(value, Neg):
            continue
        rng = value.value
        if not value.negated:
            if rng == _ALL_PORTS:
                changes[name] = None
        elif rng.lo == 0 and rng.hi < 65535:
            changes[name] = Neg(PortRange(rng.hi + 1, 65535), False)
        elif rng.hi == 65535 and rng.lo > 0:
            changes[name] = Neg(PortRange(0, rng.lo - 1), False)
    return dataclasses.replace(obj, **changes) if changes else obj


def _icmp(obj: m.Icmp) -> m.Icmp:
    """IPv4 ICMP type 255 matches every packet whatever the codes (ip_tables' icmp_type_code_match),
    and iptables-save prints it as ``any``: ``--icmp-type 255`` and ``255/0`` are ``any``."""
    v = obj.icmp_type
    if v is not None and v.value.type_ == 255:
        return dataclasses.replace(obj, icmp_type=Neg(m.IcmpType(None, None), v.negated))
    return obj


def _mac(obj: m.Mac) -> m.Mac:
    # libxt_mac prints the bytes with %02x.
    v = obj.mac_source
    return dataclasses.replace(obj, mac_source=Neg(v.value.lower(), v.negated)) if v is not None else obj


NORMALIZERS: dict[type, Callable[[Any], Any]] = {
    t.Reject: _reject,
    t.ConnmarkTarget: _connmark,
    m.Limit: _limit,
    m.Statistic: _statistic,
    m.Recent: _recent,
    m.Dscp: _dscp,
    m.Tos: _tos,
    m.PktType: _pkttype,
    t.Log: _log,
    t.MarkTarget: _xmark,
    m.Tcp: _ports,
    m.Udp: _ports,
    m.UdpLite: _ports,
    m.Sctp: _ports,
    m.Dccp: _ports,
    m.Mac: _mac,
    m.Icmp: _icmp,
}


def normalize(obj: Any, family: int | None = None) -> Any:
    fn = NORMALIZERS.get(type(obj))
    return fn(obj) if fn is not None else obj
