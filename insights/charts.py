"""Server-rendered charts: a series in, inline SVG out (no JavaScript, no CDN).

Each chart is a <figure> holding an <svg role="img"> with an aria-label, one
<rect class="bar"> per point (its <title> is the tooltip and the value), an
optional line series, axis labels, and a data table after it — the same numbers
for screen readers, for copying, and for browsers without SVG.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH = 720
HEIGHT = 240
LEFT = 64  # room for the y-axis labels
RIGHT = 40  # room for the last x label
TOP = 14
BOTTOM = 40  # room for the x-axis labels
MAX_X_LABELS = 8


@dataclass(frozen=True)
class Point:
    label: str  # x-axis label (a day, a bucket)
    value: Decimal | int | float | None  # None: no value (drawn as nothing)
    text: str = ""  # the value as shown (tooltip and table); default str(value)

    @property
    def shown(self) -> str:
        if self.text:
            return self.text
        return "—" if self.value is None else str(self.value)


def _num(v) -> float:
    return float(v) if v is not None else 0.0


def _fmt(v: float) -> str:
    """An axis label: no more digits than it needs."""
    if v == int(v):
        return f"{int(v)}"
    return f"{v:.2f}"


def _nice_max(v: float) -> float:
    """The smallest 1/2/5 x 10^n at or above v (so axis labels are round)."""
    if v <= 0:
        return 1.0
    exp = 10.0 ** math.floor(math.log10(v))
    for step in (1, 2, 5):
        if step * exp >= v:
            return step * exp
    return 10 * exp


def bar_chart(points: list[Point], *, title: str, unit: str = "", chart_id: str,
              line: list[Point] | None = None, line_name: str = "",
              bar_name: str = "", width: int = WIDTH, height: int = HEIGHT,
              axis: Callable[[Decimal], str] | None = None) -> SafeString:
    """Bars (negative values hang below the zero line), optionally a line on the same
    scale, with y-axis labels at min / 0 / max, a few x labels, and a data table.
    `axis` writes a y-axis label (money charts: the currency's compact format)."""
    values = [_num(p.value) for p in points] + [_num(p.value) for p in (line or [])]
    top = _nice_max(max([0.0, *values]))
    low = min([0.0, *values])
    bottom = -_nice_max(-low) if low < 0 else 0.0
    plot_w = width - LEFT - RIGHT
    plot_h = height - TOP - BOTTOM
    span = top - bottom

    def y(v: float) -> float:
        return TOP + (top - v) / span * plot_h

    zero = y(0.0)
    n = max(len(points), 1)
    slot = plot_w / n
    bar_w = max(slot * 0.7, 1.0)
    parts: list[str] = []
    # y axis: gridlines and labels
    ticks = sorted({top, 0.0, bottom, top / 2} if bottom == 0 else {top, 0.0, bottom})
    for t in ticks:
        ty = y(t)
        parts.append(format_html(
            '<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}" stroke="#e3e7ec"/>'
            '<text class="ylabel" x="{}" y="{}" text-anchor="end" font-size="11" '
            'fill="#5b6573">{}</text>',
            LEFT, width - RIGHT, f"{ty:.1f}", f"{ty:.1f}", LEFT - 6, f"{ty + 4:.1f}",
            axis(Decimal(str(t))) if axis else _fmt(t)))
    # bars
    for i, p in enumerate(points):
        if p.value is None:
            continue
        v = _num(p.value)
        h = abs(v) / span * plot_h
        x = LEFT + i * slot + (slot - bar_w) / 2
        top_y = zero - h if v >= 0 else zero
        parts.append(format_html(
            '<rect class="bar{}" x="{}" y="{}" width="{}" height="{}" data-label="{}" '
            'data-value="{}" fill="{}"><title>{}: {}{}</title></rect>',
            " negative" if v < 0 else "", f"{x:.2f}", f"{top_y:.2f}", f"{bar_w:.2f}",
            f"{h:.2f}", p.label, p.shown, "#c0392b" if v < 0 else "#2f6fde", p.label,
            p.shown, f" {unit}" if unit and not p.text else ""))
    # the line series
    if line:
        coords = [(LEFT + i * slot + slot / 2, y(_num(p.value)), p)
                  for i, p in enumerate(line) if p.value is not None]
        if coords:
            parts.append(format_html(
                '<polyline class="line" fill="none" stroke="#1a8a5a" stroke-width="2" '
                'points="{}"/>', " ".join(f"{cx:.1f},{cy:.1f}" for cx, cy, _ in coords)))
            for cx, cy, p in coords:
                parts.append(format_html(
                    '<circle class="point" cx="{}" cy="{}" r="2.5" fill="#1a8a5a">'
                    '<title>{} {}: {}</title></circle>', f"{cx:.1f}", f"{cy:.1f}", p.label,
                    line_name, p.shown))
    # axes and x labels
    parts.append(format_html('<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}" '
                             'stroke="#5b6573"/>', LEFT, width - RIGHT, f"{zero:.1f}",
                             f"{zero:.1f}"))
    every = max(1, -(-len(points) // MAX_X_LABELS))
    for i, p in enumerate(points):
        if (len(points) - 1 - i) % every:  # evenly spaced, the last point always labelled
            continue
        parts.append(format_html(
            '<text class="xlabel" x="{}" y="{}" text-anchor="middle" font-size="11" '
            'fill="#5b6573">{}</text>', f"{LEFT + i * slot + slot / 2:.1f}",
            height - BOTTOM + 16, p.label))
    label = f"{title}: {len(points)} values"
    if unit:
        label += f", in {unit}"
    svg = format_html(
        '<svg class="chart" id="{}" role="img" aria-label="{}" viewBox="0 0 {} {}" '
        'width="100%" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">'
        "<title>{}</title>{}</svg>",
        chart_id, label, width, height, title, mark_safe("".join(parts)))  # noqa: S308 (each part is built with format_html)
    legend = ""
    if line:
        legend = format_html(
            '<figcaption class="muted"><span style="color:#2f6fde">■</span> {} '
            '<span style="color:#1a8a5a">●</span> {}</figcaption>', bar_name, line_name)
    return format_html('<figure class="chart-figure" data-chart="{}">{}{}{}</figure>',
                       chart_id, svg, legend,
                       data_table(points, title=title, unit=unit, line=line,
                                  bar_name=bar_name or "Value", line_name=line_name))


def data_table(points: list[Point], *, title: str, unit: str, line: list[Point] | None,
               bar_name: str, line_name: str) -> SafeString:
    head = format_html("<th scope=\"col\">{}</th>", bar_name)
    if line:
        head += format_html("<th scope=\"col\">{}</th>", line_name)
    rows = []
    for i, p in enumerate(points):
        cells = format_html("<td>{}</td>", p.shown)
        if line:
            cells += format_html("<td>{}</td>", line[i].shown)
        rows.append(format_html('<tr><th scope="row">{}</th>{}</tr>', p.label, cells))
    return format_html(
        '<details class="chart-data"><summary>{} as a table{}</summary>'
        '<table><thead><tr><th scope="col"></th>{}</tr></thead><tbody>{}</tbody></table>'
        "</details>", title, f" ({escape(unit)})" if unit else "", head,
        mark_safe("".join(rows)))  # noqa: S308 (rows are format_html output)
