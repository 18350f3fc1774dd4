"""A channel's whole kept history, read from the warehouse into plain data per chart.

Each chart is a :class:`Chart`: its series exactly as the warehouse holds them (values are the
``numeric`` column's ``Decimal`` or the ``bigint`` column's ``int``, never rounded), or a note
saying why the channel has no data for it. Drawing never reads the database, so what a test
compares with the warehouse is what the picture shows.

The content tables (``channel_hourly``, ``posts``, ``post_timeline``, ``post_forwards``,
``revenue_status``) come with migration 0004; a warehouse without them leaves their charts
out with a note instead of failing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

import sqlalchemy as sa

Number = Decimal | int
X = date | datetime | int | str
ChartKind = Literal["lines", "stacked", "hbars"]

#: Posts shown in "best posts" and, of those, how many get their timeline drawn.
BEST_POSTS = 10
TIMELINE_POSTS = 5
#: Forwarding channels and top posters shown.
TOP_ROWS = 15


@dataclass(frozen=True)
class Series:
    """One line, area or set of bars: ``x[i]`` pairs with ``y[i]``."""

    name: str
    x: tuple[X, ...]
    y: tuple[Number | None, ...]
    #: Which panel of the chart draws it (0 on top); a chart with two panels stacks them.
    panel: int = 0


@dataclass(frozen=True)
class Chart:
    """A chart's data, or the reason it is left out (``note``; then ``series`` is empty)."""

    key: str
    title: str
    kind: ChartKind
    source: str
    series: tuple[Series, ...] = ()
    note: str | None = None
    #: Rows shown under the picture (best posts, forwards, top posters): header first.
    table: tuple[tuple[str, ...], ...] = ()
    #: Titles of the panels after the first (the first panel's is the chart's title).
    panel_titles: tuple[str, ...] = ()

    @property
    def drawn(self) -> bool:
        return self.note is None


@dataclass(frozen=True)
class Channel:
    channel_id: int
    peer_key: str
    title: str
    username: str | None
    kind: str
    can_view_stats: bool

    @property
    def is_supergroup(self) -> bool:
        return self.kind == "megagroup"


@dataclass(frozen=True)
class History:
    channel: Channel
    charts: tuple[Chart, ...] = field(default=())
    first_day: date | None = None
    last_day: date | None = None


def read_channel(engine: sa.Engine, channel_id: int) -> Channel | None:
    """The channel's ``telegram_peers`` row, or None when the warehouse does not know it."""
    query = sa.text(
        "SELECT channel_id, peer_key, title, username, kind, can_view_stats"
        " FROM telegram_peers WHERE channel_id = :c"
    )
    with engine.connect() as connection:
        row = connection.execute(query, {"c": channel_id}).mappings().first()
    return None if row is None else Channel(**row)


#: The tables a report draws from, each with the column that moves when a row is written.
VERSION_COLUMNS = {
    "telegram_peers": "updated_at",
    "channel_daily": "updated_at",
    "stats_raw": "fetched_at",
    "channel_hourly": "updated_at",
    "posts": "updated_at",
    "post_timeline": "updated_at",
    "post_forwards": "updated_at",
    "revenue_status": "fetched_at",
    "megagroup_tops": "fetched_at",
}


def history_version(engine: sa.Engine, channel_id: int) -> str:
    """A fingerprint of the channel's rows that the report draws: the same while no row is
    added, removed or rewritten, so a caller redraws a report only when it would change."""
    with engine.connect() as connection:
        tables = set(sa.inspect(connection).get_table_names())
        parts = [
            f"SELECT '{table}', count(*), max({column})::text FROM {table} WHERE channel_id = :c"
            for table, column in VERSION_COLUMNS.items()
            if table in tables
        ]
        rows = connection.execute(sa.text(" UNION ALL ".join(parts)), {"c": channel_id}).all()
    text = ";".join(f"{table}:{count}:{latest}" for table, count, latest in rows)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def read_history(engine: sa.Engine, channel: Channel) -> History:
    """Every chart of the channel's kind, over all its kept rows."""
    with engine.connect() as connection:
        reader = _Reader(connection, channel.channel_id)
        charts = _supergroup_charts(reader) if channel.is_supergroup else _channel_charts(reader)
        span = connection.execute(
            sa.text("SELECT min(day), max(day) FROM channel_daily WHERE channel_id = :c"),
            {"c": channel.channel_id},
        ).one()
    return History(channel, tuple(charts), span[0], span[1])


def _channel_charts(r: _Reader) -> list[Chart]:
    return [
        r.daily(
            "audience",
            "Followers",
            "lines",
            ("growth", "followers"),
            ("Joined and left per day",),
        ),
        r.daily(
            "views",
            "Views and shares per day",
            "lines",
            ("interactions", "story_interactions"),
            ("Stories: views and shares per day",),
        ),
        r.daily("views_by_source", "Views by source", "stacked", ("views_by_source",)),
        r.daily(
            "followers_by_source",
            "New followers by source",
            "stacked",
            ("new_followers_by_source",),
        ),
        r.daily("languages", "Languages", "stacked", ("languages",)),
        r.daily("notifications", "Notifications (muted, unmuted)", "lines", ("mute",)),
        r.daily("reactions", "Reactions by emotion", "stacked", ("reactions_by_emotion",)),
        r.hours(),
        r.best_posts(),
        r.forwards(),
        r.revenue(),
    ]


def _supergroup_charts(r: _Reader) -> list[Chart]:
    return [
        r.daily(
            "audience", "Members", "lines", ("growth", "members"), ("Joined and left per day",)
        ),
        r.daily("messages", "Messages per day", "lines", ("messages",)),
        r.daily("actions", "Actions per day", "lines", ("actions",)),
        r.daily(
            "members_by_source", "New members by source", "stacked", ("new_members_by_source",)
        ),
        r.daily("languages", "Languages", "stacked", ("languages",)),
        r.hours(),
        r.top_posters(),
    ]


def _like(prefix: str) -> str:
    """A LIKE pattern for ``<prefix>.``: the prefixes are identifiers, ``_`` escaped."""
    return prefix.replace("_", r"\_") + ".%"


class _Reader:
    """The queries behind the charts, on one connection."""

    def __init__(self, connection: sa.Connection, channel_id: int) -> None:
        self._c = connection
        self._id = channel_id
        self._tables = set(sa.inspect(connection).get_table_names())

    def _rows(self, sql: str, **params: Any) -> Sequence[sa.Row[Any]]:
        return self._c.execute(sa.text(sql), {"c": self._id, **params}).all()

    def _missing(self, *tables: str) -> str | None:
        absent = [t for t in tables if t not in self._tables]
        if not absent:
            return None
        names = " and ".join(absent)
        return (
            f"the warehouse has no {names} table yet: `tgstats db upgrade` adds "
            f"{'them' if len(absent) > 1 else 'it'}, and the next load fills "
            f"{'them' if len(absent) > 1 else 'it'}"
        )

    def daily(
        self,
        key: str,
        title: str,
        kind: ChartKind,
        prefixes: tuple[str, ...],
        panel_titles: tuple[str, ...] = (),
    ) -> Chart:
        """Every ``channel_daily`` metric ``<prefix>.*``; the n-th prefix goes to panel n."""
        source = "channel_daily: " + ", ".join(f"{p}.*" for p in prefixes)
        series: list[Series] = []
        for panel, prefix in enumerate(prefixes):
            rows = self._rows(
                "SELECT metric, day, value FROM channel_daily"
                " WHERE channel_id = :c AND metric LIKE :p ORDER BY metric, day",
                p=_like(prefix),
            )
            series += _group(rows, panel, strip=len(prefix) + 1)
        if not series:
            return Chart(key, title, kind, source, note=f"no {source} rows for this channel")
        used = sorted({s.panel for s in series})
        # A missing first prefix (no growth graph, only joined/left) moves the rest up.
        series = [Series(s.name, s.x, s.y, used.index(s.panel)) for s in series]
        titles = tuple(panel_titles[p - 1] for p in used[1:]) if used[0] == 0 else ()
        return Chart(key, title, kind, source, tuple(series), panel_titles=titles)

    def hours(self) -> Chart:
        """The newest ``top_hours`` graph (hour of the day 0-23), and the mean of each hourly
        metric by UTC hour of the day over the kept ``channel_hourly`` history."""
        source = "stats_raw: top_hours_graph (newest); channel_hourly by hour of the day"
        series: list[Series] = []
        raw = self._rows(
            "SELECT data, error FROM stats_raw WHERE channel_id = :c AND graph = 'top_hours_graph'"
            " ORDER BY fetched_at DESC LIMIT 1"
        )
        note_raw = None
        if raw and isinstance(raw[0][0], dict):
            series += _graph_series(raw[0][0])
        elif raw:
            note_raw = f"Telegram answered top_hours_graph with: {raw[0][1] or 'no data'}"
        panel_titles: tuple[str, ...] = ()
        if self._missing("channel_hourly") is None:
            # Cumulative metrics (growth.*) have no meaningful mean by hour.
            rows = self._rows(
                "SELECT metric, extract(hour FROM hour AT TIME ZONE 'UTC')::int AS h, avg(value)"
                " FROM channel_hourly WHERE channel_id = :c AND metric NOT LIKE 'growth.%'"
                " GROUP BY metric, h ORDER BY metric, h"
            )
            hourly = _group(rows, 1 if series else 0)
            if hourly and series:
                panel_titles = ("Mean per hour of the day, whole hourly history (UTC)",)
            series += hourly
        if not series:
            note = note_raw or "no top_hours graph in stats_raw and no channel_hourly rows"
            return Chart("hours", "Hours of the day", "lines", source, note=note)
        return Chart(
            "hours", "Hours of the day", "lines", source, tuple(series), panel_titles=panel_titles
        )

    def best_posts(self) -> Chart:
        """The most viewed posts and stories kept, and the views timeline of the first few."""
        source = "posts (most viewed), post_timeline: views.*"
        missing = self._missing("posts", "post_timeline")
        if missing:
            return Chart("best_posts", "Best posts", "hbars", source, note=missing)
        posts = self._rows(
            "SELECT kind, post_id, published_at, views, forwards, reactions, text FROM posts"
            " WHERE channel_id = :c ORDER BY views DESC NULLS LAST, published_at DESC LIMIT :n",
            n=BEST_POSTS,
        )
        if not posts:
            return Chart("best_posts", "Best posts", "hbars", source, note="no posts kept yet")
        labels = tuple(_post_label(p.kind, p.post_id, p.text) for p in posts)
        series = [Series("views", labels, tuple(p.views for p in posts))]
        first = posts[:TIMELINE_POSTS]
        rows = self._rows(
            "SELECT kind, post_id, metric, ts, value FROM post_timeline WHERE channel_id = :c"
            " AND metric LIKE 'views.%' AND (kind, post_id) IN"
            f" ({', '.join(f'(:k{i}, :p{i})' for i in range(len(first)))})"
            " ORDER BY kind, post_id, metric, ts",
            **{f"k{i}": p.kind for i, p in enumerate(first)},
            **{f"p{i}": p.post_id for i, p in enumerate(first)},
        )
        points: dict[str, list[tuple[X, Number | None]]] = {}
        for row in rows:
            name = f"{_post_label(row.kind, row.post_id)} {row.metric}"
            points.setdefault(name, []).append((row.ts, row.value))
        series += [
            Series(name, tuple(x for x, _ in pts), tuple(y for _, y in pts), panel=1)
            for name, pts in points.items()
        ]
        table = (
            ("post", "published", "views", "forwards", "reactions", "text"),
            *(
                (
                    _post_label(p.kind, p.post_id),
                    p.published_at.strftime("%Y-%m-%d %H:%M"),
                    *(_cell(v) for v in (p.views, p.forwards, p.reactions)),
                    _excerpt(p.text or "", 120),
                )
                for p in posts
            ),
        )
        return Chart(
            "best_posts",
            "Best posts (views)",
            "hbars",
            source,
            tuple(series),
            table=table,
            panel_titles=("Views over time of the first posts",) if points else (),
        )

    def forwards(self) -> Chart:
        """Public forwards of the channel's posts, by forwarding channel."""
        source = "post_forwards, by forwarding channel"
        title = "Where posts were forwarded"
        missing = self._missing("post_forwards")
        if missing:
            return Chart("forwards", title, "hbars", source, note=missing)
        rows = self._rows(
            "SELECT source_channel_id, max(title) AS title, max(username) AS username,"
            " count(*) AS forwards, sum(views) AS views FROM post_forwards"
            " WHERE channel_id = :c GROUP BY source_channel_id"
            " ORDER BY forwards DESC, views DESC NULLS LAST, source_channel_id LIMIT :n",
            n=TOP_ROWS,
        )
        if not rows:
            return Chart("forwards", title, "hbars", source, note="no public forwards kept")
        labels = tuple(_channel_label(r.title, r.username, r.source_channel_id) for r in rows)
        table = (
            ("channel", "forwards", "views of the forwards"),
            *(
                (label, _cell(r.forwards), _cell(r.views))
                for label, r in zip(labels, rows, strict=True)
            ),
        )
        series = (Series("forwards", labels, tuple(int(r.forwards) for r in rows)),)
        return Chart("forwards", title, "hbars", source, series, table=table)

    def revenue(self) -> Chart:
        """The daily Stars and TON revenue graphs, and the newest balances."""
        chart = self.daily(
            "revenue",
            "Revenue: Stars per day",
            "lines",
            ("revenue_stars", "revenue_ton"),
            ("Revenue: TON per day (nanotons)",),
        )
        rows = (
            ()
            if self._missing("revenue_status")
            else self._rows(
                "SELECT DISTINCT ON (currency) currency, fetched_at, current_balance,"
                " available_balance, overall_revenue, usd_rate FROM revenue_status"
                " WHERE channel_id = :c ORDER BY currency, fetched_at DESC"
            )
        )
        if not rows:
            if chart.drawn:
                return chart
            return replace(
                chart,
                title="Revenue",
                note="the channel is not monetized, or its revenue was never loaded: no "
                "revenue_stars.* / revenue_ton.* rows in channel_daily, no revenue_status",
            )
        header = ("currency", "as of", "balance", "available", "overall revenue", "USD rate")
        table = (
            header,
            *(
                (
                    r.currency,
                    r.fetched_at.strftime("%Y-%m-%d %H:%M"),
                    *(
                        _cell(v)
                        for v in (r.current_balance, r.available_balance, r.overall_revenue)
                    ),
                    _cell(r.usd_rate),
                )
                for r in rows
            ),
        )
        # Balances without a daily graph: the table says them, and no empty frame is drawn.
        return replace(
            chart,
            title=chart.title if chart.drawn else "Revenue: balances",
            source=chart.source + "; revenue_status (newest)",
            note=None,
            table=table,
        )

    def top_posters(self) -> Chart:
        """The newest snapshot's top posters by messages."""
        source = "megagroup_tops: posters (newest snapshot)"
        rows = self._rows(
            "SELECT user_id, rank, messages, avg_chars, first_name, last_name, username"
            " FROM megagroup_tops WHERE channel_id = :c AND top = 'posters' AND fetched_at = ("
            "SELECT max(fetched_at) FROM megagroup_tops WHERE channel_id = :c AND top = 'posters')"
            " ORDER BY rank LIMIT :n",
            n=TOP_ROWS,
        )
        if not rows:
            return Chart("top_posters", "Top posters", "hbars", source, note="no top posters kept")
        labels = tuple(_member_label(r) for r in rows)
        table = (
            ("rank", "member", "messages", "average characters"),
            *(
                (str(r.rank), label, _cell(r.messages), _cell(r.avg_chars))
                for label, r in zip(labels, rows, strict=True)
            ),
        )
        series = (Series("messages", labels, tuple(r.messages for r in rows)),)
        return Chart("top_posters", "Top posters (messages)", "hbars", source, series, table=table)


def _group(rows: Sequence[sa.Row[Any]], panel: int, strip: int = 0) -> list[Series]:
    """(name, x, y) rows ordered by name -> one series per name (``strip`` cuts the prefix)."""
    grouped: dict[str, tuple[list[X], list[Number | None]]] = {}
    for name, x, y in rows:
        xs, ys = grouped.setdefault(name[strip:], ([], []))
        xs.append(x)
        ys.append(y)
    return [Series(name, tuple(xs), tuple(ys), panel) for name, (xs, ys) in grouped.items()]


def _graph_series(data: dict[str, Any]) -> list[Series]:
    """The y columns of a stored graph JSON against its x column, named by ``names``.

    Only ``columns`` and ``names`` are read: Telegram's formatter strings (``yTickFormatter``
    and the like) are JavaScript and never evaluated."""
    columns = {c[0]: c[1:] for c in data.get("columns", []) if isinstance(c, list) and c}
    xs = columns.pop("x", None)
    names = data.get("names", {})
    if xs is None:
        return []
    return [
        Series(str(names.get(column, column)), tuple(xs), tuple(_number(v) for v in values))
        for column, values in columns.items()
    ]


def _number(value: Any) -> Number | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def _excerpt(text: str, limit: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _post_label(kind: str, post_id: int, text: str | None = None) -> str:
    label = f"{'story ' if kind == 'story' else '#'}{post_id}"
    return f"{label} {_excerpt(text, 32)}" if text and text.strip() else label


def _channel_label(title: str | None, username: str | None, channel_id: int) -> str:
    name = title or str(channel_id)
    return f"{name} (@{username})" if username else name


def _member_label(row: sa.Row[Any]) -> str:
    name = " ".join(n for n in (row.first_name, row.last_name) if n) or str(row.user_id)
    return f"{name} (@{row.username})" if row.username else name
