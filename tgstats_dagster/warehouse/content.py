"""A channel's statistics beyond its stats snapshot, in the warehouse: hourly zooms, posts and
stories with their statistics and public forwards, revenue, and their raw graphs.

The frame builders here take plain values (tuples, mappings, :class:`StoredGraph`), so the
warehouse knows nothing of the Telegram side: the assets turn Telegram's values into them,
parsing the graphs and naming the metrics by the rule ``channel_daily`` follows
(``growth.total_followers``). A builder checks what the table cannot take (a time without
a time zone, an hour not on the hour, text PostgreSQL cannot hold) and, for the tables where
the newest fetch wins, keeps the newest of the rows a batch holds for one key (zooms
overlap: two zooms of one run give the same hours). :meth:`ContentStore.put` writes the
frames of one fetch in one transaction, each by its table's rule (:mod:`upsert`).

The mappings are what ``dataclasses.asdict`` makes of the Telegram side's plain values
(``telegram.content_models``): a ``Post``; a ``PublicForward`` with its post's ``kind``,
``post_id`` and ``fetched_at``; a ``PostStats`` with its post's ``published_at``; a
``CurrencyRevenue``. Keys a table has no column for are ignored.

Which zooms and post statistics are still worth a request is read back from the tables:
:meth:`ContentStore.zoom_days_kept` and :meth:`ContentStore.posts_needing_stats`; which rows a
fetch changes (so which partitions to materialize), by :meth:`ContentStore.changed`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import sqlalchemy as sa
from psycopg import sql

from tgstats_dagster.warehouse.copy_rows import copy_rows, frame_values
from tgstats_dagster.warehouse.errors import WarehouseDataError
from tgstats_dagster.warehouse.payloads import payload_text, stored_payload
from tgstats_dagster.warehouse.snapshots import StoredGraph
from tgstats_dagster.warehouse.tables import TABLES
from tgstats_dagster.warehouse.upsert import (
    RULES,
    WriteCounts,
    change_condition,
    check_unique_keys,
    write,
    write_transaction,
)

Number = int | float | Decimal
# A NUL or a UTF-16 surrogate: PostgreSQL text holds neither.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class HourlyPoint(NamedTuple):
    """One hourly point of a zoomed graph (``channel_hourly``)."""

    hour: datetime  # on the hour, aware
    metric: str  # e.g. growth.total_followers
    value: Number | None
    fetched_at: datetime  # when the zoom was fetched


class TimelinePoint(NamedTuple):
    """One point of a post's or story's graph (``post_timeline``)."""

    kind: str  # message or story
    post_id: int
    ts: datetime
    metric: str  # e.g. views.views, reactions_by_emotion.👍
    value: Number | None
    fetched_at: datetime


class PostsOfDay(NamedTuple):
    """What the warehouse holds of the posts and stories published on one day."""

    messages: int
    stories: int
    views: int  # of the messages and stories, by their newest counters
    with_stats: int  # whose statistics were fetched
    incomplete: list[str]  # "message 42": statistics fetched incomplete
    forwards: int  # public forwards kept


class RawPayload(NamedTuple):
    """One graph beyond the snapshot, exactly as sent (``content_raw``)."""

    source: str  # see zoom_source, post_source, revenue_source
    fetched_at: datetime
    graph: StoredGraph


def zoom_source(day: date) -> str:
    """``content_raw.source`` of the zoom asked for ``day``: ``zoom:2026-03-01``."""
    return f"zoom:{day.isoformat()}"


def post_source(kind: str, post_id: int) -> str:
    """``content_raw.source`` of a post's (``message:42``) or story's (``story:7``) graphs."""
    return f"{kind}:{post_id}"


def revenue_source(currency: str) -> str:
    """``content_raw.source`` of a currency's revenue graphs: ``revenue:stars``."""
    return f"revenue:{currency}"


def is_settled(
    complete: bool, published_at: datetime, fetched_at: datetime, settle_after: timedelta
) -> bool:
    """Whether a post's statistics, fetched at ``fetched_at``, are loaded for good: fetched
    complete when the post was at least ``settle_after`` old (its figures stopped changing)."""
    return complete and fetched_at - published_at >= settle_after


def raw_frame(channel_id: int, payloads: Iterable[RawPayload]) -> pd.DataFrame:
    """``content_raw`` rows: a payload jsonb cannot hold goes to ``data_raw``, byte for byte."""
    rows = []
    for source, fetched_at, graph in payloads:
        data, data_raw = stored_payload(graph.data)
        rows.append(
            {
                "channel_id": channel_id,
                "source": source,
                "graph": graph.graph,
                "fetched_at": _aware(fetched_at, "fetched_at"),
                "kind": graph.kind,
                "data": data,
                "data_raw": data_raw,
                "error": graph.error,
                "zoom_token": graph.zoom_token,
            }
        )
    return _frame("content_raw", rows)


def hourly_frame(channel_id: int, points: Iterable[HourlyPoint]) -> pd.DataFrame:
    """``channel_hourly`` rows; of the points of one hour and metric, the newest fetch's."""
    rows = []
    for hour, metric, value, fetched_at in points:
        _aware(hour, "hour")
        if pd.Timestamp(hour) != pd.Timestamp(hour).floor("h"):
            raise WarehouseDataError(f"channel_hourly: {hour.isoformat()} is not on the hour")
        rows.append(
            {
                "channel_id": channel_id,
                "hour": hour,
                "metric": metric,
                "value": value,
                "fetched_at": _aware(fetched_at, "fetched_at"),
            }
        )
    return _newest("channel_hourly", _frame("channel_hourly", rows))


def timeline_frame(channel_id: int, points: Iterable[TimelinePoint]) -> pd.DataFrame:
    """``post_timeline`` rows; of the points of one key, the newest fetch's."""
    rows = [
        {
            "channel_id": channel_id,
            "kind": kind,
            "post_id": post_id,
            "ts": _aware(ts, "ts"),
            "metric": metric,
            "value": value,
            "fetched_at": _aware(fetched_at, "fetched_at"),
        }
        for kind, post_id, ts, metric, value, fetched_at in points
    ]
    return _newest("post_timeline", _frame("post_timeline", rows))


def posts_frame(channel_id: int, posts: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """``posts`` rows from mappings with the table's columns (``kind``, ``post_id``,
    ``published_at``, ``views``, ``forwards``, ``replies``, ``reactions``,
    ``reactions_by_emoji``, ``text``, ``fetched_at``); other keys are ignored. Of the rows
    of one post, the newest fetch's."""
    frame = _records("posts", channel_id, posts)
    _check_text(frame, "posts", ("text",))
    return _newest("posts", frame)


def forwards_frame(channel_id: int, forwards: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """``post_forwards`` rows: mappings with the forwarded post (``kind``, ``post_id``), the
    forward (``source_kind``, ``source_channel_id``, ``source_message_id``, ``forwarded_at``,
    ``views``, ``title``, ``username``) and ``fetched_at``.

    A forward listed twice (pages that overlap) keeps its newest row. A channel's message and
    its story with the same id that both forward one post are refused: the table's key has
    no ``source_kind``, so one of them would be lost.
    """
    frame = _records("post_forwards", channel_id, forwards)
    _check_text(frame, "post_forwards", ("title", "username"))
    key = list(RULES["post_forwards"].key)
    kinds = frame.groupby(key, sort=False)["source_kind"].nunique()
    if (kinds > 1).any():
        clash = dict(zip(key, kinds.index[(kinds > 1).to_numpy().argmax()], strict=True))
        raise WarehouseDataError(
            f"post_forwards: a message and a story of channel {clash['source_channel_id']} "
            f"with id {clash['source_message_id']} both forward {clash['kind']} "
            f"{clash['post_id']}; the table keeps one forward per source id"
        )
    return _newest("post_forwards", frame)


def post_stats_frame(
    channel_id: int, stats: Iterable[Mapping[str, Any]], settle_after: timedelta
) -> pd.DataFrame:
    """``post_stats`` rows: mappings with ``kind``, ``post_id``, ``published_at`` (the
    post's), ``fetched_at`` and ``missing`` (the graphs, or ``public_forwards``, that kept
    failing). Complete when nothing is missing; settled by :func:`is_settled`."""
    rows = []
    for item in stats:
        record = _pick(item, ("kind", "post_id", "published_at", "fetched_at", "missing"))
        missing = list(record["missing"])
        complete = not missing
        published_at = _aware(record["published_at"], "published_at")
        fetched_at = _aware(record["fetched_at"], "fetched_at")
        rows.append(
            {
                "channel_id": channel_id,
                "kind": record["kind"],
                "post_id": record["post_id"],
                "complete": complete,
                "settled": is_settled(complete, published_at, fetched_at, settle_after),
                "missing": missing,
                "fetched_at": fetched_at,
            }
        )
    return _newest("post_stats", _frame("post_stats", rows))


def revenue_frame(
    channel_id: int, fetched_at: datetime, currencies: Iterable[Mapping[str, Any]]
) -> pd.DataFrame:
    """``revenue_status`` rows of one fetch: mappings with ``currency``, ``current_balance``,
    ``available_balance``, ``overall_revenue``, ``usd_rate``, ``withdrawal_enabled`` and
    ``next_withdrawal_at``."""
    stamp = _aware(fetched_at, "fetched_at")
    return _records("revenue_status", channel_id, ({**c, "fetched_at": stamp} for c in currencies))


class ContentStore:
    """Writes the content tables (one transaction per fetch) and reads back what is kept."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def put(self, frames: Mapping[str, pd.DataFrame]) -> dict[str, WriteCounts]:
        """Write each table's frame by its rule, all in one transaction: what one fetch
        brought lands whole or not at all."""
        with write_transaction(self._engine) as connection:
            return {table: write(connection, table, frame) for table, frame in frames.items()}

    def changed(self, table: str, frame: pd.DataFrame) -> pd.Series:
        """Which rows of ``frame`` a write of ``table`` would insert or rewrite, by its rule
        (True: new, or a changed value from a fetch at least as new as the stored one).

        Asked before :meth:`put`, it tells which partitions a fetch changes (the days of the
        changed hours, of the changed posts), so that only those are materialized.
        """
        rule = RULES[table]
        names = list(dict.fromkeys([*rule.key, *rule.compare, *filter(None, [rule.newer])]))
        columns = [TABLES[table].c[name] for name in names]
        values = frame_values(frame, columns)
        if frame.empty:
            return pd.Series(False, index=frame.index, dtype=bool)
        check_unique_keys(frame, rule.key, table)
        stage = sql.Identifier(f"changed_{table}")
        t = sql.Identifier(table)
        same_key = sql.SQL(" AND ").join(
            sql.SQL("t.{0} = s.{0}").format(sql.Identifier(n)) for n in rule.key
        )
        condition = sql.SQL("t.{} IS NULL").format(sql.Identifier(rule.key[0]))
        if not rule.once:
            condition = sql.SQL("{} OR ({})").format(condition, change_condition(rule, "t", "s"))
        position = sa.Column("position", sa.BigInteger)
        with write_transaction(self._engine) as connection:
            connection.execute(
                sql.SQL(
                    "CREATE TEMP TABLE {s} ON COMMIT DROP AS SELECT {c}, 0::bigint AS position"
                    " FROM {t} WITH NO DATA"
                ).format(s=stage, c=sql.SQL(", ").join(map(sql.Identifier, names)), t=t)
            )
            copy_rows(connection, stage, [*columns, position], [*values, list(range(len(frame)))])
            query = sql.SQL("SELECT s.position FROM {s} AS s LEFT JOIN {t} AS t ON {k} WHERE {w}")
            rows = connection.execute(
                query.format(s=stage, t=t, k=same_key, w=condition)
            ).fetchall()
        changed = np.zeros(len(frame), dtype=bool)
        changed[[row[0] for row in rows]] = True
        return pd.Series(changed, index=frame.index)

    def raw(self, channel_id: int, source: str) -> list[RawPayload]:
        """The stored payloads of one source, by graph and fetch time; a payload kept in
        ``data_raw`` comes back exactly as it was put, a jsonb one as PostgreSQL writes it."""
        with self._engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT graph, fetched_at, kind, data::text, data_raw, error, zoom_token"
                " FROM content_raw WHERE channel_id = %s AND source = %s"
                " ORDER BY graph, fetched_at",
                (channel_id, source),
            ).all()
        return [
            RawPayload(
                source,
                fetched_at.astimezone(timezone.utc),
                StoredGraph(
                    graph=graph,
                    kind=kind,
                    data=payload_text(raw) if raw is not None else data,
                    error=error,
                    zoom_token=zoom_token,
                ),
            )
            for graph, fetched_at, kind, data, raw, error, zoom_token in rows
        ]

    def zoom_days_kept(self, channel_id: int, field: str, first: date, last: date) -> set[date]:
        """The days from ``first`` to ``last`` that need no zoom of graph ``field`` any more.

        A day is kept when ``channel_hourly`` holds all its 24 hours of the graph's metrics
        (``growth_graph`` -> ``growth.*``; a zoom spans the days around the one asked, so one
        zoom keeps several days) and the newest of them was fetched after the day ended; or
        when the zoom asked for that day was answered (inline, or Telegram's StatsGraphError
        such as ``NOT_ENOUGH_DATA``) by a fetch made after the day ended. A zoom that could not
        be loaded (``missing``) keeps nothing.
        """
        prefix = f"{field.removesuffix('_graph')}."
        start, end = _utc_span(first, last)
        with self._engine.connect() as connection:
            hourly = connection.exec_driver_sql(
                "SELECT day FROM (SELECT (hour AT TIME ZONE 'UTC')::date AS day,"
                " count(DISTINCT hour) AS hours, max(fetched_at) AS fetched_at"
                " FROM channel_hourly WHERE channel_id = %s AND left(metric, length(%s)) = %s"
                " AND hour >= %s AND hour < %s GROUP BY 1) AS h"
                " WHERE hours = 24 AND fetched_at >= (day + 1) AT TIME ZONE 'UTC'",
                (channel_id, prefix, prefix, start, end),
            ).scalars()
            answered = connection.exec_driver_sql(
                "SELECT day FROM (SELECT substr(source, 6)::date AS day, fetched_at"
                " FROM content_raw WHERE channel_id = %s AND graph = %s"
                " AND source LIKE 'zoom:%%' AND kind IN ('inline', 'error')) AS z"
                " WHERE day BETWEEN %s AND %s AND fetched_at >= (day + 1) AT TIME ZONE 'UTC'",
                (channel_id, field, first, last),
            ).scalars()
            return set(hourly) | set(answered)

    def posts_needing_stats(
        self, channel_id: int, published_from: datetime, published_until: datetime
    ) -> list[tuple[str, int, datetime]]:
        """The posts and stories published in ``[published_from, published_until)`` whose
        statistics are still to fetch, as (kind, post id, published at), oldest first.

        That is: never fetched (no ``post_stats`` row), fetched incomplete, or not settled.
        A post fetched complete while younger than the settling age is not settled: it is
        fetched again, and settles with the first complete fetch once it is old enough
        (:func:`is_settled`); after that it is never fetched again.
        """
        with self._engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT p.kind, p.post_id, p.published_at FROM posts AS p"
                " LEFT JOIN post_stats AS s USING (channel_id, kind, post_id)"
                " WHERE p.channel_id = %s AND p.published_at >= %s AND p.published_at < %s"
                " AND (s.post_id IS NULL OR NOT s.complete OR NOT s.settled)"
                " ORDER BY p.published_at, p.kind, p.post_id",
                (
                    channel_id,
                    _aware(published_from, "published_from"),
                    _aware(published_until, "published_until"),
                ),
            ).all()
        return [(kind, post_id, at.astimezone(timezone.utc)) for kind, post_id, at in rows]

    def newest_graphs(
        self, channel_id: int, sources: Sequence[str], graph: str
    ) -> dict[str, StoredGraph]:
        """Of each source, the graph ``graph`` of its newest fetch (a source never fetched,
        or whose newest fetch lacks that graph, is left out)."""
        with self._engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT DISTINCT ON (source) source, kind, data::text, data_raw, error,"
                " zoom_token FROM content_raw WHERE channel_id = %s AND source = ANY(%s)"
                " AND graph = %s ORDER BY source, fetched_at DESC",
                (channel_id, list(sources), graph),
            ).all()
        return {
            source: StoredGraph(
                graph=graph,
                kind=kind,
                data=payload_text(raw) if raw is not None else data,
                error=error,
                zoom_token=zoom_token,
            )
            for source, kind, data, raw, error, zoom_token in rows
        }

    def hours_by_day(
        self, channel_ids: Sequence[int], first: date, last: date
    ) -> dict[tuple[int, date], tuple[int, int]]:
        """(channel id, UTC day) -> (hours kept, metrics kept) of ``channel_hourly``."""
        start, end = _utc_span(first, last)
        with self._engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT channel_id, (hour AT TIME ZONE 'UTC')::date, count(DISTINCT hour),"
                " count(DISTINCT metric) FROM channel_hourly WHERE channel_id = ANY(%s)"
                " AND hour >= %s AND hour < %s GROUP BY 1, 2",
                (list(channel_ids), start, end),
            ).all()
        return {(c, d): (int(h), int(m)) for c, d, h, m in rows}

    def posts_by_day(
        self, channel_ids: Sequence[int], first: date, last: date
    ) -> dict[tuple[int, date], PostsOfDay]:
        """(channel id, UTC day of publication) -> what ``posts``, ``post_stats`` and
        ``post_forwards`` hold of the posts and stories published that day."""
        start, end = _utc_span(first, last)
        with self._engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT p.channel_id, (p.published_at AT TIME ZONE 'UTC')::date,"
                " count(*) FILTER (WHERE p.kind = 'message'),"
                " count(*) FILTER (WHERE p.kind = 'story'),"
                " coalesce(sum(p.views), 0),"
                " count(*) FILTER (WHERE s.post_id IS NOT NULL),"
                " coalesce(array_agg(p.kind || ' ' || p.post_id ORDER BY p.post_id)"
                " FILTER (WHERE NOT s.complete), '{}'),"
                " coalesce(sum((SELECT count(*) FROM post_forwards AS f"
                " WHERE f.channel_id = p.channel_id AND f.kind = p.kind"
                " AND f.post_id = p.post_id)), 0)"
                " FROM posts AS p LEFT JOIN post_stats AS s USING (channel_id, kind, post_id)"
                " WHERE p.channel_id = ANY(%s) AND p.published_at >= %s AND p.published_at < %s"
                " GROUP BY 1, 2",
                (list(channel_ids), start, end),
            ).all()
        return {
            (c, d): PostsOfDay(int(m), int(s), int(v), int(st), list(inc), int(f))
            for c, d, m, s, v, st, inc, f in rows
        }

    def newest_balances(self, channel_ids: Sequence[int]) -> dict[int, dict[str, dict[str, float]]]:
        """channel id -> currency -> its newest ``revenue_status`` amounts (as floats)."""
        with self._engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT DISTINCT ON (channel_id, currency) channel_id, currency,"
                " current_balance, available_balance, overall_revenue, usd_rate"
                " FROM revenue_status WHERE channel_id = ANY(%s)"
                " ORDER BY channel_id, currency, fetched_at DESC",
                (list(channel_ids),),
            ).all()
        out: dict[int, dict[str, dict[str, float]]] = {}
        for channel_id, currency, current, available, overall, rate in rows:
            amounts = {
                "current_balance": float(current),
                "available_balance": float(available),
                "overall_revenue": float(overall),
            }
            if rate is not None:
                amounts["usd_rate"] = float(rate)
            out.setdefault(channel_id, {})[currency] = amounts
        return out


def _utc_span(first: date, last: date) -> tuple[datetime, datetime]:
    """00:00 UTC of ``first`` and of the day after ``last``."""
    return (
        datetime.combine(first, time(), timezone.utc),
        datetime.combine(last + timedelta(days=1), time(), timezone.utc),
    )


def _aware(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None:
        raise WarehouseDataError(f"{name} {moment!r} has no time zone (give UTC-aware times)")
    return moment


def _columns(table: str) -> list[str]:
    """The columns a write of ``table`` takes (its rule's, which leaves out the stamp)."""
    rule = RULES[table]
    return [name for name in rule.columns(TABLES[table]) if name != rule.stamp]


def _frame(table: str, rows: list[dict[str, Any]]) -> pd.DataFrame:
    # object columns: integers stay exact, and None stays a missing value (never NaN)
    return pd.DataFrame(rows, columns=_columns(table), dtype=object)


def _pick(record: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    missing = [name for name in names if name not in record]
    if missing:
        raise WarehouseDataError(f"a record lacks {', '.join(missing)}: {dict(record)!r:.200}")
    return {name: record[name] for name in names}


def _records(table: str, channel_id: int, records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    names = [name for name in _columns(table) if name != "channel_id"]
    rows = []
    for record in records:
        row = {"channel_id": channel_id, **_pick(record, names)}
        row["fetched_at"] = _aware(row["fetched_at"], "fetched_at")
        rows.append(row)
    return _frame(table, rows)


def _check_text(frame: pd.DataFrame, table: str, columns: Sequence[str]) -> None:
    """Refuse text PostgreSQL cannot hold (a NUL, a lone surrogate), naming the row."""
    key = list(RULES[table].key)
    for column in columns:
        for index, value in frame[column].items():
            if isinstance(value, str) and _UNSTORABLE.search(value):
                shown = ", ".join(f"{k}={frame.at[index, k]}" for k in key)
                raise WarehouseDataError(
                    f"{table} ({shown}): {column} holds a NUL or a lone surrogate, "
                    "which PostgreSQL text cannot store"
                )


def _newest(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Of the rows of one key, the one fetched last (at equal fetch times, the last given)."""
    key = list(RULES[table].key)
    ordered = frame.sort_values("fetched_at", kind="stable")
    return ordered.drop_duplicates(subset=key, keep="last").sort_index().reset_index(drop=True)
