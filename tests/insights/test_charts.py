"""The SVG bar chart: one bar per point, heights on the scale, titles, a data table."""

import re
from decimal import Decimal as D

from insights.charts import BOTTOM, HEIGHT, TOP, Point, bar_chart

PLOT_H = HEIGHT - TOP - BOTTOM


def _bars(svg: str) -> list[dict]:
    return [dict(re.findall(r'(\w[\w-]*)="([^"]*)"', m.group(1))) | {"title": m.group(2)}
            for m in re.finditer(r"<rect ([^>]*)><title>([^<]*)</title></rect>", svg)]


def test_one_bar_per_day_with_heights_and_titles():
    # given: three days, the top of the scale rounds up to 20
    points = [Point("2026-11-10", D("10.00")), Point("2026-11-11", D("20.00")),
              Point("2026-11-12", D("0"), text="no orders")]
    # when
    html = str(bar_chart(points, title="Profit per day (USD)", unit="USD", chart_id="p"))
    # then
    bars = _bars(html)
    assert len(bars) == 3
    assert [float(b["height"]) for b in bars] == [PLOT_H / 2, PLOT_H, 0.0]
    assert [b["title"] for b in bars] == ["2026-11-10: 10.00 USD", "2026-11-11: 20.00 USD",
                                          "2026-11-12: no orders"]
    # bars stand on the zero line
    zero = TOP + PLOT_H
    assert [round(float(b["y"]) + float(b["height"]), 2) for b in bars] == [zero] * 3
    assert 'role="img"' in html and 'aria-label="Profit per day (USD): 3 values, in USD"' in html
    assert "<table>" in html and "<th scope=\"row\">2026-11-11</th><td>20.00</td>" in html


def test_negative_values_hang_below_zero_and_labels_are_escaped():
    html = str(bar_chart([Point("<a>", D("-5")), Point("b", D("5"))], title="T & t",
                         chart_id="n"))
    bars = _bars(html)
    assert 'class="bar negative"' in html
    assert float(bars[0]["height"]) == float(bars[1]["height"])
    assert float(bars[0]["y"]) == float(bars[1]["y"]) + float(bars[1]["height"])
    assert "<a>" not in html and "&lt;a&gt;" in html and "T &amp; t" in html


def test_line_series_has_a_point_per_value():
    html = str(bar_chart([Point("a", 1), Point("b", 2)], title="x", chart_id="l",
                         line=[Point("a", 3), Point("b", None)], line_name="revenue"))
    assert html.count("<circle") == 1
    assert "<polyline" in html
