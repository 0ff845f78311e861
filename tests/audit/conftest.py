"""Shared helpers for the audit tests: corpus paths and rules parsed from text."""

from __future__ import annotations

from pathlib import Path

import pytest

from natsim.parse import parse_text

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "fixtures" / "corpus"


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.is_file() and p.suffix in (".rules", ".txt"))


def corpus(name: str) -> Path:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"fixture {name} is not in fixtures/corpus")
    return path


def ruleset_of(text: str, name: str = "test.rules"):
    parsed = parse_text(text, name, lenient=True)
    return getattr(parsed, "ruleset", parsed)
