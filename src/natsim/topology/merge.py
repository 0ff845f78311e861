"""Combine topologies from several sources; where two sources disagree, say so.

``merge(a, b, ...)``: later sources take precedence (a TOML what-if overrides a snapshot,
as the command line lists them), a fact one source leaves unknown is taken from another,
and every disagreement becomes a :class:`Conflict` holding both values and provenances.
Facts are matched by name (namespaces, interfaces, networks, containers), and also by
bridge name or subnet (networks) and by address (containers), because inferred facts
have no Docker names.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, TypeVar

from natsim.topology.model import (
    Conflict,
    Container,
    DockerNetwork,
    Endpoint,
    Link,
    Provenance,
    Sysctl,
    Topology,
    UNKNOWN_SOURCE,
    fact_fields,
    source_of,
)

F = TypeVar("F")

# fields whose values are merged element by element rather than compared whole
_NESTED = {"endpoints", "links", "sysctls"}


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    return str(value)


def merge_fact(old: F, new: F, label: str, conflicts: list[Conflict]) -> F:
    """``new`` over ``old`` field by field: unknown fields are filled, differing ones reported.

    Each field keeps the provenance of the value it ends with; a value that a read source
    confirms is credited to that source rather than to an inference or assumption.
    """
    changes: dict[str, Any] = {}
    final: dict[str, Provenance] = {}
    for name in fact_fields(type(old)):
        a, b = getattr(old, name), getattr(new, name)
        pa, pb = source_of(old, name), source_of(new, name)
        if name in _NESTED and a is not None and b is not None:
            merged = _NESTED_MERGE[name](a, b, label, conflicts)
            if merged != a:
                changes[name] = merged
            final[name] = pb if pa.is_assumption and not pb.is_assumption else pa
            continue
        if b is None:
            if a is not None:
                final[name] = pa
            continue
        if a is not None and a == b:
            final[name] = pb if pa.is_assumption and not pb.is_assumption else pa
            continue
        if a is not None and not _same(a, b) and pa.how != "assumed" and not _refines(a, pa, b, pb):
            conflicts.append(Conflict(f"{label}: {name.replace('_', ' ')}", _show(a), pa, _show(b), pb, kept="b"))
        changes[name] = b
        final[name] = pb
    if not hasattr(old, "field_sources"):
        return replace(old, **changes) if changes else old  # type: ignore[type-var]
    base, new_base = source_of(old), source_of(new)
    if base.is_assumption and not new_base.is_assumption and new_base != UNKNOWN_SOURCE:
        base = new_base
    sources = tuple((k, p) for k, p in final.items() if p != base)
    if not changes and base == source_of(old) and sources == tuple(getattr(old, "field_sources", ())):
        return old
    return replace(old, **changes, provenance=base, field_sources=sources)  # type: ignore[type-var]


def _same(a: object, b: object) -> bool:
    """Values that differ only in ways no source can tell apart (order of a tuple of addresses)."""
    if isinstance(a, tuple) and isinstance(b, tuple):
        try:
            return set(a) == set(b) and len(a) == len(b)
        except TypeError:
            return False
    return False


def _refines(a: object, pa: Provenance, b: object, pb: Provenance) -> bool:
    """A read list that holds every inferred element only adds what the inference could not see.

    E.g. the subnets inferred from IPv4 rules alone, then read (IPv4 and IPv6) from a TOML:
    the read value completes the inference rather than contradicting it.
    """
    if pa.how != "inferred" or pb.is_assumption or not (isinstance(a, tuple) and isinstance(b, tuple)):
        return False
    try:
        return set(a) <= set(b)
    except TypeError:
        return False


def _by_key(old: tuple[F, ...], new: tuple[F, ...], key: Callable[[F], object], label: Callable[[F], str],
            conflicts: list[Conflict]) -> tuple[F, ...]:
    out: dict[object, F] = {key(x): x for x in old}
    for item in new:
        k = key(item)
        out[k] = merge_fact(out[k], item, label(item), conflicts) if k in out else item
    return tuple(out.values())


def _merge_links(old: tuple[Link, ...], new: tuple[Link, ...], label: str, conflicts: list[Conflict]) -> tuple[Link, ...]:
    return _by_key(old, new, lambda l: l.name, lambda l: f"{label} interface {l.name}", conflicts)


def _merge_endpoints(old: tuple[Endpoint, ...], new: tuple[Endpoint, ...], label: str,
                     conflicts: list[Conflict]) -> tuple[Endpoint, ...]:
    return _by_key(old, new, lambda e: e.network, lambda e: f"{label} on network {e.network}", conflicts)


def _merge_sysctls(old: tuple[Sysctl, ...], new: tuple[Sysctl, ...], label: str,
                   conflicts: list[Conflict]) -> tuple[Sysctl, ...]:
    out: dict[str, Sysctl] = {s.key: s for s in old}
    for s in new:
        prev = out.get(s.key)
        if prev is not None and prev.value != s.value:
            conflicts.append(Conflict(f"{label}: sysctl {s.key}", prev.value, prev.provenance, s.value, s.provenance,
                                      kept="b"))
        out[s.key] = s
    return tuple(out.values())


_NESTED_MERGE: dict[str, Callable[..., Any]] = {
    "links": _merge_links, "endpoints": _merge_endpoints, "sysctls": _merge_sysctls,
}


def _find_network(nets: list[DockerNetwork], n: DockerNetwork) -> int | None:
    for i, m in enumerate(nets):
        if m.name == n.name or (m.id is not None and m.id == n.id):
            return i
    for i, m in enumerate(nets):
        if m.bridge is not None and m.bridge == n.bridge:
            return i
    for i, m in enumerate(nets):
        if set(m.subnets or ()) & set(n.subnets or ()):
            return i
    return None


def _find_container(cs: list[Container], c: Container) -> int | None:
    for i, m in enumerate(cs):
        if m.name == c.name or (m.id is not None and c.id is not None and (m.id.startswith(c.id) or c.id.startswith(m.id))):
            return i
    addrs = set(c.addresses())
    for i, m in enumerate(cs):
        if addrs and addrs & set(m.addresses()):
            return i
    return None


def _merge_named(olds: tuple[F, ...] | None, news: tuple[F, ...] | None, find: Callable[[list[F], F], int | None],
                 label: Callable[[F], str], conflicts: list[Conflict]) -> tuple[F, ...] | None:
    if news is None:
        return olds
    if olds is None:
        return news
    out = list(olds)
    for item in news:
        i = find(out, item)
        if i is None:
            out.append(item)
        else:
            out[i] = merge_fact(out[i], item, label(item), conflicts)
    return tuple(out)


def _merge_container(old: Container, new: Container, conflicts: list[Conflict]) -> Container:
    """Containers matched by address keep the known (non-inferred) name."""
    if old.name != new.name and source_of(new, "name").is_assumption:
        new = replace(new, name=old.name)
    elif old.name != new.name and source_of(old, "name").is_assumption:
        old = replace(old, name=new.name)
    return merge_fact(old, new, f"container {old.name}", conflicts)


def merge(*topologies: Topology) -> Topology:
    """Merge topologies; later ones take precedence, every disagreement is kept as a Conflict."""
    if not topologies:
        return Topology()
    result = topologies[0]
    for nxt in topologies[1:]:
        result = merge_two(result, nxt)
    return result


def merge_two(old: Topology, new: Topology) -> Topology:
    conflicts: list[Conflict] = list(old.conflicts) + list(new.conflicts)
    namespaces = _merge_named(old.namespaces, new.namespaces,
                              lambda ns, n: next((i for i, m in enumerate(ns) if m.name == n.name), None),
                              lambda n: f"namespace {n.name}", conflicts) or ()
    networks = _merge_named(old.networks, new.networks, _find_network, lambda n: f"network {n.name}", conflicts)
    containers: tuple[Container, ...] | None
    if old.containers is None or new.containers is None:
        containers = old.containers if new.containers is None else new.containers
    else:
        cs = list(old.containers)
        for c in new.containers:
            i = _find_container(cs, c)
            if i is None:
                cs.append(c)
            else:
                cs[i] = _merge_container(cs[i], c, conflicts)
        containers = tuple(cs)
    daemon = merge_fact(old.daemon, new.daemon, "docker daemon", conflicts)
    if old.daemon.provenance == UNKNOWN_SOURCE:
        daemon = replace(daemon, provenance=new.daemon.provenance)
    host = new.host if new.namespace(new.host) is not None else old.host
    missing = tuple(dict.fromkeys(old.missing + new.missing))
    if containers is not None:
        missing = tuple(m for m in missing if not m.startswith("docker-inspect.json"))
    if networks is not None:
        missing = tuple(m for m in missing if not m.startswith("docker-network-inspect.json"))
    return Topology(
        namespaces=tuple(namespaces), networks=networks, containers=containers, daemon=daemon,
        conflicts=tuple(dict.fromkeys(conflicts)), findings=tuple(dict.fromkeys(old.findings + new.findings)),
        missing=missing, host=host,
    )


__all__ = ["merge", "merge_two", "merge_fact"]
