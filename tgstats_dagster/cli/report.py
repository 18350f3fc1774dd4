"""``tgstats report``: each channel's report page, drawn from the warehouse.

No Telegram request and no Dagster run: it draws what the warehouse keeps, the same pictures
the ``channel_report`` asset shows in the UI.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

import sqlalchemy as sa

from tgstats_dagster.report import NoReport, draw_report
from tgstats_dagster.settings import ConfigError, Settings
from tgstats_dagster.warehouse.database import make_engine, warehouse_url
from tgstats_dagster.warehouse.migrations import ensure_schema
from tgstats_dagster.warehouse.peers import PeerStore


def run_report(
    settings: Settings,
    peers: Sequence[str] | None,
    out: Path | None,
    stdout: TextIO = sys.stdout,
    stderr: TextIO = sys.stderr,
) -> int:
    """Draw the reports of ``peers`` (default: the configured peers, else every stored one)
    into ``out`` (default ``TGSTATS_HOME/reports``); 1 when a peer named is not stored."""
    url = warehouse_url(settings)
    ensure_schema(url)
    engine = make_engine(url)
    out_dir = out if out is not None else settings.reports_dir
    channels, unknown = _channels(engine, peers or settings.peers)
    for entry in unknown:
        print(
            f"tgstats report: {entry}: no such peer in the warehouse; load it first "
            "(tgstats backfill or the UI)",
            file=stderr,
        )
    if not channels and not unknown:
        raise ConfigError("the warehouse holds no peers yet: load some first (tgstats demo)")
    for entry, channel_id in channels:
        try:
            report = draw_report(engine, channel_id, out_dir)
        except NoReport as exc:
            print(f"{entry}: skipped: {exc}", file=stdout)
            continue
        left_out = f"; {len(report.notes)} left out (the page says why)" if report.notes else ""
        print(f"{entry}: {report.html_path} ({len(report.drawn)} charts{left_out})", file=stdout)
    return 1 if unknown else 0


def _channels(engine: sa.Engine, peers: Sequence[str]) -> tuple[list[tuple[str, int]], list[str]]:
    """(entry, channel id) of each peer the warehouse knows, and the entries it does not."""
    if not peers:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT peer_key, channel_id FROM telegram_peers ORDER BY peer_key")
            ).all()
        return [(key, cid) for key, cid in rows], []
    known = PeerStore(engine).known(list(peers))
    return (
        [(p, known[p]["channel_id"]) for p in peers if p in known],
        [p for p in peers if p not in known],
    )
