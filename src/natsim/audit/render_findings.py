"""Audit findings as text (terminal), JSON (scripts) and SARIF 2.1.0 (code-scanning UIs)."""

from __future__ import annotations

import json
from collections import Counter
from urllib.parse import quote
from typing import Any

from natsim import __version__ as NATSIM_VERSION
from natsim.audit.findings import CHECKS, Finding, Severity

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

#: SARIF has three result levels; natsim's five severities map onto them.
_SARIF_LEVEL = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}


def _ordered(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=Finding.sort_key)


def findings_text(findings: list[Finding], source: str) -> str:
    """One block per finding, worst first, then a count per severity."""
    out: list[str] = []
    for f in _ordered(findings):
        out.append(f"[{f.severity.label.upper()}] {f.title}  ({f.check})")
        for c in f.rules:
            role = f" {c.role}:" if c.role else ""
            out.append(f"    {c.where()}{role} {c.text}")
        out.append(f"    why: {f.why}")
        for d in f.details:
            out.append(f"    - {d}")
        out.append(f"    fix: {f.fix}")
        out.append("")
    counts = Counter(f.severity for f in findings)
    summary = ", ".join(f"{counts[s]} {s.label}" for s in sorted(counts, reverse=True)) or "no findings"
    out.append(f"{source}: {summary}")
    return "\n".join(out) + "\n"


def findings_json(findings: list[Finding], source: str) -> str:
    doc = {
        "source": source,
        "findings": [f.as_json() for f in _ordered(findings)],
        "counts": {s.label: sum(1 for f in findings if f.severity == s) for s in Severity},
    }
    return json.dumps(doc, indent=2) + "\n"


def _uri(path: str) -> str:
    """A file name as a SARIF relative URI reference (spaces and the like percent-encoded).

    ``:`` is encoded too: ``host:1.rules`` would otherwise read as a URI with scheme ``host``, and
    ``save 10:00.rules`` is no URI reference at all (RFC 3986: no colon in a relative path's first segment).
    """
    return quote(path, safe="/._-~")


def _location(c: Any) -> dict[str, Any]:
    physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(c.file)}}
    if c.line:
        physical["region"] = {"startLine": c.line, "snippet": {"text": c.text}}
    loc: dict[str, Any] = {"physicalLocation": physical}
    if c.table:
        loc["logicalLocations"] = [{"name": f"{c.table}/{c.chain}", "kind": "module"}]
    return loc


def findings_sarif(findings: list[Finding], source: str) -> str:
    """SARIF 2.1.0: one run, one reporting descriptor per check, one result per finding."""
    checks: dict[str, Finding] = {}
    for f in findings:
        checks.setdefault(f.check, f)
    rule_ids = sorted(checks)
    results = []
    for f in _ordered(findings):
        located = [c for c in f.rules if c.file]
        result: dict[str, Any] = {
            "ruleId": f.check,
            "ruleIndex": rule_ids.index(f.check),
            "level": _SARIF_LEVEL[f.severity],
            "message": {"text": f"{f.title}. {f.why} Fix: {f.fix}"},
            "locations": [_location(c) for c in located[:1]] or [
                {"physicalLocation": {"artifactLocation": {"uri": _uri(source)}}}
            ],
            "properties": {"severity": f.severity.label},
        }
        if len(located) > 1:
            result["relatedLocations"] = [
                dict(_location(c), id=i, message={"text": c.role or "related rule"})
                for i, c in enumerate(located[1:], start=1)
            ]
        results.append(result)
    doc = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "natsim",
                        "version": NATSIM_VERSION,
                        "informationUri": "https://example.invalid/natsim",
                        "rules": [
                            {
                                "id": rid,
                                "name": rid,
                                "shortDescription": {"text": CHECKS.get(rid, checks[rid].title)},
                                "defaultConfiguration": {"level": _SARIF_LEVEL[checks[rid].severity]},
                            }
                            for rid in rule_ids
                        ],
                    }
                },
                "artifacts": sorted(
                    ({"location": {"uri": _uri(u)}} for u in {c.file for f in findings for c in f.rules if c.file}),
                    key=lambda a: a["location"]["uri"],
                ),
                "results": results,
            }
        ],
    }
    return json.dumps(doc, indent=2) + "\n"


RENDERERS = {"text": findings_text, "json": findings_json, "sarif": findings_sarif}
