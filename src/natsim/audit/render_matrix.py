"""The exposure matrix as a terminal table, JSON, a self-contained HTML page, or an SVG grid.

Rows are destination services, columns are source zones (there are usually fewer zones
than services, so the table stays narrow).  Colours: reachable red (exposed), blocked
green, partial orange, unknown grey.  HTML and SVG carry the deciding rule of each cell
in its tooltip (``title``).
"""

from __future__ import annotations

import html
import json

from natsim.audit.matrix import Cell, Matrix

SYMBOL = {"reachable": "OPEN", "blocked": "-", "partial": "PART", "unknown": "?", None: ""}
COLOUR = {"reachable": "#d9534f", "blocked": "#5cb85c", "partial": "#f0ad4e", "unknown": "#9e9e9e", None: "#ffffff"}
LEGEND = "OPEN reachable   - blocked   PART reachable from some source classes only   ? unknown"


def _cell(m: Matrix, zone: str, service: str) -> Cell | None:
    return m.cells.get((zone, service))


def matrix_table(m: Matrix) -> str:
    zones = [z.key for z in m.zones]
    heads = ["service"] + [z.label for z in m.zones]
    rows = []
    for s in m.services:
        row = [s.key]
        for z in zones:
            c = _cell(m, z, s.key)
            row.append(SYMBOL[c.verdict if c else None])
        rows.append(row)
    widths = [max(len(r[i]) for r in [heads, *rows]) for i in range(len(heads))]
    line = lambda r: "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    out = [line(heads), line(["-" * w for w in widths])]
    out.extend(line(r) for r in rows)
    out.append("")
    out.append(LEGEND)
    # the host reaching its own ports over lo is the expected case; list it only when in doubt
    details = [
        c for c in m.cells.values()
        if c.verdict in ("partial", "unknown") or (c.verdict == "reachable" and c.zone.kind != "host")
    ]
    if details:
        out.append("")
        out.append("Open and uncertain cells:")
        for c in sorted(details, key=lambda c: (c.service.key, c.zone.key)):
            out.append(f"  {c.zone.label} -> {c.service.key}: {c.verdict}")
            groups: dict[tuple, list[str]] = {}
            whys: dict[tuple, str] = {}
            for e in c.entries:
                extra = []
                if e.nat:
                    extra.append("; ".join(e.nat).replace(str(e.flow.source_address), "SRC")
                                 if e.flow.source_address else "; ".join(e.nat))
                if e.via_proxy:
                    extra.append("via docker-proxy")
                if e.deciding is not None:
                    extra.append(f"rule {e.deciding.where()}")
                key = (e.verdict, str(e.flow.destination), ", ".join(extra))
                groups.setdefault(key, []).append(e.source_class or "")
                if e.verdict == "unknown" and e.reason:
                    whys.setdefault(key, e.reason)
            for key, classes in groups.items():
                verdict, dest, extra = key
                named = [k for k in classes if k and k != "any"]
                src = ""
                if named:
                    src = f" from {named[0]}" if len(named) == 1 else f" from {len(named)} source classes"
                tail = f" ({extra})" if extra else ""
                out.append(f"      {verdict}{src} to {dest}{tail}")
                if key in whys:  # an unknown answer says why (what natsim would need to know)
                    out.append(f"        why: {whys[key]}")
    if m.assumptions:
        out.append("")
        out.append("assumptions:")
        out.extend(f"  - {a}" for a in m.assumptions)
    counts = ", ".join(f"{n} {v}" for v, n in sorted(m.counts().items()))
    out.append("")
    out.append(f"{m.source}: {len(m.zones)} zones x {len(m.services)} services; {counts or 'no cells'}")
    return "\n".join(out) + "\n"


def matrix_json(m: Matrix) -> str:
    doc = {
        "source": m.source,
        "zones": [{"key": z.key, "kind": z.kind} for z in m.zones],
        "services": [
            {
                "key": s.key, "kind": s.kind, "family": s.family,
                "rule": {"file": s.rule.rule.location.file, "line": s.rule.rule.location.line} if s.rule else None,
            }
            for s in m.services
        ],
        "cells": [
            {"zone": c.zone.key, "service": c.service.key, "verdict": c.verdict, "entries": [e.as_json() for e in c.entries]}
            for c in m.cells.values()
        ],
        "counts": m.counts(),
        "assumptions": list(m.assumptions),
    }
    return json.dumps(doc, indent=2) + "\n"


def matrix_html(m: Matrix) -> str:
    esc = html.escape
    head = "".join(f"<th>{esc(z.label)}</th>" for z in m.zones)
    rows = []
    for s in m.services:
        tds = []
        for z in m.zones:
            c = _cell(m, z.key, s.key)
            v = c.verdict if c else None
            title = esc(c.summary() if c else "not asked", quote=True)
            tds.append(f'<td class="{v or "none"}" title="{title}">{esc(SYMBOL[v])}</td>')
        rows.append(f"<tr><th class=\"svc\">{esc(s.key)}</th>{''.join(tds)}</tr>")
    style = "".join(f"td.{k}{{background:{v}}}" for k, v in COLOUR.items() if k)
    return (
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>natsim exposure matrix</title>"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}th,td{border:1px solid #ccc;"
        "padding:4px 8px;text-align:center}th.svc{text-align:left;font-family:monospace}"
        f"td{{color:#fff;font-weight:bold;cursor:help}}{style}</style></head><body>"
        f"<h1>Exposure matrix</h1><p>{esc(m.source)}: rows are services, columns are source zones. "
        "Hover a cell for the NAT done and the deciding rule.</p>"
        f"<table><tr><th>service</th>{head}</tr>{''.join(rows)}</table>"
        f"<p>{esc(LEGEND)}</p>"
        + ("<h2>Assumptions</h2><ul>" + "".join(f"<li>{esc(a)}</li>" for a in m.assumptions) + "</ul>"
           if m.assumptions else "")
        + "</body></html>\n"
    )


def matrix_svg(m: Matrix) -> str:
    esc = html.escape
    cw, ch = 110, 22
    char = 7.5  # a 12px monospace glyph's advance, with a little to spare
    slant = char * 0.71  # the headers are turned 45 degrees: each glyph moves this far right and up
    left = 16 + round(char * max((len(s.key) for s in m.services), default=10))
    top = 12 + round(slant * max((len(z.label) for z in m.zones), default=10))
    # wide enough for the grid, for the last headers' slant to the right, and for the legend
    width = max([left + cw * len(m.zones) + 10, round(char * len(LEGEND)) + 12]
                + [left + cw * j + cw // 2 + round(slant * len(z.label)) + 12 for j, z in enumerate(m.zones)])
    height = top + ch * len(m.services) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="monospace" font-size="12">',
        f"<title>natsim exposure matrix: {esc(m.source)}</title>",
    ]
    for j, z in enumerate(m.zones):
        x = left + cw * j + cw // 2
        parts.append(f'<text transform="translate({x},{top - 6}) rotate(-45)">{esc(z.label)}</text>')
    for i, s in enumerate(m.services):
        y = top + ch * i
        parts.append(f'<text x="4" y="{y + 15}">{esc(s.key)}</text>')
        for j, z in enumerate(m.zones):
            c = _cell(m, z.key, s.key)
            v = c.verdict if c else None
            x = left + cw * j
            tip = esc(c.summary() if c else "not asked")
            parts.append(
                f'<g><title>{tip}</title><rect x="{x}" y="{y}" width="{cw - 2}" height="{ch - 2}" '
                f'fill="{COLOUR[v]}" stroke="#ccc"/><text x="{x + cw // 2}" y="{y + 15}" text-anchor="middle" '
                f'fill="#fff">{esc(SYMBOL[v])}</text></g>'
            )
    x = 4
    for verdict, words in (("reachable", "reachable"), ("blocked", "blocked"),
                           ("partial", "reachable from some source classes only"), ("unknown", "unknown")):
        parts.append(f'<rect x="{x}" y="{height - 22}" width="34" height="16" fill="{COLOUR[verdict]}"/>'
                     f'<text x="{x + 17}" y="{height - 10}" text-anchor="middle" fill="#fff">'
                     f'{esc(SYMBOL[verdict])}</text><text x="{x + 40}" y="{height - 10}">{esc(words)}</text>')
        x += 52 + round(char * len(words))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


RENDERERS = {"table": matrix_table, "json": matrix_json, "html": matrix_html, "svg": matrix_svg}
