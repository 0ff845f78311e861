"""Shared pytest configuration: make ``tests.lab`` importable and skip kernel tests that cannot run.

A ``@pytest.mark.kernel`` test needs root, network namespaces (``ip netns``) and both iptables
backends (the lab loads rules with iptables-legacy-restore or iptables-nft-restore); when one is
missing it is skipped with the reason, never failed.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # so that `from tests.lab import ...` works from any test folder

KERNEL_TOOLS = ("ip", "iptables-legacy-restore", "iptables-nft-restore", "ip6tables-legacy-restore",
                "ip6tables-nft-restore", "ipset")


@functools.cache
def kernel_unavailable() -> str | None:
    """Why kernel tests cannot run here, or None when they can."""
    if os.geteuid() != 0:
        return "kernel tests need root (network namespaces, iptables)"
    missing = [t for t in KERNEL_TOOLS if shutil.which(t) is None]
    if missing:
        return f"kernel tests need {', '.join(missing)} (apt-get install iproute2 iptables ipset)"
    try:
        p = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as e:
        return f"kernel tests need `ip netns`: {e}"
    if p.returncode != 0:
        return f"kernel tests need `ip netns`: {p.stderr.strip()}"
    if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        return "kernel tests need br_netfilter (modprobe br_netfilter)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = None
    for item in items:
        if item.get_closest_marker("kernel") is not None:
            reason = reason or kernel_unavailable()
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
