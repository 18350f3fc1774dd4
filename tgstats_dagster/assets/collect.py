"""Get a snapshot of every peer of a run: reuse a stored complete one, or fetch it and store
it at once, so that a run that dies later loses no finished fetch."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from tgstats_dagster.telegram.errors import FloodWaitTooLong
from tgstats_dagster.telegram.models import PeerInfo, StatsSnapshot
from tgstats_dagster.telegram.stats import StatsClient
from tgstats_dagster.warehouse.snapshots import SnapshotStore, StoredGraph, StoredSnapshot

#: Progress is logged at most this often (each log line is an event Dagster stores).
PROGRESS_EVERY_SECONDS = 10.0


@dataclass(frozen=True)
class SnapshotRef:
    """Which stored snapshot a peer's partitions hold."""

    channel_id: int
    fetched_at: datetime
    reused: bool
    missing_graphs: tuple[str, ...]

    @property
    def complete(self) -> bool:
        return not self.missing_graphs


@dataclass
class Collected:
    """The outcome of a run's peers: a stored snapshot, a failure, or no stats rights."""

    snapshots: dict[str, SnapshotRef] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    no_rights: dict[str, str] = field(default_factory=dict)
    flood: FloodWaitTooLong | None = None  # the longest flood wait met
    flooded: set[str] = field(default_factory=set)  # peers stopped by a flood wait


def stored_snapshot(snapshot: StatsSnapshot) -> StoredSnapshot:
    """The Telegram side's snapshot as the warehouse keeps it."""
    return StoredSnapshot(
        channel_id=snapshot.peer.channel_id,
        peer_key=snapshot.peer.key,
        fetched_at=snapshot.fetched_at,
        period_min=snapshot.period_min,
        period_max=snapshot.period_max,
        scalars=snapshot.scalars,
        graphs=tuple(
            StoredGraph(g.field, g.kind, g.data, g.error, g.zoom_token) for g in snapshot.graphs
        ),
    )


async def collect_snapshots(
    peers: Mapping[str, PeerInfo],
    store: SnapshotStore,
    client: Callable[[], Awaitable[StatsClient]],
    max_age: timedelta,
    log: logging.Logger,
) -> Collected:
    """A snapshot for every peer of ``peers``: reused when a complete one is younger than
    ``max_age``, else fetched (``client()`` connects on first use) and stored as it arrives."""
    collected = Collected()
    newer_than = datetime.now(timezone.utc) - max_age
    to_fetch: list[PeerInfo] = []
    for key, peer in peers.items():
        reused = await asyncio.to_thread(store.latest_complete, peer.channel_id, newer_than)
        if reused is None:
            to_fetch.append(peer)
        else:
            collected.snapshots[key] = SnapshotRef(peer.channel_id, reused.fetched_at, True, ())
    if collected.snapshots:
        log.info(f"{len(collected.snapshots)} peer(s) reuse a stored complete snapshot")
    if not to_fetch:
        return collected

    stats = await client()
    started = last_report = time.monotonic()
    done = 0
    async for outcome in stats.fetch_each(to_fetch):
        done += 1
        if outcome.snapshot is not None:
            snapshot = outcome.snapshot
            await asyncio.to_thread(store.put, stored_snapshot(snapshot))
            collected.snapshots[outcome.key] = SnapshotRef(
                snapshot.peer.channel_id, snapshot.fetched_at, False, snapshot.missing_graphs
            )
            if snapshot.missing_graphs:
                log.warning(
                    f"{outcome.key}: snapshot stored INCOMPLETE, graphs not loaded: "
                    + ", ".join(
                        f"{g.field} ({g.error})" for g in snapshot.graphs if g.kind == "missing"
                    )
                )
        elif outcome.status == "skipped":
            collected.no_rights[outcome.key] = outcome.reason or "no stats rights"
        elif isinstance(outcome.error, FloodWaitTooLong):
            collected.flood = max(collected.flood, outcome.error, key=_seconds)
            collected.flooded.add(outcome.key)
            collected.failed[outcome.key] = str(outcome.error)
        else:
            collected.failed[outcome.key] = outcome.reason or "failed"
            log.error(f"{outcome.key}: {collected.failed[outcome.key]}")
        now = time.monotonic()
        if now - last_report >= PROGRESS_EVERY_SECONDS or done == len(to_fetch):
            last_report = now
            log.info(
                f"fetched {done} of {len(to_fetch)} peer(s) in {now - started:.0f} s, "
                f"{sum(stats.requests.values())} Telegram requests"
            )
    return collected


def _seconds(error: FloodWaitTooLong | None) -> int:
    return -1 if error is None else error.seconds
