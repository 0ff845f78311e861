"""Model -> iptables-save text, as iptables 1.8 prints it, such that parsing it gives the model back.

Rule layout: ``-A CHAIN [! -s NET] [! -d NET] [! -i IF] [! -o IF] [! -p PROTO] [! -f]
-m MODULE OPTIONS... -j TARGET OPTIONS...``; options in field order (the order of the
option specs, which follow iptables-save).  ``render_rule`` gives one rule's text for
explanations; ``render_ruleset`` a whole dump that iptables-restore accepts.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Iterable
from typing import Any

from natsim.model.matches import Dscp, IcmpType, Match, Recent, Tos, UnknownMatch
from natsim.model.options import OptionSpec, option_fields
from natsim.model.ruleset import Chain, Rule, Ruleset, Table
from natsim.model.targets import ConnmarkTarget, Jump, MarkTarget, Reject, Target, UnknownTarget
from natsim.model.values import Neg

_NO_QUOTE = frozenset("_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

#: The order iptables-save prints set members in (others: sorted).
_SET_ORDER = {
    name: i
    for i, name in enumerate(
        ("INVALID", "NEW", "RELATED", "ESTABLISHED", "UNTRACKED", "SNAT", "DNAT",
         "NONE", "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED",
         "UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE", "UNREACHABLE",
         "PROHIBIT", "THROW", "NAT", "XRESOLVE")
    )
}
_TCP_FLAG_ORDER = ("FIN", "SYN", "RST", "PSH", "ACK", "URG")
#: Fields whose mark/mask iptables-save always prints with the mask.
_FULL_MASK_FIELDS = {(MarkTarget, "set_xmark"), (ConnmarkTarget, "set_xmark"), (Tos, "tos")}
#: Free-text fields iptables-save writes with xtables_save_string (quoted unless plain); other
#: string options are printed as they are.
_SAVE_STRING_FIELDS = frozenset({"comment", "log_prefix", "nflog_prefix"})
#: Integer fields iptables-save prints in hex.
_HEX_FIELDS = {(ConnmarkTarget, "nfmask"), (ConnmarkTarget, "ctmask"), (ConnmarkTarget, "mask"), (Dscp, "dscp")}


def quote(word: str) -> str:
    """A word as iptables-save writes a string: bare if safe, else in double quotes with escapes."""
    if word and all(c in _NO_QUOTE for c in word):
        return word
    escaped = word.replace("\\", "\\\\").replace('"', '\\"').replace("'", "\\'")
    return f'"{escaped}"'


def quote_arg(word: str) -> str:
    """A verbatim word of an unknown extension: quoted only if it would not survive splitting."""
    if word and not any(c in ' \t"\\' for c in word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def interface_word(name: str) -> str:
    """An interface name as a word natsim reads back: bare as iptables-save prints it, but
    quoted when empty (``--physdev-in ""``) or holding a blank or quote (``-i "a b"``)."""
    return quote_arg(name)


def network(net: Any) -> str:
    return f"{net.network_address}/{net.prefixlen}"


def _tcp_flags(flags: frozenset[str]) -> str:
    if not flags:
        return "NONE"
    return ",".join(f for f in _TCP_FLAG_ORDER if f in flags)


def _icmp(value: IcmpType) -> str:
    if value.type_ is None:
        return "any"
    return str(value.type_) if value.code is None else f"{value.type_}/{value.code}"


def _str_set(values: frozenset[str]) -> str:
    return ",".join(sorted(values, key=lambda v: (_SET_ORDER.get(v, 1000), v)))


def value_words(kind: str, value: Any) -> list[str]:
    """The words an option of ``kind`` prints for ``value`` (without the flag)."""
    if kind in ("port_range", "port"):
        return [str(value)]
    if kind == "port_list":
        return [",".join(str(p) for p in value)]
    if kind == "str_set":
        return [_str_set(value)]
    if kind == "str_list":
        return [",".join(value)]
    if kind == "network":
        return [network(value)]
    if kind == "interface":
        return [interface_word(str(value))]
    if kind in ("address", "address_range", "number_str"):
        return [str(value)]
    if kind == "mark_mask":
        return [str(value)]
    if kind == "int":
        return [str(value)]
    if kind == "tcp_flags":
        return [_tcp_flags(value.mask), _tcp_flags(value.comp)]
    if kind in ("icmp_type", "icmp6_type"):
        return [_icmp(value)]
    if kind == "port_nat":
        return [str(value).replace(":", "-")]
    if kind == "set_ref":
        return [quote_arg(value[0]), ",".join(value[1])]
    if kind == "str":
        return [quote(value)]
    raise ValueError(f"natsim: no renderer for option kind {kind!r}")


def _options(obj: Any) -> list[str]:
    words: list[str] = []
    cls = type(obj)
    for name, spec in option_fields(cls):
        value = getattr(obj, name)
        if value is None or value is False:
            continue
        words.extend(_option(cls, name, spec, value))
    return words


def _option(cls: type, name: str, spec: OptionSpec, value: Any) -> list[str]:
    prefix: list[str] = []
    if isinstance(value, Neg):
        if value.negated:
            prefix = ["!"]
        value = value.value
    if spec.kind == "flag":
        return [*prefix, spec.canonical] if value else []
    if spec.kind == "nat_range":
        out: list[str] = []
        for item in value:
            out += [spec.canonical, str(item)]
        return out
    if spec.kind == "str" and name not in _SAVE_STRING_FIELDS:
        return [*prefix, spec.canonical, quote_arg(value)]
    if spec.kind == "int" and (cls, name) in _HEX_FIELDS:
        return [*prefix, spec.canonical, hex(value)]
    if spec.kind == "mark_mask" and (cls, name) in _FULL_MASK_FIELDS:
        return [*prefix, spec.canonical, f"{hex(value.value)}/{hex(value.mask)}"]
    return [*prefix, spec.canonical, *value_words(spec.kind, value)]


def _as_printed(obj: Any, family: int) -> Any:
    """The defaults iptables-save prints although the model stores them as None."""
    if isinstance(obj, Reject) and obj.reject_with is None:
        return dataclasses.replace(obj, reject_with="icmp6-port-unreachable" if family == 6 else "icmp-port-unreachable")
    if isinstance(obj, Recent) and obj.mask is None:
        ones = ipaddress.ip_address("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" if family == 6 else "255.255.255.255")
        return dataclasses.replace(obj, mask=ones)
    return obj


def render_match(match: Match, family: int = 4) -> str:
    if isinstance(match, UnknownMatch):
        return " ".join(["-m", match.name, *(quote_arg(a) for a in match.args)])
    return " ".join(["-m", match.module, *_options(_as_printed(match, family))])


def render_target(target: Target, family: int = 4) -> str:
    if isinstance(target, Jump):
        return f"{'-g' if target.goto else '-j'} {target.chain}"
    if isinstance(target, UnknownTarget):
        return " ".join(["-j", target.target_name, *(quote_arg(a) for a in target.args)])
    return " ".join(["-j", target.name, *_options(_as_printed(target, family))])


def _family_of(rule: Rule) -> int:
    for neg in (rule.source, rule.destination):
        if neg is not None:
            return neg.value.version
    return 6 if rule.protocol is not None and rule.protocol.value == "ipv6-icmp" else 4


def _neg(prefix: str, neg: Neg[Any], text: str) -> list[str]:
    return ["!", prefix, text] if neg.negated else [prefix, text]


def render_rule_spec(rule: Rule, family: int | None = None) -> str:
    """A rule without ``-A CHAIN``: its matches and target, in iptables-save order.

    ``family`` decides the defaults printed for IPv4 or IPv6 (guessed from the rule if None).
    """
    fam = family if family is not None else _family_of(rule)
    words: list[str] = []
    if rule.source is not None:
        words += _neg("-s", rule.source, network(rule.source.value))
    if rule.destination is not None:
        words += _neg("-d", rule.destination, network(rule.destination.value))
    if rule.in_interface is not None:
        words += _neg("-i", rule.in_interface, interface_word(str(rule.in_interface.value)))
    if rule.out_interface is not None:
        words += _neg("-o", rule.out_interface, interface_word(str(rule.out_interface.value)))
    if rule.protocol is not None:
        words += _neg("-p", rule.protocol, rule.protocol.value)
    if rule.fragment is not None:
        words += ["!", "-f"] if rule.fragment.negated else ["-f"]
    parts = [" ".join(words)] if words else []
    parts += [render_match(m, fam) for m in rule.matches]
    if rule.target is not None:
        parts.append(render_target(rule.target, fam))
    return " ".join(parts)


def render_rule(rule: Rule, chain: str, counters: bool = True, family: int | None = None) -> str:
    """``[p:b] -A CHAIN spec`` (counters only when the rule has them and ``counters``)."""
    spec = render_rule_spec(rule, family)
    head = f"-A {chain}" + (f" {spec}" if spec else "")
    if counters and rule.counters is not None:
        return f"{rule.counters} {head}"
    return head


def _chain_decl(chain: Chain) -> str:
    policy = chain.policy if chain.policy is not None else "-"
    return f":{chain.name} {policy}" + (f" {chain.counters}" if chain.counters is not None else "")


def render_table(table: Table, counters: bool = True, family: int | None = None) -> Iterable[str]:
    yield f"*{table.name}"
    for chain in table.chains:
        yield _chain_decl(chain)
    for chain in table.chains:
        for rule in chain.rules:
            yield render_rule(rule, chain.name, counters, family)
    yield "COMMIT"


def render_ruleset(ruleset: Ruleset, counters: bool = True) -> str:
    """The whole ruleset as ``iptables-save`` (``ip6tables-save`` for family 6) text."""
    tool = "ip6tables-save" if ruleset.family == 6 else "iptables-save"
    lines = [f"# Generated by natsim ({tool} format)"]
    for table in ruleset.tables:
        lines.extend(render_table(table, counters, ruleset.family))
    return "\n".join(lines) + "\n"


__all__ = ["quote", "render_match", "render_rule", "render_rule_spec", "render_ruleset", "render_table",
           "render_target", "value_words", "network"]

