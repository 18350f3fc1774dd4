"""Asset jobs: the peer entities, and the stats (raw graphs and daily pivot) by peer x day.

Their partitions come from the selected assets.
"""

import dagster as dg

PEERS_JOB = "telegram_peers_job"
STATS_JOB = "telegram_stats_job"

peers_job = dg.define_asset_job(
    PEERS_JOB,
    selection=["telegram_peers"],
    description="Refresh the peer entities (getFullChannel) of the selected peers.",
)
stats_job = dg.define_asset_job(
    STATS_JOB,
    selection=["stats_raw", "channel_daily"],
    description="Store a stats snapshot's raw graphs and pivot its daily series, by peer x day",
)
