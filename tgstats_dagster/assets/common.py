"""What the assets share: the group, the Telegram pool, stored peers, the flags-off refusal."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import dagster as dg

from tgstats_dagster.partitions import PEER
from tgstats_dagster.runs import TELEGRAM_REQUESTS_TAG
from tgstats_dagster.telegram.models import PeerInfo
from tgstats_dagster.warehouse.peers import stats_rights
from tgstats_dagster.warehouse.resource import WarehouseResource

GROUP = "telegram_stats"
# One pool for every step that talks to Telegram: the instance limits it across runs, so
# one account is never used by more steps at once than Telegram tolerates.
TELEGRAM_POOL = "telegram"


def refuse_when_off(reason: str | None) -> None:
    """With a feature flag off, a materialization fails and says why: it never ends as a
    green success that wrote nothing."""
    if reason is not None:
        raise dg.Failure(
            description=f"nothing materialized: {reason}",
            allow_retries=False,
        )


def peer_info(key: str, row: Mapping[str, Any]) -> PeerInfo:
    """A stored ``telegram_peers`` row -> PeerInfo for the partition ``key`` that names it,
    so that a known peer is never resolved again."""

    def optional_int(value: object) -> int | None:
        return None if value is None else int(value)  # type: ignore[arg-type]

    return PeerInfo(
        key=key,
        channel_id=int(row["channel_id"]),
        access_hash=int(row["access_hash"]),
        title=str(row["title"]),
        username=row["username"] or None,
        broadcast=row["kind"] == "broadcast",
        megagroup=row["kind"] == "megagroup",
        can_view_stats=bool(row["can_view_stats"]),
        stats_dc=optional_int(row["stats_dc"]),
        participants_count=optional_int(row["participants_count"]),
    )


def peer_rights(instance: dg.DagsterInstance, warehouse: WarehouseResource) -> dict[str, bool]:
    """Every peer partition whose entity is stored -> its ``can_view_stats``.

    Looked up by channel: an entry naming a stored channel (by username or id) counts.
    """
    return stats_rights(warehouse.peers.known(instance.get_dynamic_partitions(PEER)))


def newest_snapshots(
    warehouse: WarehouseResource, known: Mapping[str, Mapping[str, Any]]
) -> dict[str, tuple[int, datetime]]:
    """Each stored peer (``known``: peer -> its ``telegram_peers`` row) -> its newest stored
    snapshot, as (channel id, fetch time); a peer without one is left out."""
    channels = {peer: int(row["channel_id"]) for peer, row in known.items()}
    newest = warehouse.snapshots.newest(list(channels.values()))
    return {
        peer: (channel_id, newest[channel_id])
        for peer, channel_id in channels.items()
        if channel_id in newest
    }


def record_requests(context: dg.AssetExecutionContext, requests: Mapping[str, int]) -> None:
    """Run totals belong to the run (a tag, the log), not to each partition's materialization."""
    context.instance.add_run_tags(
        context.run.run_id, {TELEGRAM_REQUESTS_TAG: json.dumps(dict(requests), sort_keys=True)}
    )
    context.log.info(f"Telegram requests of this run: {sum(requests.values())} {dict(requests)}")


def add_partition_metadata(
    context: dg.AssetExecutionContext,
    asset_key: dg.AssetKey,
    by_partition: Mapping[str, Mapping[str, Any]],
) -> None:
    """Metadata for each partition of a ranged step, many partitions at once.

    What ``context.add_asset_metadata(..., partition_key=k)`` does for one partition, done
    for all in one step: Dagster's method lists every partition of the run again (with
    database queries) and copies all metadata so far on each call, which made 1,000
    partitions cost minutes. One of the two uses of Dagster's step-context internals in the
    project (with :func:`log_materializations`); the pipeline tests check that each
    partition's materialization shows its own figures.
    """
    from dagster._core.execution.context.metadata_logging import (
        AssetMetadataHandle,
        OutputMetadataAccumulator,
    )

    step = context.op_execution_context._step_execution_context
    added = {
        AssetMetadataHandle(asset_key=asset_key, partition_key=str(key)): dict(metadata)
        for key, metadata in by_partition.items()
    }
    merged = {**step._metadata_accumulator.per_output_metadata, **added}
    step._metadata_accumulator = OutputMetadataAccumulator(per_output_metadata=merged)


def log_materializations(
    context: dg.AssetExecutionContext, materializations: Sequence[dg.AssetMaterialization]
) -> None:
    """Log runtime materializations as one batch, as Dagster stores an output's.

    ``context.log_event`` stores each event on its own (about 10-30 ms each on PostgreSQL:
    1,000 partitions cost half a minute); Dagster writes the materializations of a ranged
    output in batches of ``DAGSTER_EVENT_BATCH_SIZE``, which ``tgstats`` and the deployment
    set. This gives runtime materializations the same batch (through the step context, as
    Dagster's own output events do); without batching configured, each is stored alone.
    """
    from dagster._core.events import (
        DagsterEvent,
        DagsterEventBatchMetadata,
        generate_event_batch_id,
    )

    step = context.op_execution_context._step_execution_context
    batch = generate_event_batch_id()
    last = len(materializations) - 1
    for index, materialization in enumerate(materializations):
        DagsterEvent.asset_materialization(
            step, materialization, DagsterEventBatchMetadata(batch, index == last)
        )
