"""The raw snapshot of each stats peer, and what it changes.

One step over every stats peer of its run: it gets each peer's snapshot (a stored complete
one younger than TGSTATS_SNAPSHOT_MAX_AGE_HOURS is reused, else it is fetched
``MTPROTO_STATS_CONCURRENCY`` at a time over the run's one Telegram connection and stored as
it arrives), then compares each snapshot's daily figures with the stored rows over the
run's days (``tgstats/days``, default the refresh window). The days that are new or changed
go into the run's tag ``tgstats/changed_days``, and the daily runs materialize exactly them
(see :mod:`tgstats_dagster.runs`).

``stats_raw`` is partitioned by peer: a partition's materialization is a snapshot (its fetch
time, window and graphs), written once per snapshot. A run whose snapshots were all reused
materializes nothing: it looked and found nothing new, and says so in its log.
"""

import asyncio
from collections.abc import Iterator, Mapping
from datetime import date, datetime, timezone

import dagster as dg

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
from tgstats_dagster.assets.content import (
    CONTENT_COMPLETE,
    CONTENT_RAW,
    REVENUE_STATUS,
    content_check,
    revenue_metadata,
)
from tgstats_dagster.assets.content_fetch import (
    PeerContent,
    fetch_content,
    newest_revenue_graphs,
    summary,
    with_revenue,
)
from tgstats_dagster.assets.pivot import PeerPivot, day_ranges, pivot_snapshot
from tgstats_dagster.assets.record_changes import record_changes
from tgstats_dagster.partitions import STATS_PEER, stats_peer_partitions, sync_stats_peers
from tgstats_dagster.resources import TelegramResource, WarehouseResource
from tgstats_dagster.runs import (
    CONTENT_DAYS_TAG,
    RECORD_CHANGES_TAG,
    SNAPSHOTS_JOB,
    changed_days_tag,
    days_of,
    peers_failed,
)
from tgstats_dagster.telegram.content import ContentClient
from tgstats_dagster.warehouse import daily
from tgstats_dagster.warehouse.io_manager import table_metadata

STATS_RAW = dg.AssetKey("stats_raw")
PEERS = dg.AssetKey("telegram_peers")
SNAPSHOT_COMPLETE = "snapshot_complete"
GRAPHS_PARSED = "graphs_parsed"


@dg.multi_asset(
    name="telegram_snapshots",
    outs={
        "stats_raw": dg.AssetOut(
            key=STATS_RAW,
            group_name=GROUP,
            kinds={"telegram", "postgres"},
            is_required=False,
            description=(
                "Each stats peer's newest snapshot (stats.getBroadcastStats / "
                "getMegagroupStats): every graph exactly as Telegram sent it (inline, "
                "async-loaded on the stats DC, the error text, or missing and why), the fetch "
                "time, the window and the scalar figures. One materialization per snapshot: a "
                "complete snapshot younger than TGSTATS_SNAPSHOT_MAX_AGE_HOURS is reused and "
                "materializes nothing. Tables `stats_snapshots`, `stats_raw` (written once, as "
                "soon as fetched)."
            ),
        ),
        "content_raw": dg.AssetOut(
            key=CONTENT_RAW,
            group_name=GROUP,
            kinds={"telegram", "postgres"},
            is_required=False,
            metadata=table_metadata("content_raw"),
            description=(
                "Each stats peer's statistics beyond its snapshot, fetched with it and stored "
                "as they arrive: the hourly zooms of the run's days not kept yet "
                "(stats.loadAsyncGraph with the zoom token, the fewest that cover the days); "
                "with a new snapshot of a channel, its posts and stories of those days "
                "(messages.getHistory, stories.getStoriesArchive), the statistics and public "
                "forwards of each one not settled (younger than TGSTATS_POST_SETTLE_DAYS when "
                "last fetched), and its Stars and TON revenue. Every payload exactly as sent, "
                "written once. Table `content_raw`; the rows go to `channel_hourly`, `posts`, "
                "`post_stats`, `post_timeline`, `post_forwards` and `revenue_status`."
            ),
        ),
        "revenue_status": dg.AssetOut(
            key=REVENUE_STATUS,
            group_name=GROUP,
            kinds={"telegram", "postgres"},
            is_required=False,
            metadata=table_metadata("revenue_status"),
            description=(
                "A monetized channel's Stars and TON balances (payments.getStarsRevenueStats), "
                "one row set per fetch; the daily revenue goes into `channel_daily` "
                "(revenue_stars.*, revenue_ton.*). A channel without revenue statistics (not "
                "monetized, or the account is not its owner) says so in its metadata: a "
                "state, never a failure. Table `revenue_status`."
            ),
        ),
    },
    # Each stats peer reads its entity; the stats peers are a subset of the peers, which
    # Dagster's partition mappings cannot express, so the edge is shown as is.
    deps=[dg.AssetDep("telegram_peers", partition_mapping=dg.AllPartitionMapping())],
    # The content is fetched with the snapshot's zoom tokens.
    internal_asset_deps={
        "stats_raw": {PEERS},
        "content_raw": {PEERS, STATS_RAW},
        "revenue_status": {PEERS},
    },
    partitions_def=stats_peer_partitions,
    # A run that found no new snapshot yields nothing: its output and checks are optional.
    can_subset=True,
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
            CONTENT_COMPLETE,
            asset=CONTENT_RAW,
            description="Every zoom, post's statistics and page of public forwards asked was "
            "loaded; warns naming what is left (it is asked again next time).",
        ),
    ],
)
async def telegram_snapshots(
    context: dg.AssetExecutionContext,
    telegram: TelegramResource,
    warehouse: WarehouseResource,
):
    refuse_when_off(telegram.disabled_reason)
    peers = list(context.partition_keys)
    try:
        collected = await _collect(context, telegram, warehouse, peers)
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
        raise peers_failed(SNAPSHOTS_JOB, peers, not_loaded, len(collected.snapshots))

    days = days_of(context.run.tags, telegram.refresh_window(datetime.now(timezone.utc).date()))
    new = _new_snapshots(warehouse, collected.snapshots)
    unparsed: dict[str, str] = {}
    recording = RECORD_CHANGES_TAG in context.run.tags
    # Only a run that records its changes keeps their rows (a backfill changes every day).
    pivots: dict[str, tuple[PeerPivot, str]] | None = {} if recording else None
    # The snapshots' days are compared while the content is fetched (the one waits on
    # PostgreSQL, the other on Telegram); a channel whose revenue the content brought anew
    # is compared again after, with it.
    comparing = asyncio.ensure_future(
        asyncio.to_thread(_changed_days, warehouse, collected.snapshots, days, unparsed, pivots)
    )
    try:
        contents = await _contents(context, telegram, warehouse, collected.snapshots, new, days)
    finally:
        record_requests(context, telegram.requests)
        changed = await comparing
    paid = {p: collected.snapshots[p] for p, c in contents.items() if c.revenue_rows}
    if paid:
        for peer in paid:
            changed.pop(peer, None)
            if pivots is not None:
                pivots.pop(peer, None)
        changed |= await asyncio.to_thread(_changed_days, warehouse, paid, days, unparsed, pivots)
    content_days = {p: sorted(c.changed_days) for p, c in contents.items() if c.changed_days}
    order = context.instance.get_dynamic_partitions(STATS_PEER)
    if pivots is not None and (changed or content_days):
        record_changes(context, warehouse, pivots, changed, content_days, order)
    for peer, days_changed in content_days.items():
        changed[peer] = sorted(set(changed.get(peer, ())) | set(days_changed))
    context.instance.add_run_tags(
        context.run.run_id,
        {
            **changed_days_tag(changed, order),
            **changed_days_tag(content_days, order, CONTENT_DAYS_TAG),
        },
    )
    span = day_ranges(days) if days else "no day"
    changed_count = sum(len(d) for d in changed.values())
    new_content = any(c.new_rows or c.zooms or c.post_stats for c in contents.values())
    if not new and not changed and not new_content:
        context.log.info(f"{len(peers)} peer(s) checked ({span}): nothing changed")
        return
    context.log.info(
        f"{len(peers)} peer(s) checked ({span}): {len(new)} new snapshot(s), "
        f"{changed_count} new or changed day(s) of {len(changed)} peer(s)"
    )
    if new:
        add_partition_metadata(context, STATS_RAW, _about(collected.snapshots, changed))
        yield dg.MaterializeResult(asset_key=STATS_RAW)
        for check in _checks(collected.snapshots, unparsed):
            yield check
    if new_content:
        add_partition_metadata(
            context, CONTENT_RAW, {peer: c.about() for peer, c in contents.items()}
        )
        yield dg.MaterializeResult(asset_key=CONTENT_RAW)
        yield content_check(contents)
    if any(c.revenue_rows for c in contents.values()):
        add_partition_metadata(context, REVENUE_STATUS, revenue_metadata(warehouse, contents))
        yield dg.MaterializeResult(asset_key=REVENUE_STATUS)


async def _collect(
    context: dg.AssetExecutionContext,
    telegram: TelegramResource,
    warehouse: WarehouseResource,
    wanted: list[str],
) -> Collected:
    known = warehouse.peers.known(wanted)
    peers = {key: peer_info(key, known[key]) for key in wanted if key in known}
    collected = await collect_snapshots(
        peers, warehouse.snapshots, telegram.stats, telegram.snapshot_max_age, context.log
    )
    collected.failed.update(
        {
            key: "no stored peer entity: materialize telegram_peers for it first"
            for key in wanted
            if key not in known
        }
    )
    return collected


async def _contents(
    context: dg.AssetExecutionContext,
    telegram: TelegramResource,
    warehouse: WarehouseResource,
    snapshots: Mapping[str, SnapshotRef],
    new: list[str],
    days: list[date],
) -> dict[str, PeerContent]:
    """Each peer's content beyond its snapshot, ``MTPROTO_STATS_CONCURRENCY`` peers at once
    over the run's connection (opened only when something is to be asked)."""
    known = warehouse.peers.known(list(snapshots))
    store = warehouse.content
    gate = asyncio.Semaphore(telegram.concurrency)
    fresh = set(new)

    async def connect() -> ContentClient:
        return (await telegram.stats()).content

    async def one(peer: str, ref: SnapshotRef) -> PeerContent:
        async with gate:
            snapshot = await asyncio.to_thread(
                warehouse.snapshots.get, ref.channel_id, ref.fetched_at
            )
            return await fetch_content(
                peer_info(peer, known[peer]),
                snapshot,
                peer in fresh,
                days,
                connect,
                store,
                telegram.post_settle_after,
            )

    done = await asyncio.gather(*(one(p, r) for p, r in snapshots.items() if p in known))
    contents = {c.peer: c for c in done}
    if contents:
        context.log.info(summary(contents))
    for content in contents.values():
        if content.incomplete:
            context.log.warning(
                f"{content.peer}: left for next time: "
                + "; ".join(f"{k} ({v})" for k, v in list(content.incomplete.items())[:10])
            )
    return contents


def _new_snapshots(warehouse: WarehouseResource, snapshots: Mapping[str, SnapshotRef]) -> list[str]:
    """The peers whose snapshot is not recorded yet: fetched by this run, or stored by a run
    that ended before recording it (its figures are missing)."""
    unrecorded = warehouse.snapshots.without_figures([r.channel_id for r in snapshots.values()])
    return [
        peer
        for peer, ref in snapshots.items()
        if not ref.reused or (ref.channel_id, ref.fetched_at) in unrecorded
    ]


def _drop_peers_without_rights(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, no_rights: Mapping[str, str]
) -> None:
    """Rights gone since the peer entity was stored: a state, so out of the stats partitions."""
    for peer, why in no_rights.items():
        context.log.warning(f"{peer}: no stats rights any more ({why}); left out of stats runs")
    rights = peer_rights(context.instance, warehouse)
    sync_stats_peers(context.instance, {**rights, **dict.fromkeys(no_rights, False)})


def _changed_days(
    warehouse: WarehouseResource,
    snapshots: Mapping[str, SnapshotRef],
    days: list[date],
    unparsed: dict[str, str],
    pivots: dict[str, tuple[PeerPivot, str]] | None,
) -> dict[str, list[date]]:
    """Each peer's days whose figures in its snapshot differ from the stored rows (one peer
    in memory at a time); the graphs that do not parse go into ``unparsed``, and, when
    ``pivots`` is given, each changed peer's pivot, its rows cut to the changed days."""
    if not days:
        return {}
    changed: dict[str, list[date]] = {}
    for peer, ref in snapshots.items():
        snapshot = with_revenue(
            warehouse.snapshots.get(ref.channel_id, ref.fetched_at),
            newest_revenue_graphs(warehouse.content, ref.channel_id),
        )
        pivot = pivot_snapshot(peer, snapshot, days)
        unparsed.update({f"{peer}/{g}": why for g, why in pivot.unparsed.items()})
        rows = list(pivot.frame[["day", "metric", "value"]].itertuples(index=False, name=None))
        stored = daily.stored_values(warehouse.engine, ref.channel_id, days[0], days[-1])
        if found := daily.changed_days(stored, rows):
            changed[peer] = found
            if pivots is not None:
                pivot.frame = pivot.frame[pivot.frame["day"].isin(found)]
                pivots[peer] = (pivot, snapshot.fetched_at.isoformat())
    return changed


def _about(
    snapshots: Mapping[str, SnapshotRef], changed: Mapping[str, list[date]]
) -> dict[str, dict[str, object]]:
    """Each peer's materialization: the snapshot, and the days it changed."""
    about: dict[str, dict[str, object]] = {}
    for peer, ref in snapshots.items():
        entry: dict[str, object] = {
            "snapshot_fetched_at": ref.fetched_at.isoformat(),
            "snapshot_reused": ref.reused,
            "snapshot_complete": ref.complete,
            "changed_days": day_ranges(changed.get(peer, [])) or "none",
        }
        if ref.missing_graphs:
            entry["missing_graphs"] = ", ".join(ref.missing_graphs)
        about[peer] = entry
    return about


def _checks(
    snapshots: Mapping[str, SnapshotRef], unparsed: Mapping[str, str]
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
        passed=not unparsed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"unparsed": dg.MetadataValue.json(dict(unparsed))},
    )
