"""Snapshots and partitions in and out of the warehouse, as DataFrames (no Dagster here).

The frames have the columns of the DataFrame contract the assets write (docs/architecture.md),
timestamps as UTC-aware pandas datetimes and JSON columns as JSON text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa

from tgstats_dagster.warehouse.copy_format import WarehouseDataError
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.migrations import ensure_schema
from tgstats_dagster.warehouse.upsert import (
    WriteCounts,
    check_unique_keys,
    write,
    write_transaction,
)

SNAPSHOT_COLUMNS = ["peer_key", "channel_id", "fetched_at", "period_min", "period_max", "scalars"]
RAW_COLUMNS = ["graph", "kind", "data", "error", "zoom_token"]
STATS_RAW_COLUMNS = SNAPSHOT_COLUMNS + RAW_COLUMNS
CHANNEL_DAILY_COLUMNS = ["peer_key", "channel_id", "day", "metric", "value", "fetched_at"]
PEER_COLUMNS = [
    "peer_key",
    "channel_id",
    "access_hash",
    "title",
    "username",
    "kind",
    "can_view_stats",
    "stats_dc",
    "participants_count",
    "updated_at",
]
_TIMESTAMPS = ("fetched_at", "period_min", "period_max", "updated_at")

_SNAPSHOT_SELECT = (
    "s.peer_key, s.channel_id, s.fetched_at, s.period_min, s.period_max, s.scalars::text,"
    " r.graph, r.kind, r.data::text, r.error, r.zoom_token"
)


def _frame(
    engine: sa.Engine, query: str, params: Sequence[Any], columns: list[str]
) -> pd.DataFrame:
    with engine.connect() as connection:
        rows = connection.exec_driver_sql(query, tuple(params)).all()
    frame = pd.DataFrame([tuple(row) for row in rows], columns=columns)
    for name in _TIMESTAMPS:
        if name in frame.columns:
            frame[name] = pd.to_datetime(frame[name], utc=True)
    for name in ("channel_id", "access_hash"):
        if name in frame.columns and len(frame):
            frame[name] = frame[name].astype("int64")
    return frame


def _exact_numbers(values: pd.Series) -> pd.Series:
    """NUMERIC values -> int where whole (int64 when they all fit), float otherwise."""

    def convert(value: Decimal | None) -> int | float | None:
        if value is None:
            return None
        return int(value) if value == value.to_integral_value() else float(value)

    numbers = [convert(v) for v in values]
    if numbers and all(type(n) is int and -(2**63) <= n < 2**63 for n in numbers):
        return pd.Series(numbers, index=values.index, dtype="int64")
    return pd.Series(numbers, index=values.index, dtype=object)


def channel_daily_rows(
    engine: sa.Engine, partitions: Sequence[tuple[str, date]] | None
) -> pd.DataFrame:
    """The ``channel_daily`` rows of these (peer_key, day) partitions (None: every row).

    ``value`` is int64 when every value is a whole number that fits, otherwise an object
    column of exact ints and floats (None for NULL).
    """
    query = f"SELECT {', '.join(CHANNEL_DAILY_COLUMNS)} FROM channel_daily"
    params: list[Any] = []
    if partitions is not None:
        query += (
            " WHERE (day, peer_key) IN (SELECT d, p FROM unnest(%s::text[], %s::date[]) AS u(p, d))"
        )
        params = [[p for p, _ in partitions], [d for _, d in partitions]]
    frame = _frame(engine, query + " ORDER BY peer_key, day, metric", params, CHANNEL_DAILY_COLUMNS)
    frame["value"] = _exact_numbers(frame["value"])
    return frame


def stats_raw_rows(engine: sa.Engine, partitions: Sequence[tuple[str, date]]) -> pd.DataFrame:
    """One row per (peer_key, day, graph) of these partitions: the snapshot each holds."""
    query = (
        f"SELECT {_SNAPSHOT_SELECT}, d.day"
        " FROM unnest(%s::text[], %s::date[]) AS u(p, d)"
        " JOIN stats_raw_days d ON d.peer_key = u.p AND d.day = u.d"
        " JOIN stats_snapshots s ON s.channel_id = d.channel_id AND s.fetched_at = d.fetched_at"
        " JOIN stats_raw r ON r.channel_id = d.channel_id AND r.fetched_at = d.fetched_at"
        " ORDER BY d.peer_key, d.day, r.graph"
    )
    params = [[p for p, _ in partitions], [d for _, d in partitions]]
    return _frame(engine, query, params, [*STATS_RAW_COLUMNS, "day"])


def peer_rows(engine: sa.Engine, peer_keys: Sequence[str] | None) -> pd.DataFrame:
    """The ``telegram_peers`` rows of these peers (None: every peer)."""
    query = f"SELECT {', '.join(PEER_COLUMNS)} FROM telegram_peers"
    params: list[Any] = []
    if peer_keys is not None:
        query += " WHERE peer_key = ANY(%s::text[])"
        params = [list(peer_keys)]
    return _frame(engine, query + " ORDER BY peer_key", params, PEER_COLUMNS)


def latest_snapshot(engine: sa.Engine, peer_key: str, newer_than: datetime) -> pd.DataFrame | None:
    """The peer's newest snapshot fetched after ``newer_than``, as ``stats_raw`` rows.

    The columns are the ``stats_raw`` DataFrame contract, so an asset can write it again
    instead of fetching Telegram; None when there is no such snapshot.
    """
    query = (
        f"SELECT {_SNAPSHOT_SELECT} FROM ("
        "  SELECT * FROM stats_snapshots WHERE peer_key = %s AND fetched_at > %s"
        "  ORDER BY fetched_at DESC LIMIT 1) AS s"
        " JOIN stats_raw r ON r.channel_id = s.channel_id AND r.fetched_at = s.fetched_at"
        " ORDER BY r.graph"
    )
    frame = _frame(engine, query, [peer_key, newer_than], STATS_RAW_COLUMNS)
    return frame if len(frame) else None


def known_peer(engine: sa.Engine, peer_key: str) -> dict[str, Any] | None:
    """The ``telegram_peers`` row of ``peer_key`` as a dict, or None."""
    frame = peer_rows(engine, [peer_key])
    if frame.empty:
        return None
    row = {k: v.item() if isinstance(v, np.generic) else v for k, v in frame.iloc[0].items()}
    for name in ("stats_dc", "participants_count"):
        row[name] = None if pd.isna(row[name]) else int(row[name])
    row["updated_at"] = row["updated_at"].to_pydatetime()
    return row


def snapshot_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The ``stats_snapshots`` rows of a ``stats_raw`` frame (one per snapshot).

    Raises WarehouseDataError when a column is missing or when the snapshot columns differ
    between rows of one snapshot.
    """
    missing = [c for c in STATS_RAW_COLUMNS if c not in frame.columns]
    if missing:
        raise WarehouseDataError(f"stats_raw: missing column(s) {', '.join(missing)}")
    rows = frame[SNAPSHOT_COLUMNS].drop_duplicates()
    try:
        check_unique_keys(rows, ("channel_id", "fetched_at"), "stats_snapshots")
    except WarehouseDataError as exc:
        raise WarehouseDataError(
            f"{exc} (the snapshot columns differ between rows of one snapshot)"
        ) from None
    return rows


def write_snapshots(
    connection: psycopg.Connection, frame: pd.DataFrame, snapshots: pd.DataFrame
) -> tuple[WriteCounts, WriteCounts]:
    """Insert the snapshots and their raw graphs once; returns (snapshot, graph) counts."""
    return write(connection, "stats_snapshots", snapshots), write(connection, "stats_raw", frame)


def store_snapshot(engine: sa.Engine, frame: pd.DataFrame) -> WriteCounts:
    """Keep a fetched snapshot (``stats_raw`` contract rows) at once; written once, ever."""
    snapshots = snapshot_rows(frame)
    with write_transaction(engine) as connection:
        return write_snapshots(connection, frame, snapshots)[1]


def peers_without_stats_rights(database_url: str) -> set[str]:
    """The peer keys whose stored entity says ``can_view_stats`` is false."""
    ensure_schema(database_url)
    with make_engine(database_url).connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT peer_key FROM telegram_peers WHERE NOT can_view_stats"
        ).all()
    return {row[0] for row in rows}
