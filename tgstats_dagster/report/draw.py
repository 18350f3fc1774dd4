"""Charts as SVG, drawn with matplotlib's SVG backend (no display, no browser, no network).

Text stays text in the SVG (``svg.fonttype: none``): the page is small, and the reader's
browser draws every label with its own fonts, emoji included (a reaction named 👍 shows as 👍
where the system has an emoji font, as a box where it has none; matplotlib only measures it).
Math text is off, so a ``$`` in a post's text or a title is just a dollar sign; matplotlib
escapes what it writes into the SVG.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Sequence
from datetime import date, datetime

import matplotlib
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

from tgstats_dagster.report.data import Chart, Number, Series, X

RC = {
    "svg.fonttype": "none",
    "text.parse_math": False,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "legend.fontsize": 8,
}
WIDTH_IN = 9.0
PANEL_HEIGHT_IN = 3.0


def chart_svg(chart: Chart) -> str:
    """The chart as an SVG element (no XML prolog: it goes inline into the page)."""
    panels = 1 + max(s.panel for s in chart.series)
    with matplotlib.rc_context({**RC, "svg.hashsalt": chart.key}):
        height = PANEL_HEIGHT_IN * panels
        figure = Figure(figsize=(WIDTH_IN, height))
        # Fixed margins (a constrained layout costs more than the drawing): the legend sits
        # right of the plot, the labels of horizontal bars left of it.
        left = 0.3 if chart.kind == "hbars" else 0.07
        figure.subplots_adjust(
            left=left, right=0.8, top=1 - 0.3 / height, bottom=0.5 / height, hspace=0.45
        )
        axes = figure.subplots(panels, 1, squeeze=False)[:, 0]
        titles = (chart.title, *chart.panel_titles)
        for panel, ax in enumerate(axes):
            series = [s for s in chart.series if s.panel == panel]
            if chart.kind == "hbars" and panel == 0:
                _hbars(ax, series[0])
            elif chart.kind == "stacked" and len(series) > 1:
                _stacked(ax, series)
            else:
                _lines(ax, series)
            ax.set_title(titles[panel] if panel < len(titles) else "", loc="left")
        out = io.StringIO()
        with warnings.catch_warnings():
            # An emoji label has no glyph in DejaVu: matplotlib warns while measuring it.
            warnings.filterwarnings("ignore", message="Glyph .* missing from")
            figure.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    return text[text.index("<svg") :]


def _floats(values: Sequence[Number | None]) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


def _dated(ax: Axes, xs: Sequence[X]) -> None:
    if xs and isinstance(xs[0], (date, datetime)):
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _legend(ax: Axes, count: int) -> None:
    if count > 1:
        ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))


def _lines(ax: Axes, series: Sequence[Series]) -> None:
    for s in series:
        ax.plot(s.x, _floats(s.y), label=s.name, linewidth=1.2)
    _dated(ax, series[0].x)
    _legend(ax, len(series))


def _stacked(ax: Axes, series: Sequence[Series]) -> None:
    """Series on one shared x (the union of their days; a day a series lacks counts 0)."""
    xs = sorted({x for s in series for x in s.x})  # type: ignore[type-var]
    ys = []
    for s in series:
        by_x = dict(zip(s.x, _floats(s.y), strict=True))
        ys.append([0.0 if math.isnan(by_x.get(x, math.nan)) else by_x[x] for x in xs])
    ax.stackplot(xs, ys, labels=[s.name for s in series], alpha=0.85)
    _dated(ax, xs)
    _legend(ax, len(series))


def _hbars(ax: Axes, series: Series) -> None:
    positions = range(len(series.x))
    ax.barh(positions, _floats(series.y), color="#4a90c8")
    ax.set_yticks(list(positions), [str(x) for x in series.x])
    ax.invert_yaxis()
    ax.grid(axis="y", visible=False)
