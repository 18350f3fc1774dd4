"""Thin assets: each composes the Telegram side and the warehouse side."""

from __future__ import annotations

import dagster as dg

from tgstats_dagster.assets.content import build_content_day_assets
from tgstats_dagster.assets.daily import build_daily_assets
from tgstats_dagster.assets.figures import build_figures_assets
from tgstats_dagster.assets.peers import telegram_peers
from tgstats_dagster.assets.report import channel_report
from tgstats_dagster.assets.snapshots import telegram_snapshots


def build_assets(partitions: dg.MultiPartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The peer entity; by stats peer, the raw snapshots, the raw content and revenue, and
    each snapshot's figures; by ``partitions`` (stats peer x day), the daily pivot, the
    hourly history and the posts; by stats peer, the channel report."""
    return [
        telegram_peers,
        telegram_snapshots,
        build_figures_assets(),
        build_daily_assets(partitions),
        build_content_day_assets(partitions),
        channel_report,
    ]
