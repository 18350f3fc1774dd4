"""Plain values the Telegram side hands to the rest of the project (no Telethon inside)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

GRAPH_KINDS = ("inline", "async", "error")
OUTCOME_STATUSES = ("loaded", "skipped", "failed")


@dataclass(frozen=True)
class PeerInfo:
    """What ``channels.getFullChannel`` says about a configured peer."""

    key: str  # the partition key (settings.normalize_peer)
    channel_id: int
    access_hash: int
    title: str
    username: str | None
    broadcast: bool
    megagroup: bool
    can_view_stats: bool
    stats_dc: int | None
    participants_count: int | None


@dataclass(frozen=True)
class RawGraph:
    """One graph field of a stats snapshot, exactly as Telegram sent it."""

    field: str  # TL field name, e.g. "growth_graph"
    kind: str  # "inline" | "async" | "error"
    data: str | None  # the DataJSON string exactly as Telegram sent it
    error: str | None  # StatsGraphError text (or the load error that stayed)
    zoom_token: str | None


@dataclass(frozen=True)
class StatsSnapshot:
    """One stats fetch of one peer."""

    peer: PeerInfo
    fetched_at: datetime  # UTC, aware
    period_min: datetime  # UTC, aware
    period_max: datetime
    scalars: dict[str, Any]  # JSON-ready scalar fields by TL name
    graphs: tuple[RawGraph, ...]
    requests: dict[str, int]  # "<RequestName>@dc<N>" -> count

    def graph(self, field: str) -> RawGraph | None:
        """The graph of that TL field, or None when the stats type has no such field."""
        return next((g for g in self.graphs if g.field == field), None)


@dataclass(frozen=True)
class PeerOutcome:
    """What happened to one configured peer in ``StatsClient.fetch_many``."""

    key: str
    status: str  # "loaded" | "skipped" | "failed"
    peer: PeerInfo | None = None
    snapshot: StatsSnapshot | None = None
    reason: str | None = None  # why skipped or failed, readable
    error: BaseException | None = None
