"""Names iptables accepts in place of numbers: protocols, ICMP types, log levels.

Data, not code: the tables follow netbase's /etc/protocols (which iptables-save uses
through getprotobynumber) and the name tables of iptables' libxt_icmp/libip6t_icmp6
and libxt_LOG, so natsim reads the same names without depending on the host's files.
"""

from __future__ import annotations

#: protocol number -> the name iptables-save prints (netbase /etc/protocols).
PROTOCOL_NAMES: dict[int, str] = {
    1: "icmp", 2: "igmp", 3: "ggp", 4: "ipencap", 5: "st", 6: "tcp", 8: "egp", 9: "igp", 12: "pup",
    17: "udp", 20: "hmp", 22: "xns-idp", 27: "rdp", 29: "iso-tp4", 33: "dccp", 36: "xtp", 37: "ddp",
    38: "idpr-cmtp", 41: "ipv6", 43: "ipv6-route", 44: "ipv6-frag", 45: "idrp", 46: "rsvp", 47: "gre",
    50: "esp", 51: "ah", 57: "skip", 58: "ipv6-icmp", 59: "ipv6-nonxt", 60: "ipv6-opts", 73: "rspf",
    81: "vmtp", 88: "eigrp", 89: "ospf", 93: "ax.25", 94: "ipip", 97: "etherip", 98: "encap",
    103: "pim", 108: "ipcomp", 112: "vrrp", 115: "l2tp", 124: "isis", 132: "sctp", 133: "fc",
    135: "mobility-header", 136: "udplite", 137: "mpls-in-ip", 138: "manet", 139: "hip", 140: "shim6",
    141: "wesp", 142: "rohc", 143: "ethernet",
}

#: Other spellings iptables accepts for a protocol (its own table and /etc/protocols aliases).
PROTOCOL_ALIASES: dict[str, str] = {
    "icmpv6": "ipv6-icmp", "ipv6-mh": "mobility-header", "mh": "mobility-header",
    "ipsec-esp": "esp", "ipsec-ah": "ah", "ip-encap": "ipencap", "ospfigp": "ospf",
}

PROTOCOL_NUMBERS: dict[str, int] = {name: num for num, name in PROTOCOL_NAMES.items()}

#: The ``-m`` module that iptables loads implicitly for ``-p NAME --option`` (load_proto).
IMPLICIT_MODULES: dict[str, str] = {
    "tcp": "tcp", "udp": "udp", "udplite": "udplite", "sctp": "sctp", "dccp": "dccp",
    "icmp": "icmp", "ipv6-icmp": "icmp6",
}

_ANY = None
#: ``--icmp-type NAME`` -> (type, code or None for any code); libxt_icmp.
ICMP_TYPES: dict[str, tuple[int | None, int | None]] = {
    "any": (_ANY, None),
    "echo-reply": (0, None), "pong": (0, None),
    "destination-unreachable": (3, None),
    "network-unreachable": (3, 0), "host-unreachable": (3, 1), "protocol-unreachable": (3, 2),
    "port-unreachable": (3, 3), "fragmentation-needed": (3, 4), "source-route-failed": (3, 5),
    "network-unknown": (3, 6), "host-unknown": (3, 7), "network-prohibited": (3, 9),
    "host-prohibited": (3, 10), "TOS-network-unreachable": (3, 11), "TOS-host-unreachable": (3, 12),
    "communication-prohibited": (3, 13), "host-precedence-violation": (3, 14),
    "precedence-cutoff": (3, 15),
    "source-quench": (4, None),
    "redirect": (5, None), "network-redirect": (5, 0), "host-redirect": (5, 1),
    "TOS-network-redirect": (5, 2), "TOS-host-redirect": (5, 3),
    "echo-request": (8, None), "ping": (8, None),
    "router-advertisement": (9, None), "router-solicitation": (10, None),
    "time-exceeded": (11, None), "ttl-exceeded": (11, None),
    "ttl-zero-during-transit": (11, 0), "ttl-zero-during-reassembly": (11, 1),
    "parameter-problem": (12, None), "ip-header-bad": (12, 0), "required-option-missing": (12, 1),
    "timestamp-request": (13, None), "timestamp-reply": (14, None),
    "address-mask-request": (17, None), "address-mask-reply": (18, None),
}

#: ``--icmpv6-type NAME``; libip6t_icmp6.
ICMP6_TYPES: dict[str, tuple[int | None, int | None]] = {
    "destination-unreachable": (1, None), "no-route": (1, 0), "communication-prohibited": (1, 1),
    "beyond-scope": (1, 2), "address-unreachable": (1, 3), "port-unreachable": (1, 4),
    "failed-policy": (1, 5), "reject-route": (1, 6),
    "packet-too-big": (2, None),
    "time-exceeded": (3, None), "ttl-exceeded": (3, None),
    "ttl-zero-during-transit": (3, 0), "ttl-zero-during-reassembly": (3, 1),
    "parameter-problem": (4, None), "bad-header": (4, 0), "unknown-header-type": (4, 1),
    "unknown-option": (4, 2),
    "echo-request": (128, None), "ping": (128, None),
    "echo-reply": (129, None), "pong": (129, None),
    "router-solicitation": (133, None), "router-advertisement": (134, None),
    "neighbour-solicitation": (135, None), "neighbor-solicitation": (135, None),
    "neighbour-advertisement": (136, None), "neighbor-advertisement": (136, None),
    "redirect": (137, None),
}

#: ``--log-level NAME`` -> number (syslog levels); iptables-save prints the number.
LOG_LEVELS: dict[str, int] = {
    "emerg": 0, "alert": 1, "crit": 2, "error": 3, "err": 3, "warning": 4,
    "notice": 5, "info": 6, "debug": 7, "panic": 0,
}

#: Names of comma-list options, in the order iptables tries them: an item may be any prefix of a
#: name, in any case (strncasecmp over the item's length), so ``EST`` is ESTABLISHED.
CT_STATES: tuple[str, ...] = ("INVALID", "NEW", "ESTABLISHED", "RELATED", "UNTRACKED", "SNAT", "DNAT")
STATES: tuple[str, ...] = ("INVALID", "NEW", "ESTABLISHED", "RELATED", "UNTRACKED")
CT_STATUSES: tuple[str, ...] = ("NONE", "EXPECTED", "SEEN_REPLY", "ASSURED", "CONFIRMED")
ADDR_TYPES: tuple[str, ...] = ("UNSPEC", "UNICAST", "LOCAL", "BROADCAST", "ANYCAST", "MULTICAST", "BLACKHOLE",
                               "UNREACHABLE", "PROHIBIT", "THROW", "NAT", "XRESOLVE")

#: REJECT --reject-with (name, alias) pairs in libipt_REJECT's / libip6t_REJECT's order.
REJECT_TYPES4: tuple[tuple[str, str], ...] = (
    ("icmp-net-unreachable", "net-unreach"), ("icmp-host-unreachable", "host-unreach"),
    ("icmp-proto-unreachable", "proto-unreach"), ("icmp-port-unreachable", "port-unreach"),
    ("icmp-net-prohibited", "net-prohib"), ("icmp-host-prohibited", "host-prohib"),
    ("tcp-reset", "tcp-rst"), ("icmp-admin-prohibited", "admin-prohib"),
)
REJECT_TYPES6: tuple[tuple[str, str], ...] = (
    ("icmp6-no-route", "no-route"), ("icmp6-adm-prohibited", "adm-prohibited"),
    ("icmp6-addr-unreachable", "addr-unreach"), ("icmp6-port-unreachable", "port-unreach"),
    ("tcp-reset", "tcp-rst"), ("icmp6-policy-fail", "policy-fail"), ("icmp6-reject-route", "reject-route"),
)

#: libxt_dscp_helper's classes in its order; a word is read as the first class it starts with.
DSCP_CLASS_ORDER: tuple[tuple[str, int], ...] = (
    *((f"CS{i}", 8 * i) for i in range(8)), ("BE", 0),
    ("AF11", 10), ("AF12", 12), ("AF13", 14), ("AF21", 18), ("AF22", 20), ("AF23", 22),
    ("AF31", 26), ("AF32", 28), ("AF33", 30), ("AF41", 34), ("AF42", 36), ("AF43", 38), ("EF", 46),
)

#: libxt_tos's symbolic TOS values (compared without case); they leave the ECN bits out (mask 0x3f).
TOS_NAMES: dict[str, int] = {
    "minimize-delay": 0x10, "maximize-throughput": 0x08, "maximize-reliability": 0x04,
    "minimize-cost": 0x02, "normal-service": 0x00,
}

#: TCP flag names of ``--tcp-flags``; ALL and NONE are shorthands.
TCP_FLAGS: tuple[str, ...] = ("FIN", "SYN", "RST", "PSH", "ACK", "URG")
