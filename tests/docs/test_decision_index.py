"""The decision records' index lists every record, under its own number and title."""

from __future__ import annotations

import re
from pathlib import Path

DECISIONS = Path(__file__).resolve().parents[2] / "docs" / "decisions"


def test_every_record_is_in_the_index() -> None:
    index = (DECISIONS / "README.md").read_text()
    listed = re.findall(r"^\| \[(\d{4})\]\(([^)]+)\) \| (.+) \|$", index, flags=re.M)
    records = sorted(p.name for p in DECISIONS.glob("[0-9][0-9][0-9][0-9]-*.md"))
    assert [name for _, name, _ in listed] == records
    for number, name, _title in listed:
        assert name.startswith(number + "-")
    assert len({n for n, _, _ in listed}) == len(listed), "two records share a number"
