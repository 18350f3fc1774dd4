"""Asset jobs: the peer entities; the snapshots (raw stats and each snapshot's figures) by
stats peer; the daily pivot by stats peer x day; the channel reports by stats peer.

Each runs its steps in the run's own process: a run's fixed cost is paid once, not per step.
"""

import dagster as dg

from tgstats_dagster.runs import PEERS_JOB, REPORT_JOB, SNAPSHOTS_JOB, STATS_JOB

peers_job = dg.define_asset_job(
    PEERS_JOB,
    selection=["telegram_peers"],
    executor_def=dg.in_process_executor,
    description="Refresh the peer entities (getFullChannel) of the selected peers.",
)
snapshots_job = dg.define_asset_job(
    SNAPSHOTS_JOB,
    selection=[
        "stats_raw",
        "content_raw",
        "revenue_status",
        "stats_figures",
        "post_interactions",
        "megagroup_tops",
    ],
    executor_def=dg.in_process_executor,
    description="Fetch (or reuse) each stats peer's snapshot and keep its figures, posts' "
    "interactions and tops; fetch the zooms, posts, their statistics and the revenue that are "
    "new or can still change; find the days whose rows are new or changed "
    "(tag tgstats/changed_days), which the daily runs then materialize.",
)
stats_job = dg.define_asset_job(
    STATS_JOB,
    selection=["channel_daily", "channel_hourly", "posts"],
    executor_def=dg.in_process_executor,
    description="Pivot each peer's newest snapshot into its daily figures, and record its "
    "hourly history and posts, by peer x day.",
)
report_job = dg.define_asset_job(
    REPORT_JOB,
    selection=["channel_report"],
    executor_def=dg.in_process_executor,
    description="Draw the reports of the selected stats peers from the warehouse (no Telegram).",
)
