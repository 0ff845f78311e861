"""Helpers the property suites share."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator


@contextlib.contextmanager
def scratch_netns(prefix: str) -> Iterator[str]:
    """A fresh network namespace named ``PREFIX-PID-RANDOM``, deleted on exit even when the test fails."""
    name = f"{prefix}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True, timeout=10)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=10)
