"""Branching on facts natsim does not know, and on ``-m statistic``.

The walk is deterministic once every open question has an answer, so the simulator
explores branches by re-running it: a :class:`Decider` answers each question from an
assignment, takes the first option for a new one and queues the others.  Questions
are keyed by the fact they ask about (``ipset X contains Y``), so one fact gets one
answer in every hook and leg of a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Option:
    value: Any
    condition: str  # what this branch assumes, one sentence
    probability: float | None = None  # set for -m statistic branches


@dataclass(frozen=True, slots=True)
class Taken:
    key: str
    index: int
    option: Option
    unknown: bool  # a missing fact (not a statistic draw)


class Decider:
    def __init__(self, assigned: dict[str, int] | None = None) -> None:
        self.assigned: dict[str, int] = dict(assigned or {})
        self.pending: list[dict[str, int]] = []
        self.taken: list[Taken] = []
        self._seen: set[str] = set()

    def decide(self, key: str, options: tuple[Option, ...], unknown: bool = True) -> Any:
        if key not in self.assigned:
            for i in range(1, len(options)):
                self.pending.append({**self.assigned, key: i})
            self.assigned[key] = 0
        idx = self.assigned[key]
        if key not in self._seen:
            self._seen.add(key)
            self.taken.append(Taken(key, idx, options[idx], unknown))
        return options[idx].value

    def probability(self) -> float:
        p = 1.0
        for t in self.taken:
            if t.option.probability is not None:
                p *= t.option.probability
        return p
