"""Asset jobs: the peer entities, and the stats (raw snapshots, daily pivot, each snapshot's
figures) by peer x day.

Both run their steps in the run's own process: a run's fixed cost is paid once, not per step.
"""

import dagster as dg

from tgstats_dagster.runs import PEERS_JOB, STATS_JOB

peers_job = dg.define_asset_job(
    PEERS_JOB,
    selection=["telegram_peers"],
    executor_def=dg.in_process_executor,
    description="Refresh the peer entities (getFullChannel) of the selected peers.",
)
stats_job = dg.define_asset_job(
    STATS_JOB,
    selection=[
        "stats_raw",
        "channel_daily",
        "stats_figures",
        "post_interactions",
        "megagroup_tops",
    ],
    executor_def=dg.in_process_executor,
    description="Store each peer's stats snapshot, pivot its daily series and keep its "
    "figures, posts' interactions and tops, by peer x day.",
)
