"""The peer sensor and the daily refresh schedule; both skip with a reason when flags are off."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg

from tgstats_dagster.jobs import PEERS_JOB, STATS_JOB
from tgstats_dagster.partitions import PEER, peer_partitions, stats_key
from tgstats_dagster.settings import Settings
from tgstats_dagster.warehouse.snapshots import peers_without_stats_rights

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


def build_peer_sensor(settings: Settings) -> dg.SensorDefinition:
    @dg.sensor(
        name="telegram_peer_sensor",
        job_name=PEERS_JOB,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            "Adds the peers of MTPROTO_STATS_PEERS to the peer partitions and loads their peer "
            "entity. Never removes a peer by itself: `tgstats peers remove NAME` does, on request."
        ),
    )
    def telegram_peer_sensor(context: dg.SensorEvaluationContext):
        if settings.disabled_reason:
            return dg.SkipReason(settings.disabled_reason)
        if not settings.peers:
            return dg.SkipReason("MTPROTO_STATS_PEERS is empty: no peer to load")
        existing = set(context.instance.get_dynamic_partitions(PEER))
        unlisted = sorted(existing - set(settings.peers))
        if unlisted:
            context.log.info(
                f"partitions of peers no longer in MTPROTO_STATS_PEERS are kept: {unlisted} "
                "(remove them with `tgstats peers remove NAME`)"
            )
        new = [peer for peer in settings.peers if peer not in existing]
        if not new:
            return dg.SkipReason(
                f"all {len(settings.peers)} configured peers are partitions already"
            )
        context.log.info(f"adding peer partitions: {new}")
        return dg.SensorResult(
            run_requests=[dg.RunRequest(partition_key=peer, run_key=f"add:{peer}") for peer in new],
            dynamic_partitions_requests=[peer_partitions.build_add_request(new)],
        )

    return telegram_peer_sensor


def refresh_window(settings: Settings, last_day: date) -> tuple[date, date] | None:
    """The last MTPROTO_STATS_PERIOD_DAYS complete days, not before the first partition."""
    first = max(settings.start_date, last_day - timedelta(days=settings.period_days - 1))
    return (first, last_day) if first <= last_day else None


def build_daily_refresh(settings: Settings, database_url: str) -> dg.ScheduleDefinition:
    @dg.schedule(
        name="daily_stats_refresh",
        job_name=STATS_JOB,
        cron_schedule="30 3 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=(
            "Every day, re-writes the last MTPROTO_STATS_PERIOD_DAYS days of every peer "
            "(Telegram revises recent days): one run and one stats fetch per peer."
        ),
    )
    def daily_stats_refresh(context: dg.ScheduleEvaluationContext):
        if settings.disabled_reason:
            return dg.SkipReason(settings.disabled_reason)
        last_day = context.scheduled_execution_time.date() - timedelta(days=1)
        window = refresh_window(settings, last_day)
        if window is None:
            return dg.SkipReason(f"no complete day since TGSTATS_START_DATE {settings.start_date}")
        peers = context.instance.get_dynamic_partitions(PEER)
        without_rights = peers_without_stats_rights(database_url)
        loadable = [peer for peer in peers if peer not in without_rights]
        if not loadable:
            return dg.SkipReason(
                "no peer partition with stats rights yet (the peer sensor adds the peers of "
                "MTPROTO_STATS_PEERS)"
            )
        first, last = window
        return [
            dg.RunRequest(
                run_key=f"{peer}:{first}:{last}",
                tags={
                    RANGE_START: str(stats_key(peer, first)),
                    RANGE_END: str(stats_key(peer, last)),
                },
            )
            for peer in loadable
        ]

    return daily_stats_refresh
