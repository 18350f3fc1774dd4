"""The raw graph JSON of a stats snapshot, for every (peer, day) the snapshot's window covers."""

import json
from datetime import datetime, timedelta, timezone

import dagster as dg
import pandas as pd

from tgstats_dagster.assets.common import GROUP, TELEGRAM_POOL, flags_off
from tgstats_dagster.assets.frames import peer_from_row, snapshot_frame
from tgstats_dagster.partitions import PEER, days_by_peer
from tgstats_dagster.resources import TelegramResource, WarehouseResource
from tgstats_dagster.telegram.errors import FloodWaitTooLong
from tgstats_dagster.telegram.graphs import GraphFormatError, parse_graph

GRAPHS_PARSED = "graphs_parsed"
SNAPSHOT_FRESH = "snapshot_fresh"


def build_stats_raw(partitions: dg.MultiPartitionsDefinition) -> dg.AssetsDefinition:
    # A multi-asset only because a subsettable one may end without its check results: a
    # peer without stats rights materializes nothing, and then there is nothing to check.
    @dg.multi_asset(
        name="stats_raw",
        outs={
            "stats_raw": dg.AssetOut(
                group_name=GROUP,
                kinds={"telegram", "postgres"},
                is_required=False,
                description=(
                    "Every graph of a stats snapshot (stats.getBroadcastStats / "
                    "getMegagroupStats) whose window covers the day, exactly as Telegram sent "
                    "it (inline, async-loaded, or the error text), with the fetch time and the "
                    "scalar figures. A snapshot fetched within the maximum age is reused, so a "
                    "backfill costs at most one stats fetch per peer. Tables `stats_raw`, "
                    "`stats_snapshots`, `stats_raw_days`."
                ),
            )
        },
        partitions_def=partitions,
        pool=TELEGRAM_POOL,
        can_subset=True,
        backfill_policy=dg.BackfillPolicy.single_run(),
        ins={
            "telegram_peers": dg.AssetIn(
                partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
                    partition_dimension_name=PEER
                )
            )
        },
        check_specs=[
            dg.AssetCheckSpec(
                GRAPHS_PARSED,
                asset="stats_raw",
                description="Every graph of the snapshot parses, or is an error graph.",
            ),
            dg.AssetCheckSpec(
                SNAPSHOT_FRESH,
                asset="stats_raw",
                description="The snapshot used is younger than the configured maximum age.",
            ),
        ],
    )
    async def stats_raw(
        context: dg.AssetExecutionContext,
        telegram: TelegramResource,
        warehouse: WarehouseResource,
        telegram_peers: pd.DataFrame,
    ):
        if flags_off(context, telegram.disabled_reason):
            return
        wanted = days_by_peer(context.partition_keys)
        known = {row["peer_key"]: peer_from_row(row) for row in telegram_peers.to_dict("records")}
        frames = _stored_snapshots(warehouse, wanted, telegram.snapshot_max_age)
        reused = sorted(frames)
        to_fetch = [peer for peer in wanted if peer not in frames]
        skipped: dict[str, str] = {}
        failed: dict[str, str] = {}
        flood: FloodWaitTooLong | None = None
        for outcome in await telegram.stats.fetch_many(to_fetch, known) if to_fetch else []:
            if outcome.snapshot is not None:
                frame = snapshot_frame(outcome.snapshot)
                warehouse.store_snapshot(frame)
                frames[outcome.key] = frame
            elif isinstance(outcome.error, FloodWaitTooLong):
                flood = outcome.error
            elif outcome.status == "skipped":
                skipped[outcome.key] = f"no stats rights: {outcome.reason}"
                context.log.warning(f"{outcome.key} skipped, {skipped[outcome.key]}")
            else:
                failed[outcome.key] = f"failed: {outcome.reason}"

        if flood is not None:
            raise dg.RetryRequested(max_retries=3, seconds_to_wait=flood.seconds) from flood
        if skipped and not frames and not failed:
            context.log.warning(f"nothing materialized: {_listed(skipped)}")
            return
        if skipped or failed:
            raise dg.Failure(
                description=(
                    f"{_listed({**failed, **skipped})}. "
                    + (
                        "Dagster materializes a run's partitions all together or not at all: "
                        "the snapshots of the other peers are stored and will be reused, so "
                        "run them again without the peers named here."
                        if frames
                        else ""
                    )
                ).strip(),
                metadata={"loaded": sorted(frames), "not_loaded": sorted({**failed, **skipped})},
            )

        output = pd.concat(frames.values(), ignore_index=True)
        yield dg.Output(
            output,
            output_name="stats_raw",
            metadata=_snapshot_metadata(output, wanted, reused, dict(telegram.stats.requests)),
        )
        yield _graphs_parsed_check(output)
        yield _fresh_check(output, telegram.snapshot_max_age)

    return stats_raw


def _stored_snapshots(
    warehouse: WarehouseResource, wanted: dict, max_age: timedelta
) -> dict[str, pd.DataFrame]:
    """The peers' snapshots fetched within ``max_age``, which need no Telegram request."""
    newer_than = datetime.now(timezone.utc) - max_age
    frames = {}
    for peer in wanted:
        stored = warehouse.latest_snapshot(peer, newer_than)
        if stored is not None and not stored.empty:
            frames[peer] = stored
    return frames


def _listed(problems: dict[str, str]) -> str:
    return "; ".join(f"{peer}: {why}" for peer, why in problems.items())


def _snapshot_metadata(
    output: pd.DataFrame, wanted: dict, reused: list[str], requests: dict[str, int]
) -> dict:
    first = output.drop_duplicates("peer_key")
    metadata: dict = {
        "snapshots": dg.MetadataValue.json(
            {
                row.peer_key: {
                    "fetched_at": pd.Timestamp(row.fetched_at).isoformat(),
                    "period": [
                        pd.Timestamp(row.period_min).date().isoformat(),
                        pd.Timestamp(row.period_max).date().isoformat(),
                    ],
                    "reused": row.peer_key in reused,
                }
                for row in first.itertuples()
            }
        ),
        "days": sum(len(days) for days in wanted.values()),
        "graphs": len(output),
        "graphs_by_kind": dg.MetadataValue.json(output["kind"].value_counts().to_dict()),
        "telegram_requests": sum(requests.values()),
        "telegram_requests_by_type": dg.MetadataValue.json(requests),
    }
    followers = 0
    for scalars in first["scalars"]:
        figures = json.loads(scalars)
        followers += int(
            (figures.get("followers") or figures.get("members") or {}).get("current", 0)
        )
    metadata["followers"] = followers
    return metadata


def _graphs_parsed_check(output: pd.DataFrame) -> dg.AssetCheckResult:
    unparsed = {}
    for row in output.itertuples():
        if row.kind != "error" and isinstance(row.data, str):
            try:
                parse_graph(row.graph, row.data)
            except GraphFormatError as exc:
                unparsed[f"{row.peer_key}/{row.graph}"] = str(exc)
    return dg.AssetCheckResult(
        check_name=GRAPHS_PARSED,
        passed=not unparsed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "error_graphs": int((output["kind"] == "error").sum()),
            "unparsed": dg.MetadataValue.json(unparsed),
        },
    )


def _fresh_check(output: pd.DataFrame, max_age: timedelta) -> dg.AssetCheckResult:
    oldest = pd.to_datetime(output["fetched_at"], utc=True).min()
    age_hours = (pd.Timestamp.now(tz="UTC") - oldest).total_seconds() / 3600
    return dg.AssetCheckResult(
        check_name=SNAPSHOT_FRESH,
        passed=age_hours <= max_age.total_seconds() / 3600,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"oldest_snapshot_age_hours": round(age_hours, 2)},
    )
