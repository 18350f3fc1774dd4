"""A refresh in one run: the snapshots step writes and records the days it found changed.

Dagster materializes a run's partitions all together, and what a refresh changes is known
only after its fetch, so a run planned over every peer x day would record every day it
re-read. A refresh's snapshots run (tagged ``tgstats/record_changes``: the daily schedule
and ``tgstats refresh``) therefore records the changed (peer, day) partitions itself, as
runtime materializations of ``channel_daily``, ``channel_hourly`` and ``posts``, each with
the metadata its daily run would give it: no second run, no sensor in between, and not one
event for a day that did not change. It writes the changed days' ``channel_daily`` rows
with the same write rule as the IO manager (one transaction per peer; an unchanged value is
not rewritten). A backfill still materializes every partition it asks for in its daily
runs, and so does a snapshots run without the tag (its days are then materialized by the
changes sensor's daily runs).
"""

from collections.abc import Mapping
from datetime import date
from typing import Any

import dagster as dg

from tgstats_dagster.assets.common import log_materializations
from tgstats_dagster.assets.content import CHANNEL_HOURLY, POSTS, hourly_about, posts_about
from tgstats_dagster.assets.pivot import CHANNEL_DAILY, PeerPivot, partition_about
from tgstats_dagster.partitions import PeerDay
from tgstats_dagster.resources import WarehouseResource
from tgstats_dagster.telegram.figures import AUDIENCE
from tgstats_dagster.warehouse.upsert import WriteCounts, write, write_transaction


def record_changes(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    pivots: Mapping[str, tuple[PeerPivot, str]],
    changed: Mapping[str, list[date]],
    content_days: Mapping[str, list[date]],
    order: list[str],
) -> None:
    """Write the changed days' ``channel_daily`` rows of each peer (``pivots``: its pivot
    over the run's days, and its snapshot's fetch time) and log one materialization per
    changed partition, newest day last (each asset's latest materialization is then the
    newest day)."""
    known = warehouse.peers.known(list({*changed, *content_days}))
    total = WriteCounts()
    events: list[tuple[date, int, dg.AssetMaterialization]] = []
    position = {peer: index for index, peer in enumerate(order)}
    for peer, days in changed.items():
        pivot, fetched_at = pivots[peer]
        frame = pivot.frame[pivot.frame["day"].isin(days)] if len(pivot.frame) else pivot.frame
        with write_transaction(warehouse.engine) as connection:
            total += write(connection, "channel_daily", frame)
        audience = AUDIENCE.get(str(known.get(peer, {}).get("kind", "")), "followers")
        for day in days:
            about = partition_about(pivot, day, audience, fetched_at)
            events.append((day, position.get(peer, 0), _event(CHANNEL_DAILY, peer, day, about)))
    if content_days:
        channels = {peer: int(row["channel_id"]) for peer, row in known.items()}
        spans = [d for days in content_days.values() for d in days]
        first, last = min(spans), max(spans)
        hours = warehouse.content.hours_by_day(list(channels.values()), first, last)
        posts = warehouse.content.posts_by_day(list(channels.values()), first, last)
        for key, about_days in (
            (CHANNEL_HOURLY, hourly_about(content_days, channels, hours)[0]),
            (POSTS, posts_about(content_days, channels, posts)[0]),
        ):
            for (peer, day), about in about_days.items():
                events.append((day, position.get(peer, 0), _event(key, peer, day, about)))
    context.log.info(
        f"channel_daily: {total.inserted} row(s) inserted, {total.updated} updated, "
        f"{total.unchanged} unchanged, of the changed days; {len(events)} partition(s) recorded"
    )
    log_materializations(context, [event for _, _, event in sorted(events, key=lambda e: e[:2])])


def _event(
    key: dg.AssetKey, peer: str, day: date, about: Mapping[str, Any]
) -> dg.AssetMaterialization:
    return dg.AssetMaterialization(
        asset_key=key, partition=str(PeerDay(peer, day).key), metadata=dict(about)
    )
