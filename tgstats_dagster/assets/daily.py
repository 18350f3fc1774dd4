"""The daily pivot: one row per (channel, day, metric), partitioned by stats peer x day.

One step for every partition of its run, whatever the number of peers, without Telegram:
each peer's newest stored snapshot (``stats_raw``) is read back and parsed once, and its
rows for the run's days stream to the warehouse IO manager, one peer in memory at a time.
A refresh materializes only the days its snapshots changed (see
:mod:`tgstats_dagster.runs`); a backfill every day it asks for. Figures on a partition's
materialization describe that peer and that day, and name the snapshot its rows come from.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import dagster as dg
import pandas as pd

from tgstats_dagster.assets.collect import collect_snapshots
from tgstats_dagster.assets.common import (
    GROUP,
    TELEGRAM_POOL,
    add_partition_metadata,
    newest_snapshots,
    peer_info,
    record_requests,
    refuse_when_off,
)
from tgstats_dagster.assets.content_fetch import newest_revenue_graphs, with_revenue
from tgstats_dagster.assets.pivot import PeerPivot, day_ranges, pivot_snapshot
from tgstats_dagster.assets.snapshots import STATS_RAW
from tgstats_dagster.partitions import PEER, PeerDay, days_by_peer
from tgstats_dagster.resources import TelegramResource, WarehouseResource
from tgstats_dagster.runs import STATS_JOB, peers_failed
from tgstats_dagster.telegram.figures import AUDIENCE
from tgstats_dagster.warehouse.io_manager import table_metadata

CHANNEL_DAILY = dg.AssetKey("channel_daily")
COVERS_DAYS = "covers_requested_days"
NOT_NEGATIVE = "counts_not_negative"


def build_daily_assets(partitions: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        key=CHANNEL_DAILY,
        group_name=GROUP,
        kinds={"postgres", "pandas"},
        metadata=table_metadata("channel_daily"),
        description=(
            "One row per (channel, day, metric) with the value of every daily series at that "
            "day, from the peer's newest stored snapshot (fetched once when it has none); "
            "metric names are "
            "`<graph without _graph>.<series key>`. Inserted or updated in place, never "
            "duplicated; an unchanged value is not rewritten. A refresh materializes the days "
            "that are new or changed. Table `channel_daily`."
        ),
        # The daily refresh runs every day: a pivot older than a day and a bit is stale.
        freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26)),
        deps=[
            dg.AssetDep(
                STATS_RAW,
                partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
                    partition_dimension_name=PEER
                ),
            )
        ],
        partitions_def=partitions,
        # Telegram only for a peer that has no stored snapshot yet (a UI backfill of the
        # pivot alone): then one fetch per peer, stored at once.
        pool=TELEGRAM_POOL,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            dg.AssetCheckSpec(
                COVERS_DAYS,
                asset=CHANNEL_DAILY,
                description="Every requested day has figures, or the day lies outside the "
                "window Telegram served (then it says which days).",
            ),
            dg.AssetCheckSpec(
                NOT_NEGATIVE,
                asset=CHANNEL_DAILY,
                description="No figure is negative: every daily series is a count.",
            ),
        ],
    )
    async def channel_daily(
        context: dg.AssetExecutionContext,
        telegram: TelegramResource,
        warehouse: WarehouseResource,
    ):
        refuse_when_off(telegram.disabled_reason)
        wanted = days_by_peer(context.partition_keys)
        known = warehouse.peers.known(list(wanted))
        snapshots = newest_snapshots(warehouse, known)
        if await _fetch_missing_snapshots(context, telegram, warehouse, known, snapshots):
            snapshots = newest_snapshots(warehouse, known)
        lacking = {
            peer: "no stored snapshot: materialize stats_raw for it first"
            for peer in wanted
            if peer not in snapshots
        }
        if lacking:
            raise peers_failed(STATS_JOB, list(wanted), lacking, len(snapshots))
        tally = _Tally(kinds={key: row["kind"] for key, row in known.items()})
        yield dg.Output(_daily_rows(context, warehouse, wanted, snapshots, tally))
        for check in tally.checks(sum(len(d) for d in wanted.values())):
            yield check

    return channel_daily


async def _fetch_missing_snapshots(
    context: dg.AssetExecutionContext,
    telegram: TelegramResource,
    warehouse: WarehouseResource,
    known: Mapping[str, Mapping[str, Any]],
    snapshots: Mapping[str, tuple[int, datetime]],
) -> bool:
    """A peer with no stored snapshot (a UI backfill of the pivot alone) gets one fetched and
    stored, once; its ``stats_raw`` partition records it on the next snapshots run. True
    when some peer was fetched."""
    peers = {key: peer_info(key, row) for key, row in known.items() if key not in snapshots}
    if not peers:
        return False
    try:
        collected = await collect_snapshots(
            peers, warehouse.snapshots, telegram.stats, telegram.snapshot_max_age, context.log
        )
    finally:
        record_requests(context, telegram.requests)
    for peer, why in {**collected.failed, **collected.no_rights}.items():
        context.log.warning(f"{peer}: no snapshot ({why})")
    return True


def _key(peer: str, day: date) -> str:
    return str(PeerDay(peer, day).key)


@dataclass
class _Tally:
    """What the pivot met, for the checks (filled while the rows stream out)."""

    kinds: dict[str, str]
    outside_window: dict[str, list[date]] = field(default_factory=dict)
    negative: list[str] = field(default_factory=list)

    def add(self, pivot: PeerPivot) -> None:
        if pivot.outside_window:
            self.outside_window[pivot.peer] = pivot.outside_window
        self.negative.extend(f"{pivot.peer} {n}" for n in pivot.negative[:5])

    def checks(self, days_requested: int) -> Iterator[dg.AssetCheckResult]:
        yield dg.AssetCheckResult(
            check_name=COVERS_DAYS,
            asset_key=CHANNEL_DAILY,
            passed=not self.outside_window,
            severity=dg.AssetCheckSeverity.WARN,
            description=(
                "every requested day has figures"
                if not self.outside_window
                else "some days lie outside the window Telegram served: they have no rows"
            ),
            metadata={
                "outside_window": dg.MetadataValue.json(
                    {peer: day_ranges(days) for peer, days in self.outside_window.items()}
                ),
                "days_requested": days_requested,
            },
        )
        yield dg.AssetCheckResult(
            check_name=NOT_NEGATIVE,
            asset_key=CHANNEL_DAILY,
            passed=not self.negative,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"examples": dg.MetadataValue.json(self.negative[:20])},
        )


def _daily_rows(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    wanted: Mapping[str, list[date]],
    snapshots: Mapping[str, tuple[int, datetime]],
    tally: _Tally,
) -> Iterator[pd.DataFrame]:
    """Each peer's ``channel_daily`` rows, one peer at a time, as the IO manager writes them.

    Reading the stored snapshot back keeps one peer in memory; each partition's figures (its
    rows, the audience that day, the snapshot its rows come from) go on its own
    materialization.
    """
    for peer, days in wanted.items():
        channel_id = snapshots[peer][0]
        snapshot = with_revenue(
            warehouse.snapshots.get(*snapshots[peer]),
            newest_revenue_graphs(warehouse.content, channel_id),
        )
        pivot = pivot_snapshot(peer, snapshot, days)
        tally.add(pivot)
        audience = AUDIENCE.get(tally.kinds.get(peer, ""), "followers")
        outside = set(pivot.outside_window)
        fetched_at = snapshot.fetched_at.isoformat()
        about_partitions: dict[str, dict[str, object]] = {}
        for day in days:
            about: dict[str, object] = {
                "dagster/partition_row_count": pivot.rows_by_day[day],
                "snapshot_fetched_at": fetched_at,
            }
            if day in pivot.audience_by_day:
                about[audience] = pivot.audience_by_day[day]
            if day in outside:
                about["outside_window"] = True
            about_partitions[_key(peer, day)] = about
        add_partition_metadata(context, CHANNEL_DAILY, about_partitions)
        if pivot.outside_window:
            context.log.warning(
                f"{peer}: {len(pivot.outside_window)} day(s) outside the window of the snapshot "
                f"({day_ranges(pivot.outside_window)}): zero rows for them"
            )
        yield pivot.frame
