"""The live rule dumps, as ``iptables-save -c`` text, from each backend and each reader.

Three readers, one text format, so the model always comes from the file parser:
* ``python-iptables``: libiptc through python-iptables, for the legacy backend (a child process);
* ``iptables-legacy-save``: the legacy tool, a cross-check and a fallback for the above;
* ``iptables-nft-save``: the nf_tables backend, which libiptc cannot see.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Literal

from natsim.errors import EnvironmentProblem
from natsim.live import _iptc_dump
from natsim.live.process import run_python_module, run_tool, tool_available

Backend = Literal["legacy", "nft"]
Reader = Literal["python-iptables", "iptables-legacy-save", "iptables-nft-save"]

READERS: dict[Backend, tuple[Reader, ...]] = {
    "legacy": ("python-iptables", "iptables-legacy-save"),
    "nft": ("iptables-nft-save",),
}


@dataclass(frozen=True, slots=True)
class Dump:
    """One family's rules as one backend holds them, read by one reader."""

    backend: Backend
    family: int
    reader: Reader
    text: str  # iptables-save -c text ("" when the backend holds no table)
    warnings: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return f"live:{self.backend}:ip{'6' if self.family == 6 else ''}tables"


def _save_tool(backend: Backend, family: int) -> str:
    prefix = "ip6tables" if family == 6 else "iptables"
    return f"{prefix}-{backend}-save"


def _xtables_libdir() -> str | None:
    """The extensions directory next to libxtables, so python-iptables need not run ldconfig."""
    if os.environ.get("XTABLES_LIBDIR"):
        return os.environ["XTABLES_LIBDIR"]
    for base in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib",
                 "/lib/x86_64-linux-gnu", "/lib64", "/lib"):
        path = os.path.join(base, "xtables")
        if os.path.isdir(path):
            return path
    return None


def read_with_save(backend: Backend, family: int, netns: str | None) -> Dump:
    """Run ``ip[6]tables-{legacy,nft}-save -c``; its warnings (other backend present) are kept."""
    tool = _save_tool(backend, family)
    out = run_tool(tool, netns)
    warnings = tuple(
        line.lstrip("# ").strip() for line in out.stderr.splitlines() if line.strip()
    )
    if out.returncode != 0:
        raise EnvironmentProblem(
            f"natsim: {tool} failed (exit {out.returncode}): {' '.join(warnings) or 'no message'}."
        )
    incompatible = [line for line in out.stdout.splitlines() if "is incompatible" in line]
    if incompatible:
        raise EnvironmentProblem(
            f"natsim: {tool} cannot show a table written by nft directly: {incompatible[0].lstrip('# ')}."
        )
    reader: Reader = "iptables-nft-save" if backend == "nft" else "iptables-legacy-save"
    return Dump(backend, family, reader, out.stdout, warnings)


def read_with_iptc(family: int, netns: str | None) -> Dump:
    """Read the legacy tables through python-iptables (libiptc) in a child process."""
    env: dict[str, str] = {}
    libdir = _xtables_libdir()
    if libdir:
        env["XTABLES_LIBDIR"] = libdir
    out = run_python_module("natsim.live._iptc_dump", (str(family),), netns, env)
    payload = None
    for line in out.stdout.splitlines():
        if line.startswith(_iptc_dump.MARKER):
            payload = json.loads(line[len(_iptc_dump.MARKER):])
    if payload is None:
        tail = out.stderr.strip().splitlines()[-1:] or ["no output"]
        raise EnvironmentProblem(f"natsim: the python-iptables reader failed: {tail[0]}.")
    if "error" in payload:
        raise EnvironmentProblem(f"natsim: the python-iptables reader failed: {payload['error']}.")
    return Dump("legacy", family, "python-iptables", payload["text"])


def read_dump(backend: Backend, family: int, netns: str | None, reader: Reader | None = None) -> Dump:
    """Read one backend's tables for one family with the given (or the default) reader."""
    reader = reader or READERS[backend][0]
    if reader not in READERS[backend]:
        raise EnvironmentProblem(f"natsim: the {reader} reader cannot read the {backend} backend.")
    if reader == "python-iptables":
        try:
            return read_with_iptc(family, netns)
        except EnvironmentProblem as err:
            if not tool_available(_save_tool("legacy", family)):
                raise
            fallback = read_with_save("legacy", family, netns)
            note = f"{err} Read with {fallback.reader} instead."
            return Dump("legacy", family, fallback.reader, fallback.text, (*fallback.warnings, note))
    return read_with_save(backend, family, netns)
