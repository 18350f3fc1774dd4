"""The overview: a hand-written SVG of up to four sparkline panels, a few KB.

It goes into Dagster's metadata, which is kept with every materialization event forever, so it
is small by construction: each line is a sample of at most :data:`POINTS` points on integer
coordinates, and the text is the panel's name, its last value and the first and last day. The
full report draws every point.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from xml.sax.saxutils import escape, quoteattr

from tgstats_dagster.report.data import Chart, History, Series, X

PANELS = 4
POINTS = 60
LINES_PER_PANEL = 2
PANEL_W, PANEL_H, PLOT_H = 240, 78, 40
COLORS = ("#2a7ab8", "#d9822b")


def overview_panels(charts: Sequence[Chart]) -> list[tuple[str, tuple[Series, ...]]]:
    """The first :data:`PANELS` daily panels of the drawn charts, as (title, series)."""
    panels = []
    for chart in charts:
        if not chart.drawn or chart.kind == "hbars":
            continue
        for panel in sorted({s.panel for s in chart.series}):
            series = tuple(s for s in chart.series if s.panel == panel and _daily(s))
            if series:
                titles = (chart.title, *chart.panel_titles)
                panels.append((titles[panel], series[:LINES_PER_PANEL]))
    return panels[:PANELS]


def overview_svg(history: History) -> str:
    panels = overview_panels(history.charts)
    rows = max(1, (len(panels) + 1) // 2)
    width, height = 2 * PANEL_W, 18 + rows * PANEL_H
    title = f"{history.channel.title}: {_span(history)}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}"'
        f' viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="4" y="12" font-weight="bold">{escape(title)}</text>',
    ]
    if not panels:
        parts.append(f'<text x="4" y="34">{escape("no daily figures kept yet")}</text>')
    for i, (name, series) in enumerate(panels):
        parts += _panel(name, series, 4 + (i % 2) * PANEL_W, 18 + (i // 2) * PANEL_H)
    parts.append("</svg>")
    return "".join(parts)


def _daily(series: Series) -> bool:
    return bool(series.x) and isinstance(series.x[0], date)


def _span(history: History) -> str:
    if history.first_day is None:
        return "no days kept"
    return f"{history.first_day} .. {history.last_day}"


def _panel(name: str, series: Sequence[Series], left: int, top: int) -> list[str]:
    """Lines of one magnitude (joined and left) share a scale; lines that differ more than
    tenfold (views and shares) get one each. The text gives the last values, in the lines'
    colours."""
    width = PANEL_W - 12
    gap = ' dx="8"'
    last = "".join(
        f'<tspan fill="{color}"{gap if i else ""}>{escape(f"{s.name} {_last(s)}")}</tspan>'
        for i, (color, s) in enumerate(zip(COLORS, series, strict=False))
    )
    lines = [
        _sample([(x, float(y)) for x, y in zip(s.x, s.y, strict=True) if y is not None])
        for s in series
    ]
    ranges = [(min(y for _, y in p), max(y for _, y in p)) for p in lines if p]
    shared = bool(ranges) and max(abs(h) for _, h in ranges) <= 10 * min(
        abs(h) or 1.0 for _, h in ranges
    )
    out = [
        f'<text x="{left}" y="{top + 10}" fill="#333">{escape(name)}</text>',
        f'<text x="{left}" y="{top + PLOT_H + 24}" font-size="9">{last}</text>',
    ]
    for color, points in zip(COLORS, lines, strict=False):
        if not points:
            continue
        if shared:
            low, high = min(r[0] for r in ranges), max(r[1] for r in ranges)
        else:
            low, high = min(y for _, y in points), max(y for _, y in points)
        scale = (PLOT_H - 2) / ((high - low) or 1.0)
        step = width / max(1, len(points) - 1)
        coords = " ".join(
            f"{round(left + k * step)},{round(top + 14 + PLOT_H - 1 - (y - low) * scale)}"
            for k, (_, y) in enumerate(points)
        )
        out.append(
            f'<polyline points={quoteattr(coords)} fill="none" stroke="{color}"'
            ' stroke-width="1.5"/>'
        )
    return out


def _sample(points: list[tuple[X, float]]) -> list[tuple[X, float]]:
    """At most :data:`POINTS` evenly spaced points, the first and the last among them."""
    if len(points) <= POINTS:
        return points
    last = len(points) - 1
    return [points[round(i * last / (POINTS - 1))] for i in range(POINTS)]


def _last(series: Series) -> str:
    for value in reversed(series.y):
        if value is not None:
            return f"{value:,}" if isinstance(value, int) else f"{value.normalize():,f}"
    return "-"
