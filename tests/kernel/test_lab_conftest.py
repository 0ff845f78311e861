"""The kernel marker's skip logic (tests/conftest.py) names what is missing."""

from __future__ import annotations

import os
import shutil

from tests import conftest


def reason() -> str | None:
    return conftest.kernel_unavailable.__wrapped__()


def test_not_root_is_a_skip_reason(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert "root" in reason()


def test_a_missing_tool_is_named(monkeypatch):
    real = shutil.which
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(shutil, "which", lambda name: None if name == "iptables-nft-restore" else real(name))
    assert "iptables-nft-restore" in reason()
