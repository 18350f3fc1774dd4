"""Small builders and readers shared by the warehouse tests."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pandas as pd
import psycopg
from alembic import command

from tgstats_dagster.warehouse import migrations
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.server import libpq_url

SNAPSHOT_AT = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


def daily_frame(
    peers: dict[str, int],
    first_day: date,
    days: int,
    metrics: int = 3,
    offset: int = 0,
    fetched_at: datetime = SNAPSHOT_AT,
) -> pd.DataFrame:
    """channel_daily rows: every peer x day x metric, value = a number that depends on all."""
    rows = [
        {
            "peer_key": peer,
            "channel_id": channel_id,
            "day": first_day + timedelta(days=d),
            "metric": f"growth.m{m}",
            "value": channel_id % 1000 * 10_000 + d * 10 + m + offset,
            "fetched_at": fetched_at,
        }
        for peer, channel_id in peers.items()
        for d in range(days)
        for m in range(metrics)
    ]
    return pd.DataFrame(rows)


def table_rows(url: str, table: str, order: str) -> list[tuple]:
    with psycopg.connect(libpq_url(url)) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY {order}").fetchall()


def tuple_counters(url: str, table: str) -> tuple[int, int]:
    """(n_tup_ins, n_tup_upd) of the table, after flushing this backend's statistics."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT n_tup_ins, n_tup_upd FROM pg_stat_user_tables WHERE relname = %s", (table,)
        ).fetchone()
        assert row is not None
        return int(row[0]), int(row[1])


def upgrade_to(url: str, revision: str) -> None:
    """Migrate the database at ``url`` to ``revision`` (not the newest): a user's older schema."""
    config = migrations.alembic_config()
    with make_engine(url).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
