"""Three-valued logic for facts natsim may not know.

A match result is ``True``, ``False`` or an :class:`Unknown` that says what the
answer depends on (an unknown module, a missing ipset, a sysctl nobody told us).
Unknowns propagate: a verdict that depends on one is *unknown*, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from natsim.model.construct import fast_init


@fast_init
@dataclass(frozen=True, slots=True)
class Unknown:
    reason: str  # one sentence: "ipset docker-ext-bridges-v4 is not in the snapshot"

    def __bool__(self) -> bool:  # guard against silently treating unknown as false
        raise TypeError(f"truth value of Unknown({self.reason!r}) is undefined")


Tri = Union[bool, Unknown]


def tri_not(value: Tri) -> Tri:
    return value if isinstance(value, Unknown) else not value


def tri_and(*values: Tri) -> Tri:
    """False wins over Unknown, Unknown over True (so a rule that fails for sure on a known match is False)."""
    unknown: Unknown | None = None
    for v in values:
        if v is False:
            return False
        if isinstance(v, Unknown) and unknown is None:
            unknown = v
    return unknown if unknown is not None else True


def negate_if(value: Tri, negated: bool) -> Tri:
    return tri_not(value) if negated else value
