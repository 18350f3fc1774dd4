"""Thin assets: each composes the Telegram side and the warehouse side."""

from __future__ import annotations

import dagster as dg

from tgstats_dagster.assets.figures import build_figures_assets
from tgstats_dagster.assets.peers import telegram_peers
from tgstats_dagster.assets.stats import build_stats_assets


def build_assets(partitions: dg.MultiPartitionsDefinition) -> list[dg.AssetsDefinition]:
    """The peer entity; partitioned by ``partitions``, the raw snapshots, the daily pivot and
    each snapshot's figures."""
    return [telegram_peers, build_stats_assets(partitions), build_figures_assets(partitions)]
