"""Pausing Python's cyclic garbage collector while natsim builds or walks acyclic data.

The model, a simulation's packets and steps, and a matrix's entries hold no reference cycles,
so reference counting frees all their garbage; the cyclic collector would only traverse the
big live rulesets again and again.  Pausing it is a speed measure, never a semantic one.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Disable the cyclic collector inside the block; restore it as it was (nesting is fine)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
