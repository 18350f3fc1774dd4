"""The stats of peer x day partitions: the raw snapshot each day holds, and the daily pivot.

One step materializes both assets for every partition of its run, whatever the number of
peers: it gets a snapshot of each peer (reused, or fetched ``MTPROTO_STATS_CONCURRENCY`` at a
time over the run's one Telegram connection and stored as it arrives), then hands the
warehouse IO manager which snapshot each partition holds (``stats_raw``) and a stream of
each peer's daily rows (``channel_daily``), each snapshot parsed once, one peer in memory at a
time. Figures on a partition's materialization describe that peer and that day.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import dagster as dg
import pandas as pd

from tgstats_dagster.assets.collect import Collected, SnapshotRef, collect_snapshots
from tgstats_dagster.assets.common import (
    GROUP,
    TELEGRAM_POOL,
    add_partition_metadata,
    peer_info,
    peer_rights,
    record_requests,
    refuse_when_off,
)
from tgstats_dagster.assets.pivot import PeerPivot, day_ranges, pivot_snapshot
from tgstats_dagster.partitions import PeerDay, days_by_peer, sync_stats_peers
from tgstats_dagster.resources import TelegramResource, WarehouseResource
from tgstats_dagster.runs import STATS_JOB, peers_failed
from tgstats_dagster.telegram.figures import AUDIENCE
from tgstats_dagster.telegram.models import PeerInfo
from tgstats_dagster.warehouse.io_manager import table_metadata

STATS_RAW = dg.AssetKey("stats_raw")
CHANNEL_DAILY = dg.AssetKey("channel_daily")
SNAPSHOT_COMPLETE = "snapshot_complete"
GRAPHS_PARSED = "graphs_parsed"
COVERS_DAYS = "covers_requested_days"
NOT_NEGATIVE = "counts_not_negative"


def build_stats_assets(partitions: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="telegram_stats",
        outs={
            "stats_raw": dg.AssetOut(
                key=STATS_RAW,
                group_name=GROUP,
                kinds={"telegram", "postgres"},
                metadata=table_metadata("stats_raw_days"),
                description=(
                    "Every graph of a stats snapshot (stats.getBroadcastStats / "
                    "getMegagroupStats) whose window covers the day, exactly as Telegram sent "
                    "it (inline, async-loaded, the error text, or missing and why), with the "
                    "fetch time and the scalar figures. A complete snapshot fetched within "
                    "TGSTATS_SNAPSHOT_MAX_AGE_HOURS is reused, so a backfill costs at most one "
                    "stats fetch per peer. Tables `stats_snapshots`, `stats_raw` (each snapshot, "
                    "written once, as soon as it is fetched) and `stats_raw_days` (which "
                    "snapshot each peer x day holds)."
                ),
            ),
            "channel_daily": dg.AssetOut(
                key=CHANNEL_DAILY,
                group_name=GROUP,
                kinds={"postgres", "pandas"},
                metadata=table_metadata("channel_daily"),
                description=(
                    "One row per (channel, day, metric) with the value of every daily series "
                    "at that day, from the snapshot the day holds; metric names are "
                    "`<graph without _graph>.<series key>`. Inserted or updated in place, "
                    "never duplicated; an unchanged value is not rewritten. Table "
                    "`channel_daily`."
                ),
                # The daily refresh runs every day: a pivot older than a day and a bit is stale.
                freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26)),
            ),
        },
        # Each stats partition reads its peer's entity; the stats peers are a subset of the
        # peers, which Dagster's dimension mappings cannot express, so the edge is shown as is.
        deps=[dg.AssetDep("telegram_peers", partition_mapping=dg.AllPartitionMapping())],
        internal_asset_deps={
            "stats_raw": {dg.AssetKey("telegram_peers")},
            "channel_daily": {STATS_RAW},
        },
        partitions_def=partitions,
        pool=TELEGRAM_POOL,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            dg.AssetCheckSpec(
                SNAPSHOT_COMPLETE,
                asset=STATS_RAW,
                description="Every graph of each snapshot was loaded, or Telegram answered it "
                "with a StatsGraphError; fails naming the graphs that are missing.",
            ),
            dg.AssetCheckSpec(
                GRAPHS_PARSED,
                asset=STATS_RAW,
                description="Every graph payload parses (the others still load).",
            ),
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
    async def telegram_stats(
        context: dg.AssetExecutionContext,
        telegram: TelegramResource,
        warehouse: WarehouseResource,
    ):
        refuse_when_off(telegram.disabled_reason)
        wanted = days_by_peer(context.partition_keys)
        try:
            collected = await _collect(context, telegram, warehouse, wanted)
        finally:
            record_requests(context, telegram.requests)
        if collected.no_rights:
            _drop_peers_without_rights(context, warehouse, collected.no_rights)
        if collected.flood is not None and set(collected.failed) <= collected.flooded:
            seconds = collected.flood.seconds
            context.log.warning(
                f"Telegram asks to wait {seconds} s ({collected.flood}); the stored snapshots "
                f"are kept and this step is retried in {seconds} s"
            )
            raise dg.RetryRequested(max_retries=3, seconds_to_wait=seconds) from collected.flood
        not_loaded = {**collected.failed, **collected.no_rights}
        if not_loaded:
            raise peers_failed(STATS_JOB, list(wanted), not_loaded, len(collected.snapshots))

        tally = _Tally(kinds=_kinds(warehouse, wanted))
        yield dg.Output(_raw_days(context, wanted, collected.snapshots), output_name="stats_raw")
        yield dg.Output(
            _daily_rows(context, warehouse, wanted, collected.snapshots, tally),
            output_name="channel_daily",
        )
        for check in tally.checks(collected.snapshots, sum(len(d) for d in wanted.values())):
            yield check

    return telegram_stats


async def _collect(
    context: dg.AssetExecutionContext,
    telegram: TelegramResource,
    warehouse: WarehouseResource,
    wanted: Mapping[str, list[date]],
) -> Collected:
    known = warehouse.peers.known(list(wanted))
    peers: dict[str, PeerInfo] = {}
    missing: dict[str, str] = {}
    for key in wanted:
        if key in known:
            peers[key] = peer_info(key, known[key])
        else:
            missing[key] = "no stored peer entity: materialize telegram_peers for it first"
    collected = await collect_snapshots(
        peers, warehouse.snapshots, telegram.stats, telegram.snapshot_max_age, context.log
    )
    collected.failed.update(missing)
    return collected


def _drop_peers_without_rights(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, no_rights: Mapping[str, str]
) -> None:
    """Rights gone since the peer entity was stored: a state, so out of the stats partitions."""
    for peer, why in no_rights.items():
        context.log.warning(f"{peer}: no stats rights any more ({why}); left out of stats runs")
    rights = peer_rights(context.instance, warehouse)
    sync_stats_peers(context.instance, {**rights, **dict.fromkeys(no_rights, False)})


def _kinds(warehouse: WarehouseResource, wanted: Mapping[str, list[date]]) -> dict[str, str]:
    return {key: row["kind"] for key, row in warehouse.peers.known(list(wanted)).items()}


def _raw_days(
    context: dg.AssetExecutionContext,
    wanted: Mapping[str, list[date]],
    snapshots: Mapping[str, SnapshotRef],
) -> pd.DataFrame:
    """``stats_raw_days``: each requested (peer, day) -> the snapshot it holds."""
    rows = []
    about_partitions: dict[str, dict[str, object]] = {}
    for peer, days in wanted.items():
        ref = snapshots[peer]
        about = {
            "snapshot_fetched_at": ref.fetched_at.isoformat(),
            "snapshot_reused": ref.reused,
            "snapshot_complete": ref.complete,
        }
        if ref.missing_graphs:
            about["missing_graphs"] = ", ".join(ref.missing_graphs)
        for day in days:
            about_partitions[_key(peer, day)] = about
            rows.append((peer, day, ref.channel_id, ref.fetched_at))
    add_partition_metadata(context, STATS_RAW, about_partitions)
    return pd.DataFrame(rows, columns=["peer_key", "day", "channel_id", "fetched_at"])


def _key(peer: str, day: date) -> str:
    return str(PeerDay(peer, day).key)


@dataclass
class _Tally:
    """What the pivot met, for the checks (filled while the rows stream out)."""

    kinds: dict[str, str]
    outside_window: dict[str, list[date]] = field(default_factory=dict)
    unparsed: dict[str, str] = field(default_factory=dict)
    negative: list[str] = field(default_factory=list)

    def add(self, pivot: PeerPivot) -> None:
        if pivot.outside_window:
            self.outside_window[pivot.peer] = pivot.outside_window
        self.unparsed.update({f"{pivot.peer}/{g}": why for g, why in pivot.unparsed.items()})
        self.negative.extend(f"{pivot.peer} {n}" for n in pivot.negative[:5])

    def checks(
        self, snapshots: Mapping[str, SnapshotRef], days_requested: int
    ) -> Iterator[dg.AssetCheckResult]:
        missing = {
            peer: list(ref.missing_graphs) for peer, ref in snapshots.items() if ref.missing_graphs
        }
        yield dg.AssetCheckResult(
            check_name=SNAPSHOT_COMPLETE,
            asset_key=STATS_RAW,
            passed=not missing,
            severity=dg.AssetCheckSeverity.ERROR,
            description=(
                "every graph was loaded or answered by Telegram with a StatsGraphError"
                if not missing
                else "graphs are missing from these snapshots: "
                + "; ".join(f"{peer}: {', '.join(g)}" for peer, g in missing.items())
            ),
            metadata={"missing_graphs": dg.MetadataValue.json(missing)},
        )
        yield dg.AssetCheckResult(
            check_name=GRAPHS_PARSED,
            asset_key=STATS_RAW,
            passed=not self.unparsed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"unparsed": dg.MetadataValue.json(self.unparsed)},
        )
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
    snapshots: Mapping[str, SnapshotRef],
    tally: _Tally,
) -> Iterator[pd.DataFrame]:
    """Each peer's ``channel_daily`` rows, one peer at a time, as the IO manager writes them.

    Reading the stored snapshot back keeps one peer in memory; each partition's figures
    (its rows, the audience that day) go on its own materialization.
    """
    store = warehouse.snapshots
    for peer, days in wanted.items():
        ref = snapshots[peer]
        pivot = pivot_snapshot(peer, store.get(ref.channel_id, ref.fetched_at), days)
        tally.add(pivot)
        audience = AUDIENCE.get(tally.kinds.get(peer, ""), "followers")
        outside = set(pivot.outside_window)
        about_partitions: dict[str, dict[str, object]] = {}
        for day in days:
            about: dict[str, object] = {"dagster/partition_row_count": pivot.rows_by_day[day]}
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
