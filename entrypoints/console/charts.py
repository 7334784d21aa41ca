"""Small charts drawn on the server as SVG: the console runs no script."""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from application.operations_overview import SuccessRate

_ROW = 24
_LABEL = 130
_BAR = 220


def success_bars(rates: Sequence[SuccessRate], *, title: str) -> str:
    """One horizontal bar per name: its success rate, with `succeeded/total` beside it."""
    height = max(1, len(rates)) * _ROW + 4
    width = _LABEL + _BAR + 90
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
    ]
    for row, rate in enumerate(rates):
        y = row * _ROW + 4
        filled = round(_BAR * rate.percent / 100)
        colour = "#1d7a46" if rate.percent >= 90 else "#9a6700" if rate.percent >= 70 else "#b42318"
        parts.append(f'<text x="0" y="{y + 14}">{escape(rate.name)}</text>')
        parts.append(f'<rect x="{_LABEL}" y="{y + 2}" width="{_BAR}" height="16" rx="3" fill="#eef0f3"/>')
        parts.append(f'<rect x="{_LABEL}" y="{y + 2}" width="{filled}" height="16" rx="3" fill="{colour}"/>')
        parts.append(
            f'<text x="{_LABEL + _BAR + 8}" y="{y + 14}">{rate.percent}% ({rate.succeeded}/{rate.total})</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
