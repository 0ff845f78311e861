"""Child process: dump the legacy (libiptc) tables of this namespace as ``iptables-save -c`` text.

Run as ``python -m natsim.live._iptc_dump FAMILY`` (the parent enters the namespace first).  It
prints one line ``NATSIM-IPTC <json>`` with the table names the kernel lists and the dump text,
which the parent feeds to the file parser, so both readers share one option parser.

Read-only by construction:
* only tables the kernel already lists in ``/proc/net/ip{,6}_tables_names`` are opened: opening
  any other one makes the kernel instantiate it in this namespace (a write, see decision 0090);
* python-iptables' module autoload (``modprobe ip_tables``) is disabled before it is imported;
* tables are opened with ``autocommit=False`` and every libiptc call that changes a table is
  replaced by one that raises, so no code path can reach ``iptc_commit``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import socket
import sys
from typing import Any

MARKER = "NATSIM-IPTC "

_TABLE_ORDER = ("raw", "mangle", "nat", "filter", "security")
_STANDARD = frozenset({"ACCEPT", "DROP", "RETURN", "QUEUE"})
_MUTATORS = (
    "commit", "create_chain", "delete_chain", "rename_chain", "flush_entries", "zero_entries",
    "set_policy", "append_entry", "insert_entry", "replace_entry", "delete_entry", "flush",
)
#: libxtables' own names (xtables_chain_protos), used when /etc/protocols lacks a number.
_XT_PROTOS = {6: "tcp", 132: "sctp", 17: "udp", 136: "udplite", 1: "icmp", 58: "ipv6-icmp",
              50: "esp", 51: "ah", 135: "mh"}


def kernel_table_names(family: int) -> list[str]:
    """The legacy tables that exist in this namespace (empty when ip_tables is not even loaded)."""
    path = "/proc/net/ip_tables_names" if family == 4 else "/proc/net/ip6_tables_names"
    try:
        with open(path, encoding="ascii") as f:
            return [line.strip() for line in f if line.strip()]
    except FileNotFoundError:
        return []


def _import_iptc() -> Any:
    """Import python-iptables without letting it run modprobe, and with its writers disabled."""
    spec = importlib.util.find_spec("iptc")
    if spec is None:
        raise ImportError("python-iptables is not installed")
    if "iptc" not in sys.modules:
        pkg = importlib.util.module_from_spec(spec)  # the package, without running its __init__
        sys.modules["iptc"] = pkg
    # iptc.util prefers distutils.sysconfig, whose setuptools shim costs ~0.5 s to import; the
    # fallback it has (sysconfig) gives the same path.  None in sys.modules makes that import fail.
    sys.modules.setdefault("distutils.sysconfig", None)  # type: ignore[arg-type]
    util = importlib.import_module("iptc.util")
    util.load_kernel = lambda *a, **k: None  # type: ignore[attr-defined]
    ip4tc = importlib.import_module("iptc.ip4tc")
    ip6tc = importlib.import_module("iptc.ip6tc")

    def refuse(*_a: object, **_k: object) -> None:
        raise PermissionError("natsim's live reader is read-only")

    for cls in (ip4tc.Table, ip6tc.Table6):
        for name in _MUTATORS:
            if name in cls.__dict__ or hasattr(cls, name):
                setattr(cls, name, refuse)
    ip4tc.IPTCModule.__setattr__ = _fast_setattr
    return ip4tc, ip6tc


def _fast_setattr(self: Any, name: str, value: Any) -> None:
    """python-iptables' IPTCModule.__setattr__ with ``name in dir(self)`` done by dict lookups.

    ``dir()`` on every attribute store was two thirds of a 5,000-rule read; the lookups below
    are what ``dir`` consults (instance dict, then the class and its bases).
    """
    if not name.startswith("_") and name not in self.__dict__ and not any(
        name in k.__dict__ for k in type(self).__mro__
    ):
        self.parse(name.replace("_", "-"), value)
    else:
        object.__setattr__(self, name, value)


def _protocol_names() -> dict[int, str]:
    names = dict(_XT_PROTOS)
    try:
        with open("/etc/protocols", encoding="utf-8", errors="replace") as f:
            for line in f:
                words = line.split("#", 1)[0].split()
                if len(words) >= 2 and words[1].isdigit():
                    names[int(words[1])] = words[0]
    except OSError:
        pass
    return names


def _prefix(addr: str, mask: str, family: int) -> str:
    """``10.0.0.0``+``255.0.0.0`` -> ``10.0.0.0/8``; a non-contiguous mask stays dotted, as iptables-save prints it."""
    if family == 6:
        return f"{addr}/{mask}"
    bits = int.from_bytes(socket.inet_aton(mask), "big")
    length = bin(bits).count("1")
    if bits != ((0xFFFFFFFF << (32 - length)) & 0xFFFFFFFF):
        return f"{addr}/{mask}"
    return f"{addr}/{length}"


def _neg(value: str) -> tuple[bool, str]:
    return (True, value[1:]) if value.startswith("!") else (False, value)


def _address_words(flag: str, value: str, family: int) -> list[str]:
    negated, body = _neg(value)
    addr, _, mask = body.partition("/")
    any_mask = mask in ("0.0.0.0", "0", "::")
    if any_mask and not negated:
        return []
    text = _prefix(addr, mask, family) if family == 4 else f"{addr}/{mask}"
    return (["!"] if negated else []) + [flag, text]


def _saved(obj: Any, ip: Any) -> str:
    buf = obj._get_saved_buf(ip)  # the extension's own ->save() output, exactly as iptables-save prints it
    if not buf:
        return ""
    return buf.decode("utf-8", "surrogateescape").replace("\n", " ").rstrip()


def _rule_words(rule: Any, table: Any, family: int, protos: dict[int, str]) -> str:
    words: list[str] = []
    words += _address_words("-s", rule.src, family)
    words += _address_words("-d", rule.dst, family)
    for flag, iface in (("-i", rule.in_interface), ("-o", rule.out_interface)):
        if iface:
            negated, name = _neg(iface)
            words += (["!"] if negated else []) + [flag, name]
    ip = rule.get_ip()
    if family == 4:
        proto, inverted = ip.proto, bool(ip.invflags & 0x40)  # IPT_INV_PROTO
        has_proto = proto != 0 or inverted
    else:
        proto, inverted = ip.proto, bool(ip.invflags & 0x40)  # IP6T_INV_PROTO
        has_proto = bool(ip.flags & 0x01) or inverted  # IP6T_F_PROTO
    if has_proto:
        words += (["!"] if inverted else []) + ["-p", protos.get(proto, str(proto))]
    if family == 4 and ip.flags & 0x01:  # IPT_F_FRAG
        words += (["!"] if ip.invflags & 0x20 else []) + ["-f"]  # IPT_INV_FRAG
    text = " ".join(words)
    for match in rule.matches:
        text += f" -m {match.name}"
        saved = _saved(match, ip)
        if saved:
            text += " " + saved.lstrip()
    target = rule.target
    name = target.name if target is not None else ""
    if name:
        if name in _STANDARD:
            text += f" -j {name}"
        elif table.is_chain(name):
            text += f" {'-g' if target.goto else '-j'} {name}"
        else:
            text += f" -j {name}"
            saved = _saved(target, ip)
            if saved:
                text += " " + saved.lstrip()
    return text.strip()


def _open_only(table_cls: Any, present: list[str]) -> dict[str, Any]:
    """Open the listed tables (autocommit off) and make python-iptables believe no other exists.

    python-iptables probes every table name when it builds a rule's target
    (``Rule.tables`` -> ``is_table_available`` -> ``iptc_init``), which would instantiate
    absent tables; its availability cache is filled first, and opening any other name raises.
    """
    tables = {name: table_cls(name, autocommit=False) for name in present}
    for name in set(table_cls.ALL) | set(present):
        table_cls.existing_table_names[name] = name in present
    original_new = table_cls.__new__

    def guarded_new(cls: Any, name: str, autocommit: Any = None) -> Any:
        if name not in present:
            raise PermissionError(f"natsim will not open table {name!r}: the kernel does not list it")
        return original_new(cls, name, False)

    table_cls.__new__ = guarded_new
    return tables


def dump(family: int) -> dict[str, Any]:
    present = kernel_table_names(family)
    if not present:
        return {"tables": [], "text": ""}
    ip4tc, ip6tc = _import_iptc()
    table_cls = ip4tc.Table if family == 4 else ip6tc.Table6
    tables = _open_only(table_cls, present)
    protos = _protocol_names()
    out: list[str] = []
    for name in sorted(present, key=lambda n: (_TABLE_ORDER + (n,)).index(n)):
        table = tables[name]
        out.append(f"*{name}")
        rules: list[str] = []
        for chain in table.chains:
            if chain.is_builtin():
                policy = chain.get_policy().name
                pk, by = chain.get_counters()
            else:
                policy, pk, by = "-", 0, 0
            out.append(f":{chain.name} {policy} [{pk}:{by}]")
            for rule in chain.rules:
                pk, by = rule.get_counters()
                body = _rule_words(rule, table, family, protos)
                rules.append(f"[{pk}:{by}] -A {chain.name}" + (f" {body}" if body else ""))
        out.extend(rules)
        out.append("COMMIT")
        # Not closed: python-iptables caches chains per name across tables, and a closed handle
        # behind such a cached chain crashes libiptc.  The child exits right after, freeing all.
    return {"tables": present, "text": "\n".join(out) + "\n"}


def main(argv: list[str]) -> int:
    family = int(argv[0]) if argv else 4
    try:
        result = dump(family)
    except Exception as err:  # reported by the parent as one sentence
        result = {"error": f"{type(err).__name__}: {err}"}
    sys.stdout.flush()
    sys.stdout.write(MARKER + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
