"""Live mode: read the running kernel's rules, ipsets and topology, read-only by construction.

Readers only run the ``*-save`` tools and natsim's own libiptc dumper (see
:mod:`natsim.live.process`); none of them can write a rule, a counter or a sysctl.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load_live", "read_live_rules"]


def __getattr__(name: str) -> Any:  # lazy: importing natsim.live must not need the parser yet
    if name == "load_live":
        from natsim.live.inputs import load_live

        return load_live
    if name == "read_live_rules":
        from natsim.live.rules import read_live_rules

        return read_live_rules
    raise AttributeError(name)
