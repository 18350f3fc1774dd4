"""The Dagster definitions: assets, checks, resources, jobs, the schedule and the sensor.

``defs`` is built from the environment when this module is loaded (``dagster dev -m
tgstats_dagster.definitions``, ``workspace.yaml``); a bad configuration fails the load with
a message naming the variable.
"""

from __future__ import annotations

import dagster as dg

from tgstats_dagster.assets import build_assets
from tgstats_dagster.automation import build_daily_refresh, build_peer_sensor
from tgstats_dagster.jobs import peers_job, stats_job
from tgstats_dagster.partitions import stats_partitions
from tgstats_dagster.resources import TelegramResource, WarehouseResource
from tgstats_dagster.settings import ConfigError, Settings, load_settings
from tgstats_dagster.warehouse.database import warehouse_url
from tgstats_dagster.warehouse.io_manager import WarehouseIOManager


def check_ready(settings: Settings) -> None:
    """With the flags on, live Telegram needs its credentials: say which are missing, now."""
    if settings.enabled and (missing := settings.missing_credentials()):
        raise ConfigError(
            f"MTPROTO_ENABLED and MTPROTO_STATS_ENABLED are on but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set: set them for live Telegram "
            "(`tgstats login` creates TG_SESSION), or TGSTATS_TELEGRAM_REPLAY for the offline one"
        )


def build_definitions(settings: Settings) -> dg.Definitions:
    check_ready(settings)
    url = warehouse_url(settings)
    # A configured URL may hold a password: the UI shows where it comes from, not its value.
    database_url = dg.EnvVar("TGSTATS_DATABASE_URL") if settings.database_url else url
    return dg.Definitions(
        assets=build_assets(stats_partitions(settings.start_date)),
        jobs=[peers_job, stats_job],
        schedules=[build_daily_refresh(settings, url)],
        sensors=[build_peer_sensor(settings)],
        resources={
            "telegram": TelegramResource.from_settings(settings),
            "warehouse": WarehouseResource(database_url=database_url),
            "io_manager": WarehouseIOManager(database_url=database_url),
        },
    )


defs = build_definitions(load_settings())
