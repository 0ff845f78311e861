"""Fast positional constructors for the frozen, slotted model classes the parser makes by the thousand.

A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__`` (it must
bypass its own refusing ``__setattr__``), which costs about 0.3 µs per field: building a
11-field :class:`natsim.model.ruleset.Rule` takes longer than everything else the parser
does for a typical line.  :func:`fast_new` instead fills an unfrozen twin class with the
same slots (plain attribute stores) and then sets ``__class__`` to the model class, which
CPython allows for identical layouts.  The result *is* an instance of the model class, equal
and hash-equal to one built by its constructor; a self-check at creation falls back to the
constructor where this is not possible (e.g. another Python implementation).
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import Any, TypeVar

C = TypeVar("C")


def _twin(cls: type) -> type:
    """An unfrozen class with ``cls``'s bases and slots (the same memory layout)."""
    slots = cls.__dict__["__slots__"]
    return types.new_class(f"_{cls.__name__}Fill", getattr(cls, "__orig_bases__", cls.__bases__), {},
                           lambda ns: ns.update(__slots__=slots, __module__=cls.__module__))


def _source(names: list[str]) -> str:
    params = ", ".join(names)
    stores = "".join(f"    o.{n} = {n}\n" for n in names)
    return f"def new({params}):\n    o = twin()\n{stores}    o.__class__ = cls\n    return o\n"


def fast_new(cls: type[C]) -> Callable[..., C]:
    """``new(*fields)`` == ``cls(*fields)`` for a frozen slotted dataclass whose fields are
    all positional ``__init__`` parameters (no ``__post_init__``); else ``cls`` itself."""
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    names = [f.name for f in fields]
    if (hasattr(cls, "__post_init__") or any(not f.init for f in fields)
            or tuple(cls.__dict__.get("__slots__", ())) != tuple(names)):
        return cls
    namespace: dict[str, Any] = {"twin": _twin(cls), "cls": cls}
    exec(_source(names), namespace)  # noqa: S102 - generated from field names only, like dataclasses
    new = namespace["new"]
    try:
        probe = tuple(object() for _ in names)
        made, reference = new(*probe), cls(*probe)
    except TypeError:  # __class__ assignment refused: layouts differ on this interpreter
        return cls
    if type(made) is not cls or any(getattr(made, n) is not getattr(reference, n) for n in names):
        return cls  # pragma: no cover - defensive
    return new
