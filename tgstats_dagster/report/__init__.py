"""Pictures of a channel's whole kept history: warehouse rows -> charts, an overview for the
Dagster UI and one self-contained HTML report per channel.

No Dagster and no Telegram inside: the ``channel_report`` asset and ``tgstats report`` both
call :func:`draw_report`, and the asset puts :func:`overview_markdown` into its metadata.
"""

from __future__ import annotations

import base64
import os
import re
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from tgstats_dagster.report.data import (
    Channel,
    Chart,
    History,
    history_version,
    read_channel,
    read_history,
)
from tgstats_dagster.report.draw import chart_svg
from tgstats_dagster.report.overview import overview_svg
from tgstats_dagster.report.page import render_page

__all__ = [
    "Channel",
    "Chart",
    "NoReport",
    "Report",
    "draw_report",
    "history_version",
    "overview_markdown",
]


class NoReport(Exception):
    """The channel gets no report; the message says why (unknown, or no stats rights)."""


@dataclass(frozen=True)
class Report:
    channel: Channel
    html_path: Path
    overview_path: Path
    #: The overview SVG's text (also written to ``overview_path``).
    overview_svg: str
    #: Every chart of the channel's kind: drawn ones with the data they plot, left-out ones
    #: with their note.
    charts: tuple[Chart, ...]
    first_day: date | None
    last_day: date | None

    @property
    def drawn(self) -> tuple[Chart, ...]:
        return tuple(c for c in self.charts if c.drawn)

    @property
    def notes(self) -> dict[str, str]:
        """Each left-out chart's key -> why it is left out."""
        return {c.key: c.note for c in self.charts if c.note is not None}

    def chart(self, key: str) -> Chart:
        return next(c for c in self.charts if c.key == key)


def draw_report(engine: sa.Engine, channel_id: int, out_dir: Path) -> Report:
    """Draw the channel's report into ``out_dir`` (``<peer>.html``, ``<peer>.overview.svg``).

    Raises :class:`NoReport` for a channel the warehouse does not know or whose stats this
    account cannot view."""
    channel = read_channel(engine, channel_id)
    if channel is None:
        raise NoReport(f"channel {channel_id} is not in telegram_peers: load it first")
    if not channel.can_view_stats:
        raise NoReport(
            f"{channel.title!r} ({channel.peer_key}): this account cannot view its statistics "
            "(can_view_stats is false), so there is nothing to draw"
        )
    history = read_history(engine, channel)
    return write_report(history, out_dir)


def write_report(history: History, out_dir: Path) -> Report:
    """Draw ``history`` (read already) and write its files."""
    overview = overview_svg(history)
    pictures = {c.key: chart_svg(c) for c in history.charts if c.drawn and c.series}
    out_dir.mkdir(parents=True, exist_ok=True)
    name = file_stem(history.channel)
    html_path, overview_path = out_dir / f"{name}.html", out_dir / f"{name}.overview.svg"
    _write(html_path, render_page(history, overview, pictures))
    _write(overview_path, overview)
    return Report(
        history.channel,
        html_path,
        overview_path,
        overview,
        history.charts,
        history.first_day,
        history.last_day,
    )


def overview_markdown(report: Report) -> str:
    """Markdown embedding the overview as a data URI, for ``MetadataValue.md``."""
    data = base64.b64encode(report.overview_svg.encode("utf-8")).decode("ascii")
    alt = re.sub(r"[\[\]\\\s]+", " ", report.channel.title).strip()
    return f"![{alt}: overview](data:image/svg+xml;base64,{data})"


def file_stem(channel: Channel) -> str:
    """The report's file name without suffix: the peer entry, safe as a file name."""
    return re.sub(r"[^\w.-]", "_", channel.peer_key.lstrip("@")) or str(channel.channel_id)


def _write(path: Path, text: str) -> None:
    """Write whole or not at all: a reader never sees half a page."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
