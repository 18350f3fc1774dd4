"""The peer sensor, the daily refresh schedule, the changes sensor, the report sensor and
the follow-up sensor.

The sensor and the schedule skip with a reason when a flag is off.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import dagster as dg

from tgstats_dagster.assets.daily import CHANNEL_DAILY
from tgstats_dagster.partitions import (
    PEER,
    STATS_PEER,
    contiguous_runs,
    peer_partitions,
    range_tags,
    stats_peer_changes,
    stats_peer_partitions,
)
from tgstats_dagster.runs import (
    FOLLOW_UP_OF_TAG,
    PEERS_JOB,
    RECORD_CHANGES_TAG,
    SNAPSHOTS_JOB,
    STATS_JOB,
    changed_days,
    changes_tags,
    days_tag,
    failed_peers_of,
    follow_up_tags,
    refresh_window,
    report_tags,
    run_scope,
)
from tgstats_dagster.settings import Settings
from tgstats_dagster.warehouse.peers import stats_rights
from tgstats_dagster.warehouse.resource import WarehouseResource

#: How often the rights of a peer without them are asked again.
RIGHTS_RECHECK = timedelta(hours=20)


def build_peer_sensor(settings: Settings) -> dg.SensorDefinition:
    @dg.sensor(
        name="telegram_peer_sensor",
        job_name=PEERS_JOB,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Adds the peers of MTPROTO_STATS_PEERS to the peer partitions and loads their peer "
            "entities in one run; keeps the stats partitions (stats_peer) to the peers with "
            "stats rights, and asks again daily about those without. Never removes a "
            "configured peer by itself: `tgstats peers remove NAME` does, on request."
        ),
    )
    def telegram_peer_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource):
        if settings.disabled_reason:
            return dg.SkipReason(settings.disabled_reason)
        if not settings.peers:
            return dg.SkipReason("MTPROTO_STATS_PEERS is empty: no peer to load")
        existing = context.instance.get_dynamic_partitions(PEER)
        new = [peer for peer in settings.peers if peer not in existing]
        order = [*existing, *new]
        stored = warehouse.peers.known(order)
        add, delete = stats_peer_changes(
            order,
            context.instance.get_dynamic_partitions(STATS_PEER),
            stats_rights(stored),
        )
        now = datetime.now(timezone.utc)
        recheck = [
            key
            for key, row in stored.items()
            if not row["can_view_stats"] and now - row["updated_at"] > RIGHTS_RECHECK
        ]
        requests = [
            dg.RunRequest(
                run_key=f"add:{group[0]}:{group[-1]}", tags=range_tags(group[0], group[-1])
            )
            for group in contiguous_runs(order, new)
        ] + [
            dg.RunRequest(
                run_key=f"rights:{now.date()}:{group[0]}:{group[-1]}",
                tags=range_tags(group[0], group[-1]),
            )
            for group in contiguous_runs(order, recheck)
        ]
        partition_requests = []
        if new:
            context.log.info(f"adding peer partitions: {new}")
            partition_requests.append(peer_partitions.build_add_request(new))
        if add:
            partition_requests.append(stats_peer_partitions.build_add_request(add))
        if delete:
            partition_requests.append(stats_peer_partitions.build_delete_request(delete))
        if not requests and not partition_requests:
            return dg.SkipReason(
                f"all {len(settings.peers)} configured peers are partitions already"
            )
        return dg.SensorResult(
            run_requests=requests, dynamic_partitions_requests=partition_requests
        )

    return telegram_peer_sensor


#: When the daily refresh runs (UTC), unless the definitions are given another cron.
DAILY_REFRESH_CRON = "30 3 * * *"


def build_daily_refresh(
    settings: Settings, cron: str = DAILY_REFRESH_CRON
) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="daily_stats_refresh",
        job_name=SNAPSHOTS_JOB,
        cron_schedule=cron,
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            "Every day, fetches a snapshot of every peer with stats rights (one run, one "
            "Telegram connection, one stats fetch per peer) with what lies beyond it (zooms, "
            "posts, revenue), compares the last MTPROTO_STATS_PERIOD_DAYS days with the stored "
            "rows (Telegram revises recent days), and writes and records, in the same run, "
            "the days that are new or changed."
        ),
    )
    def daily_stats_refresh(context: dg.ScheduleEvaluationContext):
        if settings.disabled_reason:
            return dg.SkipReason(settings.disabled_reason)
        request = refresh_request(
            settings, context.instance, context.scheduled_execution_time.date()
        )
        return request if isinstance(request, dg.SkipReason) else [request]

    return daily_stats_refresh


def refresh_request(
    settings: Settings, instance: dg.DagsterInstance, today: date
) -> dg.RunRequest | dg.SkipReason:
    """The daily refresh: a snapshots run over every stats peer (one contiguous range by
    construction), comparing the last complete ``period_days`` days."""
    last_day = today - timedelta(days=1)
    window = refresh_window(settings.start_date, settings.period_days, last_day)
    if window is None:
        return dg.SkipReason(f"no complete day since TGSTATS_START_DATE {settings.start_date}")
    peers = instance.get_dynamic_partitions(STATS_PEER)
    if not peers:
        return dg.SkipReason(
            "no peer with stats rights yet (the peer sensor adds the peers of "
            "MTPROTO_STATS_PEERS and loads their entities)"
        )
    first, last = window
    return dg.RunRequest(
        run_key=f"refresh:{last}",
        tags={**range_tags(peers[0], peers[-1]), **days_tag(first, last), RECORD_CHANGES_TAG: "1"},
    )


def build_changes_sensor(
    snapshots_job: dg.JobDefinition, stats_job: dg.JobDefinition
) -> dg.SensorDefinition:
    @dg.run_status_sensor(
        name="telegram_changes_sensor",
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[snapshots_job],
        request_job=stats_job,
        minimum_interval_seconds=5,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "After a snapshots run that did not record its changes itself (one launched "
            "from the UI; the daily refresh records its own), materializes exactly the days "
            "whose rows it found new or changed (its tag tgstats/changed_days): one daily run "
            "per range of days x group of neighbouring peers. A run that changed nothing asks "
            "for nothing."
        ),
    )
    def telegram_changes_sensor(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        if RECORD_CHANGES_TAG in run.tags:
            return dg.SkipReason(f"run {run.run_id} recorded its changes itself")
        order = context.instance.get_dynamic_partitions(STATS_PEER)
        runs = changes_tags(run.tags, order, run.run_id)
        if not runs:
            return dg.SkipReason(f"run {run.run_id} changed no day")
        return [
            dg.RunRequest(run_key=f"changes:{run.run_id}:{index}", tags=tags)
            for index, tags in enumerate(runs)
        ]

    return telegram_changes_sensor


def build_report_sensor(report_job: dg.JobDefinition) -> dg.SensorDefinition:
    # Every job of the code location is watched: the UI's backfills and materializations of
    # the daily pivot run as Dagster's own asset jobs, not as telegram_stats_job.
    @dg.run_status_sensor(
        name="telegram_report_sensor",
        run_status=dg.DagsterRunStatus.SUCCESS,
        request_job=report_job,
        minimum_interval_seconds=5,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "After a run that materialized channel_daily (a refresh's snapshots run that "
            "recorded changed days, a daily run, a backfill), redraws the reports of the "
            "peers whose rows changed. A refresh that changed nothing redraws nothing."
        ),
    )
    def telegram_report_sensor(context: dg.RunStatusSensorContext):
        run = context.dagster_run
        order = context.instance.get_dynamic_partitions(STATS_PEER)
        if RECORD_CHANGES_TAG in run.tags:
            changed = {p for peers in changed_days(run.tags, order).values() for p in peers}
            if not changed:
                return dg.SkipReason(f"run {run.run_id} changed no day")
            return [
                dg.RunRequest(run_key=f"report:{run.run_id}:{index}", tags=tags)
                for index, tags in enumerate(report_tags([p for p in order if p in changed], order))
            ]
        if run.job_name != STATS_JOB and CHANNEL_DAILY not in (run.asset_selection or ()):
            return dg.SkipReason(f"run {run.run_id} did not materialize channel_daily")
        scope = run_scope(STATS_JOB, run.tags, context.instance)
        if scope is None or not scope.peers:
            return dg.SkipReason(f"run {run.run_id} names no peers")
        return [
            dg.RunRequest(run_key=f"report:{run.run_id}:{index}", tags=tags)
            for index, tags in enumerate(report_tags(scope.peers, order))
        ]

    return telegram_report_sensor


def build_follow_up_sensor(jobs: list[dg.JobDefinition]) -> dg.SensorDefinition:
    @dg.run_failure_sensor(
        name="telegram_follow_up_sensor",
        request_jobs=jobs,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "When a run fails for some of its peers only, runs once more: each group of "
            "neighbouring peers that loaded (their snapshots are stored: no new Telegram "
            "request), and each failed peer in a run of its own."
        ),
    )
    def telegram_follow_up_sensor(context: dg.RunFailureSensorContext):
        run = context.dagster_run
        if FOLLOW_UP_OF_TAG in run.tags:
            return dg.SkipReason(f"run {run.run_id} is a follow-up already: reported, not retried")
        failure = failed_peers_of(context.get_step_failure_events())
        scope = (
            run_scope(failure.job, run.tags, context.instance, failure.peers) if failure else None
        )
        if failure is None or scope is None:
            return dg.SkipReason(f"run {run.run_id} did not fail for some of its peers")
        follow_ups = follow_up_tags(scope, failure.failed, context.instance, run.run_id)
        return [
            dg.RunRequest(run_key=f"{run.run_id}:{index}", job_name=failure.job, tags=tags)
            for index, tags in enumerate(follow_ups)
        ]

    return telegram_follow_up_sensor
