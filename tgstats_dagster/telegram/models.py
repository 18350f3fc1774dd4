"""Plain values the Telegram side hands to the rest of the project (no Telethon inside)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

#: How a graph field arrived: sent inline, loaded from an async token, answered by Telegram
#: with a StatsGraphError, or not loaded at all (the snapshot is then incomplete).
GraphKind = Literal["inline", "async", "error", "missing"]
#: What happened to one peer: done, left out for lack of statistics rights, or failed.
OutcomeStatus = Literal["loaded", "skipped", "failed"]


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
    kind: GraphKind
    data: str | None  # the DataJSON string exactly as Telegram sent it
    error: str | None  # StatsGraphError text ("error"), or why it could not load ("missing")
    zoom_token: str | None = None


@dataclass(frozen=True)
class StatsSnapshot:
    """One stats fetch of one peer; complete unless some graph is ``missing``."""

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

    @property
    def missing_graphs(self) -> tuple[str, ...]:
        """The fields of the graphs that could not be loaded, in TL order."""
        return tuple(g.field for g in self.graphs if g.kind == "missing")

    @property
    def complete(self) -> bool:
        """Every graph loaded, or answered by Telegram with a StatsGraphError."""
        return not self.missing_graphs


@dataclass(frozen=True)
class PeerOutcome:
    """What happened to one configured peer in ``StatsClient.resolve_each`` / ``fetch_each``."""

    key: str
    status: OutcomeStatus
    peer: PeerInfo | None = None
    snapshot: StatsSnapshot | None = None
    reason: str | None = None  # why skipped or failed, readable
    error: BaseException | None = None
