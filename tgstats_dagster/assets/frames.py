"""Telegram values <-> the warehouse's DataFrames (the contract in docs/architecture.md)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd

from tgstats_dagster.telegram.models import PeerInfo, StatsSnapshot
from tgstats_dagster.warehouse.snapshots import PEER_COLUMNS, STATS_RAW_COLUMNS


def peers_frame(peers: list[PeerInfo], now: datetime | None = None) -> pd.DataFrame:
    now = now or datetime.now(timezone.utc)
    rows = [
        {
            "peer_key": p.key,
            "channel_id": p.channel_id,
            "access_hash": p.access_hash,
            "title": p.title,
            "username": p.username,
            "kind": "megagroup" if p.megagroup else "broadcast",
            "can_view_stats": p.can_view_stats,
            "stats_dc": p.stats_dc,
            "participants_count": p.participants_count,
            "updated_at": now,
        }
        for p in peers
    ]
    return pd.DataFrame(rows, columns=PEER_COLUMNS)


def peer_from_row(row: dict) -> PeerInfo:
    """A ``telegram_peers`` row -> PeerInfo, so a known peer is never resolved again."""

    def optional_int(value: object) -> int | None:
        return None if value is None or pd.isna(value) else int(value)

    return PeerInfo(
        key=row["peer_key"],
        channel_id=int(row["channel_id"]),
        access_hash=int(row["access_hash"]),
        title=row["title"],
        username=row["username"] or None,
        broadcast=row["kind"] == "broadcast",
        megagroup=row["kind"] == "megagroup",
        can_view_stats=bool(row["can_view_stats"]),
        stats_dc=optional_int(row["stats_dc"]),
        participants_count=optional_int(row["participants_count"]),
    )


def snapshot_frame(snapshot: StatsSnapshot) -> pd.DataFrame:
    """One row per graph, each carrying the snapshot's fetch time, period and scalars."""
    scalars = json.dumps(snapshot.scalars, ensure_ascii=False, sort_keys=True)
    rows = [
        {
            "peer_key": snapshot.peer.key,
            "channel_id": snapshot.peer.channel_id,
            "fetched_at": snapshot.fetched_at,
            "period_min": snapshot.period_min,
            "period_max": snapshot.period_max,
            "scalars": scalars,
            "graph": graph.field,
            "kind": graph.kind,
            "data": graph.data,
            "error": graph.error,
            "zoom_token": graph.zoom_token,
        }
        for graph in snapshot.graphs
    ]
    return pd.DataFrame(rows, columns=STATS_RAW_COLUMNS)
