"""The compliance report as a page: a table and an inline SVG bar chart (no scripts, no fetches).

Served with the same strict Content-Security-Policy as the message page; every value is escaped.
"""

from __future__ import annotations

from html import escape
from typing import Any

from gateway.compliance.report import INDICATORS, LABELS

CHARTED = ("epikrise1d", "epikrise7d", "admissionNotice", "readyNotice")
COLOURS = {
    "epikrise1d": "#2f6fb3",
    "epikrise7d": "#7fa7d6",
    "admissionNotice": "#2e8b57",
    "readyNotice": "#b8860b",
}
TARGET = 0.70  # national quality indicator: 70 % of epikriser within 1 day
STYLE = """
body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
table{border-collapse:collapse;width:100%;font-size:.9rem}
td,th{border-bottom:1px solid #ddd;padding:.3rem;text-align:right}
td:first-child,td:nth-child(2),th:first-child,th:nth-child(2){text-align:left}
.legend span{display:inline-block;margin-right:1rem}
.swatch{display:inline-block;width:.8rem;height:.8rem;margin-right:.3rem}
"""


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def chart(groups: list[dict[str, Any]]) -> str:
    """Grouped horizontal bars, one group per department or municipality, and the 70 % line."""
    bar, gap, label_w, width = 12, 10, 220, 420
    rows = []
    y = 20
    for g in groups:
        rows.append(
            f'<text x="0" y="{y + bar}" font-size="12">'
            f"{escape(g['dimension'])} {escape(str(g['group']))}</text>"
        )
        for k in CHARTED:
            share = g[k]["share"]
            w = 0 if share is None else round(share * width)
            rows.append(
                f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar - 2}" fill="{COLOURS[k]}">'
                f"<title>{escape(LABELS[k])}: {_pct(share)} ({g[k]['count']}/{g[k]['of']})</title></rect>"
            )
            rows.append(f'<text x="{label_w + w + 4}" y="{y + bar - 3}" font-size="10">{_pct(share)}</text>')
            y += bar
        y += gap
    target_x = label_w + round(TARGET * width)
    height = y + 10
    rows.append(
        f'<line x1="{target_x}" y1="10" x2="{target_x}" y2="{height - 5}" '
        'stroke="#c0392b" stroke-dasharray="4 3"/>'
        f'<text x="{target_x + 3}" y="12" font-size="10" fill="#c0392b">70 % (epikrise target)</text>'
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="Shares per group" '
        f'width="{label_w + width + 60}" height="{height}" viewBox="0 0 {label_w + width + 60} {height}">'
        + "".join(rows)
        + "</svg>"
    )


def render_report(report: dict[str, Any]) -> str:
    period = report["period"]
    head = "".join(f"<th>{escape(LABELS[k])}</th>" for k in INDICATORS)
    body = []
    for g in [*report["groups"], {"dimension": "total", "group": "all", **report["total"]}]:
        cells = "".join(f"<td>{_pct(g[k]['share'])} ({g[k]['count']}/{g[k]['of']})</td>" for k in INDICATORS)
        amount = f"{g['waitingDayAmount']:,}".replace(",", "\u00a0")  # 11 490, never broken over lines
        body.append(
            f"<tr><td>{escape(g['dimension'])}</td><td>{escape(str(g['group']))}</td>{cells}"
            f"<td>{g['waitingDays']}</td><td>{amount}\u00a0{escape(report['currency'])}</td></tr>"
        )
    legend = "".join(
        f'<span><i class="swatch" style="background:{COLOURS[k]}"></i>{escape(LABELS[k])}</span>'
        for k in CHARTED
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Compliance {escape(period['from'])} – {escape(period['to'])}</title>"
        f"<style>{STYLE}</style></head>"
        f"<body><h1>Compliance {escape(period['from'])} – {escape(period['to'])}</h1>"
        f"<p>Dates in {escape(period['timeZone'])}; generated {escape(report['generatedAt'])}. "
        "Definitions: docs/COMPLIANCE.md.</p>"
        f'<div class="legend">{legend}</div>{chart(report["groups"])}'
        f"<table><thead><tr><th>By</th><th>Group</th>{head}<th>Waiting days</th><th>Amount</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></body></html>"
    )
