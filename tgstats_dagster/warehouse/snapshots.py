"""Stats snapshots in the warehouse: one ``stats_snapshots`` row and its ``stats_raw`` rows.

A snapshot is written once, in one transaction with its graphs, as soon as it is fetched;
the same snapshot stored again is left as it is. A snapshot with a graph that could not be
loaded (kind ``missing``) is stored as incomplete and never reused in place of a fetch.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pandas as pd
import sqlalchemy as sa

from tgstats_dagster.warehouse.errors import WarehouseDataError
from tgstats_dagster.warehouse.payloads import payload_text, stored_payload
from tgstats_dagster.warehouse.tables import GRAPH_KINDS
from tgstats_dagster.warehouse.upsert import write, write_transaction


@dataclass(frozen=True)
class StoredGraph:
    """One graph of a snapshot: its payload exactly as Telegram sent it, or why it has none."""

    graph: str
    kind: str
    """``inline``, ``async``, ``error`` (a StatsGraphError) or ``missing`` (load failed)."""
    data: str | None
    error: str | None
    zoom_token: str | None

    def __post_init__(self) -> None:
        if self.kind not in GRAPH_KINDS:
            raise WarehouseDataError(
                f"graph {self.graph!r}: kind {self.kind!r} is not one of {', '.join(GRAPH_KINDS)}"
            )


@dataclass(frozen=True)
class StoredSnapshot:
    """A stats snapshot of one channel: its window, scalar figures and graphs."""

    channel_id: int
    peer_key: str
    fetched_at: datetime
    period_min: datetime
    period_max: datetime
    scalars: dict[str, Any]
    graphs: tuple[StoredGraph, ...]

    @property
    def missing_graphs(self) -> tuple[str, ...]:
        """The graphs that could not be loaded."""
        return tuple(g.graph for g in self.graphs if g.kind == "missing")

    @property
    def complete(self) -> bool:
        return not self.missing_graphs


@dataclass(frozen=True)
class SnapshotHead:
    """A stored snapshot without its graphs: its window and scalar figures."""

    channel_id: int
    fetched_at: datetime
    peer_key: str
    period_min: datetime
    period_max: datetime
    scalars: dict[str, Any]


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None:
        raise WarehouseDataError(f"{name} {moment!r} has no time zone (give UTC-aware times)")
    return moment


def _snapshot_frame(snapshot: StoredSnapshot) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "channel_id": snapshot.channel_id,
                "fetched_at": snapshot.fetched_at,
                "peer_key": snapshot.peer_key,
                "period_min": snapshot.period_min,
                "period_max": snapshot.period_max,
                "scalars": snapshot.scalars,
                "complete": snapshot.complete,
                "missing_graphs": list(snapshot.missing_graphs),
            }
        ]
    )


def _graph_frame(snapshot: StoredSnapshot) -> pd.DataFrame:
    """The ``stats_raw`` rows: a payload jsonb cannot hold goes to ``data_raw``, byte for byte."""
    rows = []
    for graph in snapshot.graphs:
        data, data_raw = stored_payload(graph.data)
        rows.append(
            {
                "channel_id": snapshot.channel_id,
                "graph": graph.graph,
                "fetched_at": snapshot.fetched_at,
                "kind": graph.kind,
                "data": data,
                "data_raw": data_raw,
                "error": graph.error,
                "zoom_token": graph.zoom_token,
            }
        )
    return pd.DataFrame(rows)


class SnapshotStore:
    """Writes and reads stats snapshots (``stats_snapshots`` and ``stats_raw``)."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine

    def put(self, snapshot: StoredSnapshot) -> bool:
        """Store the snapshot and its graphs at once; False when it was stored already."""
        with write_transaction(self._engine) as connection:
            counts = write(connection, "stats_snapshots", _snapshot_frame(snapshot))
            if counts.inserted and snapshot.graphs:
                write(connection, "stats_raw", _graph_frame(snapshot))
        return counts.inserted == 1

    def latest_complete(self, channel_id: int, newer_than: datetime) -> StoredSnapshot | None:
        """The newest complete snapshot of the channel fetched after ``newer_than``, or None."""
        with self._engine.connect() as connection:
            fetched_at = connection.exec_driver_sql(
                "SELECT fetched_at FROM stats_snapshots"
                " WHERE channel_id = %s AND complete AND fetched_at > %s"
                " ORDER BY fetched_at DESC LIMIT 1",
                (channel_id, _aware(newer_than, "newer_than")),
            ).scalar()
        return None if fetched_at is None else self.get(channel_id, fetched_at)

    def newest(self, channel_ids: Collection[int]) -> dict[int, datetime]:
        """The fetch time of each channel's newest stored snapshot, complete or not."""
        with self._engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT channel_id, max(fetched_at) FROM stats_snapshots"
                " WHERE channel_id = ANY(%s) GROUP BY channel_id",
                (list(channel_ids),),
            ).all()
        return {channel_id: fetched_at.astimezone(timezone.utc) for channel_id, fetched_at in rows}

    def without_figures(self, channel_ids: Collection[int]) -> set[tuple[int, datetime]]:
        """The stored snapshots of these channels that have no ``stats_figures`` rows yet:
        their run ended before it recorded them."""
        with self._engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "SELECT s.channel_id, s.fetched_at FROM stats_snapshots AS s"
                " WHERE s.channel_id = ANY(%s) AND NOT EXISTS (SELECT 1 FROM stats_figures AS f"
                " WHERE f.channel_id = s.channel_id AND f.fetched_at = s.fetched_at)",
                (list(channel_ids),),
            ).all()
        return {(c, t.astimezone(timezone.utc)) for c, t in rows}

    def figure_sources(self, held: Collection[tuple[int, datetime]]) -> list[SnapshotHead]:
        """The ``held`` snapshots (channel id, fetch time), and every other stored snapshot
        of their channels that has no ``stats_figures`` rows yet (a run that ended before
        writing them), by channel and fetch time."""
        channels, times = zip(*held, strict=True) if held else ((), ())
        with self._engine.connect() as connection:
            rows = connection.exec_driver_sql(
                "WITH held AS (SELECT * FROM unnest(%s::bigint[], %s::timestamptz[])"
                " AS h(channel_id, fetched_at))"
                " SELECT s.channel_id, s.fetched_at, s.peer_key, s.period_min, s.period_max,"
                " s.scalars FROM stats_snapshots AS s"
                " WHERE (s.channel_id, s.fetched_at) IN (SELECT * FROM held)"
                " OR (s.channel_id IN (SELECT channel_id FROM held) AND NOT EXISTS ("
                " SELECT 1 FROM stats_figures AS f"
                " WHERE f.channel_id = s.channel_id AND f.fetched_at = s.fetched_at))"
                " ORDER BY s.channel_id, s.fetched_at",
                (list(channels), [_aware(t, "fetched_at") for t in times]),
            ).all()
        return [
            SnapshotHead(
                channel_id=channel_id,
                fetched_at=fetched_at.astimezone(timezone.utc),
                peer_key=peer_key,
                period_min=period_min.astimezone(timezone.utc),
                period_max=period_max.astimezone(timezone.utc),
                scalars=scalars,
            )
            for channel_id, fetched_at, peer_key, period_min, period_max, scalars in rows
        ]

    def get(self, channel_id: int, fetched_at: datetime) -> StoredSnapshot:
        """The stored snapshot; graphs in name order, each payload as text.

        A jsonb payload comes back as PostgreSQL writes jsonb (``data::text``); a payload kept
        in ``data_raw`` comes back exactly as it was put. Raises LookupError when absent.
        """
        key = (channel_id, _aware(fetched_at, "fetched_at"))
        with self._engine.connect() as connection:
            head = connection.exec_driver_sql(
                "SELECT peer_key, period_min, period_max, scalars FROM stats_snapshots"
                " WHERE channel_id = %s AND fetched_at = %s",
                key,
            ).one_or_none()
            if head is None:
                raise LookupError(f"no snapshot of channel {channel_id} fetched at {fetched_at}")
            rows = connection.exec_driver_sql(
                "SELECT graph, kind, data::text, data_raw, error, zoom_token FROM stats_raw"
                " WHERE channel_id = %s AND fetched_at = %s ORDER BY graph",
                key,
            ).all()
        graphs = tuple(
            StoredGraph(
                graph=graph,
                kind=kind,
                data=payload_text(raw) if raw is not None else data,
                error=error,
                zoom_token=zoom_token,
            )
            for graph, kind, data, raw, error, zoom_token in rows
        )
        peer_key, period_min, period_max, scalars = head
        return StoredSnapshot(
            channel_id=channel_id,
            peer_key=peer_key,
            fetched_at=fetched_at.astimezone(timezone.utc),
            period_min=period_min.astimezone(timezone.utc),
            period_max=period_max.astimezone(timezone.utc),
            scalars=scalars,
            graphs=graphs,
        )
