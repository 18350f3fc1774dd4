"""``tgstats demo``: the main job on embedded defaults over the bundled demo scenario."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TextIO

from sqlalchemy import text

from tgstats_dagster.cli.instance import open_instance
from tgstats_dagster.cli.load import load, print_summary
from tgstats_dagster.settings import Settings
from tgstats_dagster.telegram.synthetic import DEMO_SCENARIO_DIR
from tgstats_dagster.warehouse.database import make_engine, warehouse_url


def demo_peers_and_days(scenario: Path = DEMO_SCENARIO_DIR) -> tuple[tuple[str, ...], date, date]:
    """The scenario's peers, and the days its stats windows cover."""
    peers, starts, ends = [], [], []
    for peer_dir in sorted(p for p in scenario.iterdir() if (p / "peer.json").is_file()):
        peers.append(peer_dir.name)
        stats = peer_dir / "stats.json"
        if stats.is_file():
            period = json.loads(stats.read_text())["period"]
            starts.append(datetime.fromtimestamp(period["min_date"], timezone.utc).date())
            ends.append(datetime.fromtimestamp(period["max_date"], timezone.utc).date())
    return tuple(peers), min(starts), max(ends)


def run_demo(settings: Settings, out: TextIO = sys.stdout) -> int:
    peers, start, end = demo_peers_and_days()
    settings = replace(
        settings,
        mtproto_enabled=True,
        stats_enabled=True,
        peers=peers,
        replay_dir=DEMO_SCENARIO_DIR,
        start_date=min(settings.start_date, start),
    )
    # Run workers read the environment: make it say what the demo uses.
    os.environ.update(
        MTPROTO_ENABLED="true",
        MTPROTO_STATS_ENABLED="true",
        MTPROTO_STATS_PEERS=",".join(peers),
        TGSTATS_TELEGRAM_REPLAY=str(DEMO_SCENARIO_DIR),
        TGSTATS_START_DATE=settings.start_date.isoformat(),
    )
    print(
        f"tgstats demo: offline Telegram with the bundled demo scenario (synthetic data), "
        f"{len(peers)} peers, {start}..{end}",
        file=out,
    )
    instance = open_instance(settings)
    url = warehouse_url(settings)
    print(f"Dagster instance: {os.environ['DAGSTER_HOME']}", file=out, flush=True)
    result = load(settings, instance, peers, start, end, out=out)
    print_summary(result, out=out)
    print_landed(url, out=out)
    print("\nThe Dagster UI over the same data: `make dev` (or `.venv/bin/tgstats dev`)", file=out)
    return 0 if all(r.acceptable for r in result.reports) else 1


def print_landed(database_url: str, out: TextIO = sys.stdout) -> None:
    """What is in `channel_daily` now: rows, days and metrics per peer, and the latest figures."""
    with make_engine(database_url).connect() as conn:
        totals = conn.execute(
            text(
                "SELECT peer_key, count(*), count(DISTINCT day), count(DISTINCT metric), "
                "min(day), max(day) FROM channel_daily GROUP BY peer_key ORDER BY peer_key"
            )
        ).all()
        print("\nchannel_daily:", file=out)
        for peer, rows, days, metrics, first, last in totals:
            print(
                f"  {peer}: {rows} rows, {days} days ({first}..{last}), {metrics} metrics",
                file=out,
            )
            latest = conn.execute(
                text(
                    "SELECT metric, value FROM channel_daily WHERE peer_key = :peer AND day = :day "
                    "AND metric LIKE 'growth.%' ORDER BY metric"
                ),
                {"peer": peer, "day": last},
            ).all()
            for metric, value in latest:
                print(f"    {last} {metric} = {value}", file=out)
