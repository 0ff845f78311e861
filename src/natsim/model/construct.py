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


_MISSING = object()


def fast_init(cls: type[C]) -> type[C]:
    """Class decorator: give a frozen dataclass a faster ``__init__`` with the same signature.

    For a slotted class the new ``__init__`` turns the instance into its unfrozen twin for the
    duration of the stores (one ``object.__setattr__`` instead of one per field); for a class
    with a ``__dict__`` it fills the dict in one update.  Defaults, default factories and
    ``__post_init__`` behave as dataclasses' own.  The engine builds these values tens of
    times per simulated packet, so this is most of the gain of a large matrix.  A self-check
    keeps the dataclass's own ``__init__`` where the result would differ.
    """
    fields = [f for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    if any(not f.init or f.kw_only for f in fields):
        return cls
    slots = cls.__dict__.get("__slots__")
    if slots is not None and tuple(slots) != tuple(f.name for f in fields):
        return cls
    namespace: dict[str, Any] = {"_set": object.__setattr__, "cls": cls, "_MISSING": _MISSING}
    params, body = [], []
    for i, f in enumerate(fields):
        if f.default is not dataclasses.MISSING:
            namespace[f"_d{i}"] = f.default
            params.append(f"{f.name}=_d{i}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_f{i}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            body.append(f"    if {f.name} is _MISSING:\n        {f.name} = _f{i}()\n")
        else:
            params.append(f.name)
    if slots is not None:
        namespace["twin"] = _twin(cls)
        body.append("    _set(self, '__class__', twin)\n")
        body.extend(f"    self.{f.name} = {f.name}\n" for f in fields)
        body.append("    self.__class__ = cls\n")
    else:
        items = ", ".join(f"{f.name!r}: {f.name}" for f in fields)
        body.append(f"    self.__dict__.update({{{items}}})\n")
    if hasattr(cls, "__post_init__"):
        body.append("    self.__post_init__()\n")
    src = f"def __init__(self, {', '.join(params)}):\n{''.join(body)}"
    exec(src, namespace)  # noqa: S102 - generated from field names only, like dataclasses
    original = cls.__init__  # type: ignore[misc]
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    init.__doc__ = original.__doc__
    probe = [object() for f in fields]
    try:
        made = object.__new__(cls)
        init(made, *probe)
    except TypeError:  # __class__ assignment refused: layouts differ on this interpreter
        return cls
    if type(made) is not cls or any(getattr(made, f.name) is not p for f, p in zip(fields, probe)):
        return cls  # pragma: no cover - defensive
    cls.__init__ = init  # type: ignore[misc]
    return cls
