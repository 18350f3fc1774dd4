"""Thin assets: each composes the Telegram side and the warehouse side."""

from __future__ import annotations

import dagster as dg

from tgstats_dagster.assets.channel_daily import build_channel_daily
from tgstats_dagster.assets.peers import telegram_peers
from tgstats_dagster.assets.stats_raw import build_stats_raw


def build_assets(partitions: dg.MultiPartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The peer entity, and the raw graphs and the daily pivot partitioned by ``partitions``."""
    return [telegram_peers, build_stats_raw(partitions), build_channel_daily(partitions)]
