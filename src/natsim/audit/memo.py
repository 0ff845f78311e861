"""Results computed once per immutable object (a ruleset, a chain), held by the object's identity.

Rulesets and chains are frozen, so anything derived from one stays valid as long as the
object lives; the cache keeps the object itself next to the value, so a recycled ``id``
never returns a stale answer.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any, TypeVar

V = TypeVar("V")

_CACHE: dict[tuple[Hashable, ...], tuple[Any, Any]] = {}
LIMIT = 4096


def per_object(kind: str, obj: object, make: Callable[[], V], *key: Hashable) -> V:
    """``make()`` for (``kind``, ``obj``, ``key``), computed once while ``obj`` is alive."""
    k = (kind, id(obj), *key)
    hit = _CACHE.get(k)
    if hit is not None and hit[0] is obj:
        return hit[1]
    if len(_CACHE) > LIMIT:
        _CACHE.clear()
    value = make()
    _CACHE[k] = (obj, value)
    return value
