"""A channel's statistics beyond its snapshot, as assets: the raw content and the revenue by
stats peer (materialized by the snapshots run, which fetches and stores them: see
:mod:`tgstats_dagster.assets.content_fetch`), and the hourly history and the posts by
stats peer x day.

The rows of ``channel_hourly`` and of the posts' tables are written as they are fetched,
like a snapshot, so that a run that dies loses no finished fetch. The day assets are what
Dagster records of them: the daily runs materialize the (peer, day) partitions whose rows
are new or changed, as for ``channel_daily``, each with what its day holds (hours kept;
posts and stories published that day, their views, their statistics and forwards) and
checks a UI user can read. Materializing one by hand reads the warehouse only.
"""

from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

import dagster as dg

from tgstats_dagster.assets.common import GROUP, add_partition_metadata
from tgstats_dagster.assets.content_fetch import PeerContent
from tgstats_dagster.partitions import PEER, STATS_PEER, PeerDay, days_by_peer
from tgstats_dagster.resources import WarehouseResource
from tgstats_dagster.runs import CHANGES_OF_TAG, CONTENT_DAYS_TAG, changed_days
from tgstats_dagster.warehouse.io_manager import table_metadata

CONTENT_RAW = dg.AssetKey("content_raw")
REVENUE_STATUS = dg.AssetKey("revenue_status")
CHANNEL_HOURLY = dg.AssetKey("channel_hourly")
POSTS = dg.AssetKey("posts")
CONTENT_COMPLETE = "content_complete"
HOURS_COMPLETE = "hours_complete"
POST_STATS_COMPLETE = "post_stats_complete"
HOURS_A_DAY = 24


def content_check(contents: Mapping[str, PeerContent]) -> dg.AssetCheckResult:
    """What the snapshots run's content fetch left for next time, by peer."""
    left = {peer: c.incomplete for peer, c in contents.items() if c.incomplete}
    return dg.AssetCheckResult(
        check_name=CONTENT_COMPLETE,
        asset_key=CONTENT_RAW,
        passed=not left,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "every zoom, post's statistics and page of forwards asked was loaded"
            if not left
            else f"{len(left)} peer(s) have something left for next time: "
            + "; ".join(f"{peer}: {', '.join(items)}" for peer, items in list(left.items())[:10])
        ),
        metadata={"left_for_next_time": dg.MetadataValue.json(left)},
    )


def revenue_metadata(
    warehouse: WarehouseResource, contents: Mapping[str, PeerContent]
) -> dict[str, dict[str, Any]]:
    """Each peer's ``revenue_status`` materialization: its newest balances, or why it has
    none (not monetized, or not asked: a supergroup, a reused snapshot)."""
    known = warehouse.peers.known(list(contents))
    balances = warehouse.content.newest_balances([int(r["channel_id"]) for r in known.values()])
    about: dict[str, dict[str, Any]] = {}
    for peer, content in contents.items():
        entry: dict[str, Any] = {"revenue": content.revenue}
        channel_id = int(known[peer]["channel_id"]) if peer in known else None
        for currency, values in balances.get(channel_id, {}).items():
            for name, value in values.items():
                entry[f"{currency}_{name}"] = value
        about[peer] = entry
    return about


def build_content_day_assets(partitions: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    mapping = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name=PEER)

    def spec(key: dg.AssetKey, table: str, description: str) -> dg.AssetSpec:
        return dg.AssetSpec(
            key,
            group_name=GROUP,
            kinds={"postgres"},
            metadata=table_metadata(table),
            description=description,
            deps=[dg.AssetDep(CONTENT_RAW, partition_mapping=mapping)],
            partitions_def=partitions,
            skippable=True,
        )

    @dg.multi_asset(
        name="content_days",
        specs=[
            spec(
                CHANNEL_HOURLY,
                "channel_hourly",
                "One row per (channel, hour, metric): every hourly point of the zoomed graphs "
                "Telegram serves (growth, followers, …, tapped to a day in its apps), named "
                "like `channel_daily`'s metrics. A partition is a (peer, day): its "
                "materialization says how many hours and metrics that day keeps. Rows are "
                "stored as the snapshots run fetches them; a refresh materializes the days "
                "whose rows are new or changed. Table `channel_hourly`.",
            ),
            spec(
                POSTS,
                "posts",
                "A channel's posts and stories by the day they were published: their newest "
                "counters (`posts`), each one's statistics over time (`post_timeline`: views "
                "and reactions) and its public forwards (`post_forwards`: where it was "
                "shared), and whether its statistics are loaded for good (`post_stats`). "
                "Stored as the snapshots run fetches them; a refresh materializes the days "
                "whose rows are new or changed.",
            ),
        ],
        partitions_def=partitions,
        can_subset=True,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            dg.AssetCheckSpec(
                HOURS_COMPLETE,
                asset=CHANNEL_HOURLY,
                description="Every day that has hourly detail has all its 24 hours; warns "
                "naming the days that have only some (a zoom is asked again for them).",
            ),
            dg.AssetCheckSpec(
                POST_STATS_COMPLETE,
                asset=POSTS,
                description="Every post and story of the days has its statistics loaded "
                "complete; warns naming those that are not (fetched again next time).",
            ),
        ],
    )
    def content_days(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        wanted = days_by_peer(context.partition_keys)
        known = warehouse.peers.known(list(wanted))
        channels = {peer: int(row["channel_id"]) for peer, row in known.items()}
        all_days = [day for days in wanted.values() for day in days]
        if not all_days:
            return
        if not _content_changed(context, wanted):
            context.log.info("no hourly or posts row changed in this run's partitions")
            return
        first, last = min(all_days), max(all_days)
        selected = context.selected_asset_keys
        if CHANNEL_HOURLY in selected:
            hours = warehouse.content.hours_by_day(list(channels.values()), first, last)
            yield from _hourly(context, wanted, channels, hours)
        if POSTS in selected:
            posts = warehouse.content.posts_by_day(list(channels.values()), first, last)
            yield from _posts(context, wanted, channels, posts)

    return content_days


def _content_changed(context: dg.AssetExecutionContext, wanted: Mapping[str, list[date]]) -> bool:
    """False only for a daily run of a refresh (``tgstats/changes_of``) none of whose
    partitions has hourly or posts rows that its snapshots run found new or changed."""
    source_id = context.run.tags.get(CHANGES_OF_TAG)
    source = context.instance.get_run_by_id(source_id) if source_id else None
    if source is None or CONTENT_DAYS_TAG not in source.tags:
        return True
    order = context.instance.get_dynamic_partitions(STATS_PEER)
    for (first, last), peers in changed_days(source.tags, order, CONTENT_DAYS_TAG).items():
        for peer in peers:
            if any(first <= day <= last for day in wanted.get(peer, ())):
                return True
    return False


def _keyed(
    wanted: Mapping[str, list[date]], channels: Mapping[str, int]
) -> Iterator[tuple[str, str, tuple[int, date]]]:
    for peer, days in wanted.items():
        for day in days:
            yield peer, str(PeerDay(peer, day).key), (channels.get(peer, -1), day)


def _hourly(
    context: dg.AssetExecutionContext,
    wanted: Mapping[str, list[date]],
    channels: Mapping[str, int],
    hours: Mapping[tuple[int, date], tuple[int, int]],
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    about: dict[str, dict[str, Any]] = {}
    partial: list[str] = []
    for peer, key, where in _keyed(wanted, channels):
        kept, metrics = hours.get(where, (0, 0))
        about[key] = {
            "dagster/partition_row_count": kept * metrics,
            "hours_kept": kept,
            "metrics": metrics,
        }
        if 0 < kept < HOURS_A_DAY:
            partial.append(f"{peer} {where[1]}: {kept} hours")
    add_partition_metadata(context, CHANNEL_HOURLY, about)
    yield dg.MaterializeResult(asset_key=CHANNEL_HOURLY)
    yield dg.AssetCheckResult(
        check_name=HOURS_COMPLETE,
        asset_key=CHANNEL_HOURLY,
        passed=not partial,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "every day with hourly detail has its 24 hours"
            if not partial
            else f"{len(partial)} day(s) have only some hours: " + "; ".join(partial[:10])
        ),
        metadata={"partial_days": dg.MetadataValue.json(partial[:50])},
    )


def _posts(
    context: dg.AssetExecutionContext,
    wanted: Mapping[str, list[date]],
    channels: Mapping[str, int],
    posts: Mapping[tuple[int, date], Any],
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    about: dict[str, dict[str, Any]] = {}
    incomplete: list[str] = []
    for peer, key, where in _keyed(wanted, channels):
        day = posts.get(where)
        if day is None:
            about[key] = {"dagster/partition_row_count": 0, "posts": 0, "stories": 0}
            continue
        about[key] = {
            "dagster/partition_row_count": day.messages + day.stories,
            "posts": day.messages,
            "stories": day.stories,
            "views": day.views,
            "with_statistics": day.with_stats,
            "public_forwards": day.forwards,
        }
        incomplete.extend(f"{peer} {item}" for item in day.incomplete)
    add_partition_metadata(context, POSTS, about)
    yield dg.MaterializeResult(asset_key=POSTS)
    yield dg.AssetCheckResult(
        check_name=POST_STATS_COMPLETE,
        asset_key=POSTS,
        passed=not incomplete,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "every post's and story's statistics are loaded complete"
            if not incomplete
            else f"{len(incomplete)} post(s) have incomplete statistics, fetched again next "
            "time: " + "; ".join(incomplete[:10])
        ),
        metadata={"incomplete": dg.MetadataValue.json(incomplete[:50])},
    )
