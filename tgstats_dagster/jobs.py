"""Asset jobs: the peer entities, and the stats (raw graphs and daily pivot) by peer x day."""

from __future__ import annotations

import dagster as dg

from tgstats_dagster.partitions import peer_partitions

PEERS_JOB = "telegram_peers_job"
STATS_JOB = "telegram_stats_job"


def build_jobs(
    stats_partitions: dg.MultiPartitionsDefinition,
) -> tuple[dg.UnresolvedAssetJobDefinition, ...]:
    peers_job = dg.define_asset_job(
        PEERS_JOB,
        selection=["telegram_peers"],
        partitions_def=peer_partitions,
        description="Refresh the peer entities (getFullChannel) of the selected peers.",
    )
    stats_job = dg.define_asset_job(
        STATS_JOB,
        selection=["stats_raw", "channel_daily"],
        partitions_def=stats_partitions,
        description="Store a stats snapshot's raw graphs and pivot its daily series, by peer x day",
    )
    return peers_job, stats_job
