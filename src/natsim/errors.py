"""Errors natsim reports to users: located, one sentence, never a traceback."""

from __future__ import annotations

from dataclasses import dataclass


class NatsimError(Exception):
    """Base of every error that the command line turns into a message and exit status 2."""

    exit_code = 2

    def render(self) -> str:
        return str(self)


@dataclass
class InputError(NatsimError):
    """Bad input at a known place: FILE:LINE:COL: what was found; what was expected."""

    file: str
    line: int
    column: int
    found: str
    expected: str
    source_line: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.render())

    def __str__(self) -> str:  # dataclass would otherwise replace Exception.__str__
        return self.render()

    def headline(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.found}; {self.expected}"

    def render(self) -> str:
        out = self.headline()
        if self.source_line is not None:
            caret = " " * max(self.column - 1, 0) + "^"
            out += f"\n    {self.source_line}\n    {caret}"
        return out


class UsageError(NatsimError):
    """The command line itself is wrong (bad endpoint, missing file)."""


class EnvironmentProblem(NatsimError):
    """Something the host lacks: root, iptables tools, a namespace."""
