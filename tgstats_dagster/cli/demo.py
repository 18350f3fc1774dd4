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
from tgstats_dagster.cli.runner import stop_own_runs
from tgstats_dagster.settings import Settings
from tgstats_dagster.telegram.replay import DEMO_SCENARIO_DIR
from tgstats_dagster.telegram.replay.scenario import END_YESTERDAY, load_scenario
from tgstats_dagster.telegram.replay.window import end_yesterday
from tgstats_dagster.warehouse.database import make_engine, warehouse_url


def demo_peers_and_days(folder: Path = DEMO_SCENARIO_DIR) -> tuple[tuple[str, ...], date, date]:
    """The scenario's peers, and the days its stats windows cover as the offline Telegram
    serves them today (the demo's window ends yesterday)."""
    scenario = load_scenario(folder)
    if scenario.end == END_YESTERDAY:
        scenario = end_yesterday(scenario, datetime.now(timezone.utc).date())
    periods = [peer.stats["period"] for peer in scenario.peers if "period" in peer.stats]
    first = min(datetime.fromtimestamp(p["min_date"], timezone.utc).date() for p in periods)
    last = max(datetime.fromtimestamp(p["max_date"], timezone.utc).date() for p in periods)
    return tuple(peer.key for peer in scenario.peers), first, last


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
    remember_demo(settings, peers)
    print(f"Dagster instance: {os.environ['DAGSTER_HOME']}", file=out, flush=True)
    try:
        result = load(settings, instance, peers, start, end, out=out)
    except KeyboardInterrupt as stop:
        return stop_own_runs(instance, stop)
    print_summary(result, out=out)
    print_landed(url, out=out)
    print("\nThe Dagster UI over the same data: `make dev` (or `.venv/bin/tgstats dev`)", file=out)
    return 0 if all(r.acceptable for r in result.reports) else 1


def print_landed(database_url: str, out: TextIO = sys.stdout) -> None:
    """What is in `channel_daily` now (rows, days and metrics per peer, the latest figures),
    how many rows each snapshot's figures made, and what is kept beyond the snapshots."""
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
        figures, posts, tops = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM stats_figures),"
                " (SELECT count(*) FROM post_interactions), (SELECT count(*) FROM megagroup_tops)"
            )
        ).one()
        print(
            f"\nEach snapshot's figures: stats_figures {figures} rows, post_interactions "
            f"{posts}, megagroup_tops {tops}; query them with `tgstats db sql` (README, "
            "example queries)",
            file=out,
        )
        hours, kept_posts, timeline, forwards, revenue = conn.execute(
            text(
                "SELECT (SELECT count(DISTINCT (channel_id, hour)) FROM channel_hourly),"
                " (SELECT count(*) FROM posts), (SELECT count(*) FROM post_timeline),"
                " (SELECT count(*) FROM post_forwards), (SELECT count(*) FROM revenue_status)"
            )
        ).one()
        print(
            f"Beyond the snapshots: channel_hourly {hours} hours, posts {kept_posts} (posts "
            f"and stories), post_timeline {timeline} points, post_forwards {forwards}, "
            f"revenue_status {revenue} rows (docs/tables.md)",
            file=out,
        )


def demo_marker(settings: Settings) -> Path:
    return settings.home / "demo.json"


def remember_demo(settings: Settings, peers: tuple[str, ...]) -> None:
    """Note in TGSTATS_HOME that the demo ran there, for `tgstats dev` to open it after."""
    marker = {"peers": list(peers), "start_date": settings.start_date.isoformat()}
    demo_marker(settings).write_text(json.dumps(marker) + "\n", encoding="utf-8")


def demo_environment(settings: Settings) -> dict[str, str] | None:
    """What `tgstats dev` sets to open the demo's data with the loader on: when the demo ran
    in this TGSTATS_HOME and no Telegram (live or offline) and no database are configured."""
    configured = (
        settings.mtproto_enabled
        or settings.stats_enabled
        or settings.uses_replay
        or settings.session
        or settings.database_url
    )
    marker = demo_marker(settings)
    if configured or not marker.is_file():
        return None
    demo = json.loads(marker.read_text(encoding="utf-8"))
    return {
        "MTPROTO_ENABLED": "true",
        "MTPROTO_STATS_ENABLED": "true",
        "MTPROTO_STATS_PEERS": ",".join(demo["peers"]),
        "TGSTATS_TELEGRAM_REPLAY": str(DEMO_SCENARIO_DIR),
        "TGSTATS_START_DATE": demo["start_date"],
    }
