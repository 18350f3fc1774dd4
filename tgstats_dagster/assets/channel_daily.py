"""The daily pivot: one row per (channel, day, metric) from the day's snapshot."""

from datetime import timedelta

import dagster as dg
import pandas as pd

from tgstats_dagster.assets.common import GROUP
from tgstats_dagster.assets.pivot import Pivot, daily_pivot
from tgstats_dagster.partitions import days_by_peer

COVERS_DAYS = "covers_requested_days"
NOT_NEGATIVE = "counts_not_negative"


def build_channel_daily(partitions: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        name="channel_daily",
        partitions_def=partitions,
        group_name=GROUP,
        kinds={"postgres", "pandas"},
        # The daily refresh runs every day: a pivot older than a day and a bit is stale.
        freshness_policy=dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=26)),
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            dg.AssetCheckSpec(
                COVERS_DAYS,
                asset="channel_daily",
                description=(
                    "Every requested day has figures, or the day lies outside the window "
                    "Telegram served (then it says which days)."
                ),
            ),
            dg.AssetCheckSpec(
                NOT_NEGATIVE,
                asset="channel_daily",
                description="No figure is negative: every daily series is a count.",
            ),
        ],
        description=(
            "One row per (channel, day, metric) with the value of every daily series at that "
            "day, from the snapshot stored for the day; metric names are "
            "`<graph without _graph>.<series key>`. Inserted or updated in place, never "
            "duplicated; an unchanged value is not rewritten. Table `channel_daily`."
        ),
    )
    def channel_daily(context: dg.AssetExecutionContext, stats_raw: pd.DataFrame):
        wanted = days_by_peer(context.partition_keys)
        pivot = daily_pivot(stats_raw, wanted)
        for peer, days in pivot.outside_window.items():
            context.log.warning(
                f"{peer}: {len(days)} day(s) outside the window of the stored snapshot "
                f"({_day_ranges(days)}): zero rows for them"
            )
        for graph, problem in pivot.unparsed.items():
            context.log.warning(f"{graph} skipped: {problem}")
        yield dg.Output(pivot.frame, metadata=_metadata(pivot, wanted))
        yield _covers_days_check(pivot, wanted)
        yield _not_negative_check(pivot.frame)

    return channel_daily


def _day_ranges(days: list) -> str:
    """[1, 2, 3, 5] as days -> '2026-01-01..2026-01-03, 2026-01-05'."""
    spans: list[list] = []
    for day in sorted(days):
        if spans and (day - spans[-1][1]).days == 1:
            spans[-1][1] = day
        else:
            spans.append([day, day])
    return ", ".join(a.isoformat() if a == b else f"{a}..{b}" for a, b in spans)


def _metadata(pivot: Pivot, wanted: dict) -> dict:
    frame = pivot.frame
    return {
        "days_requested": sum(len(days) for days in wanted.values()),
        "days_with_figures": int(frame[["peer_key", "day"]].drop_duplicates().shape[0]),
        "days_outside_window": sum(len(days) for days in pivot.outside_window.values()),
        "metrics": int(frame["metric"].nunique()),
        "snapshots_used": dg.MetadataValue.json(sorted(map(list, pivot.snapshots))),
        "unparsed_graphs": dg.MetadataValue.json(pivot.unparsed),
    }


def _covers_days_check(pivot: Pivot, wanted: dict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=COVERS_DAYS,
        passed=not pivot.outside_window,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "every requested day has figures"
            if not pivot.outside_window
            else "some days lie outside the window Telegram served: they have no rows"
        ),
        metadata={
            "outside_window": dg.MetadataValue.json(
                {peer: _day_ranges(days) for peer, days in pivot.outside_window.items()}
            ),
            "days_requested": sum(len(days) for days in wanted.values()),
        },
    )


def _not_negative_check(frame: pd.DataFrame) -> dg.AssetCheckResult:
    negative = frame[pd.to_numeric(frame["value"]) < 0] if len(frame) else frame
    return dg.AssetCheckResult(
        check_name=NOT_NEGATIVE,
        passed=negative.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "negative_rows": len(negative),
            "examples": dg.MetadataValue.json(
                [
                    f"{r.peer_key} {r.day} {r.metric}={r.value}"
                    for r in negative.head(5).itertuples()
                ]
            ),
        },
    )
