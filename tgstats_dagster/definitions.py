"""The Dagster definitions: assets, checks, resources, jobs, the schedule and the sensors.

Built lazily, when Dagster loads the code location (``dagster dev -m
tgstats_dagster.definitions``, ``workspace.yaml``): importing this module imports Dagster
only, starts nothing and writes nothing; the warehouse's embedded PostgreSQL starts when a
run, sensor or schedule first uses it. A bad configuration fails the load with a message
naming the variable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg

if TYPE_CHECKING:
    from tgstats_dagster.settings import Settings
    from tgstats_dagster.warehouse.resource import WarehouseResource


def check_ready(settings: Settings) -> None:
    """With the flags on, live Telegram needs its credentials: say which are missing, now."""
    from tgstats_dagster.settings import ConfigError

    if settings.enabled and (missing := settings.missing_credentials()):
        raise ConfigError(
            f"MTPROTO_ENABLED and MTPROTO_STATS_ENABLED are on but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set: set them for live Telegram "
            "(`tgstats login` creates TG_SESSION), or TGSTATS_TELEGRAM_REPLAY for the offline one"
        )


def warehouse_resource(settings: Settings, *, in_definitions: bool = True) -> WarehouseResource:
    """The warehouse of ``settings``; in the definitions a configured URL (it may hold a
    password) is an EnvVar, so the UI shows where it comes from, not its value."""
    from tgstats_dagster.warehouse.resource import WarehouseResource

    if settings.database_url:
        url = dg.EnvVar("TGSTATS_DATABASE_URL") if in_definitions else settings.database_url
        return WarehouseResource(database_url=url)
    return WarehouseResource(home=str(settings.home.resolve()))


def build_definitions(settings: Settings, refresh_cron: str | None = None) -> dg.Definitions:
    """Everything of the project, from ``settings``; ``refresh_cron`` moves the daily refresh
    (default: 03:30 UTC)."""
    from tgstats_dagster.assets import build_assets
    from tgstats_dagster.automation import (
        DAILY_REFRESH_CRON,
        build_changes_sensor,
        build_daily_refresh,
        build_follow_up_sensor,
        build_peer_sensor,
        build_report_sensor,
    )
    from tgstats_dagster.jobs import peers_job, report_job, snapshots_job, stats_job
    from tgstats_dagster.partitions import stats_partitions
    from tgstats_dagster.resources import ReportsResource, TelegramResource
    from tgstats_dagster.warehouse.io_manager import WarehouseIOManager

    check_ready(settings)
    warehouse = warehouse_resource(settings)
    jobs = [peers_job, snapshots_job, stats_job, report_job]
    return dg.Definitions(
        assets=build_assets(stats_partitions(settings.start_date)),
        jobs=jobs,
        schedules=[build_daily_refresh(settings, refresh_cron or DAILY_REFRESH_CRON)],
        sensors=[
            build_peer_sensor(settings),
            build_changes_sensor(snapshots_job, stats_job),
            build_report_sensor(report_job),
            build_follow_up_sensor(jobs),
        ],
        resources={
            "telegram": TelegramResource.from_settings(settings),
            "warehouse": warehouse,
            "reports": ReportsResource.from_settings(settings),
            "io_manager": WarehouseIOManager(warehouse=warehouse),
        },
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    from tgstats_dagster.settings import load_settings

    return build_definitions(load_settings())
