"""A PostgreSQL connection terminated in the middle of a write, under a real `tgstats backfill`.

The write is parked inside its transaction: another connection holds ``channel_daily`` in SHARE
mode, so the backfill's COPY into it waits on the lock. That waiting backend is terminated with
``pg_terminate_backend``, as an administrator or a failover would, and the lock let go.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from tgstats_dagster.warehouse.migrations import ensure_schema
from tgstats_dagster.warehouse.server import libpq_url
from tgstats_dagster_tests.pipeline.conftest import CHANNEL, END_DAY, GROUP
from tgstats_dagster_tests.pipeline.expected import expected_daily
from tgstats_dagster_tests.pipeline.test_stopping import _Command, _statuses, _wait_for

pytestmark = pytest.mark.storage

FIRST = END_DAY - timedelta(days=6)
BACKFILL = [
    "backfill",
    "--peers",
    f"{CHANNEL},{GROUP}",
    "--start",
    str(FIRST),
    "--end",
    str(END_DAY),
]
WAITING_WRITE = (
    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
    "AND wait_event_type = 'Lock' AND query ILIKE '%%channel_daily%%'"
)


def _daily(database_url: str) -> dict[str, dict]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute("SELECT peer_key, day, metric, value FROM channel_daily").fetchall()
    by_peer: dict[str, dict] = {}
    for peer, day, metric, value in rows:
        by_peer.setdefault(peer, {})[(day, metric)] = value
    return by_peer


def test_a_write_whose_connection_is_terminated_leaves_whole_transactions(
    pipeline_env, use_scenario: Path, database_url: str
) -> None:
    ensure_schema(database_url)
    days = [FIRST + timedelta(days=i) for i in range(7)]
    expected = {peer: expected_daily(use_scenario, peer, days) for peer in (CHANNEL, GROUP)}
    with psycopg.connect(libpq_url(database_url), autocommit=True) as admin:
        with psycopg.connect(libpq_url(database_url)) as lock:
            lock.execute("LOCK TABLE channel_daily IN SHARE MODE")
            command = _Command(BACKFILL, pipeline_env)
            _wait_for(
                "a channel_daily write waiting on the lock",
                lambda: admin.execute(WAITING_WRITE).fetchone() is not None,
                command,
            )
            (pid,) = admin.execute(WAITING_WRITE).fetchone()
            assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone()[0]
            lock.rollback()
        code = command.wait(timeout=300)
    output = command.output()
    assert code != 0, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    # The summary says, one line a peer, what PostgreSQL said.
    failed = [line.split() for line in command.stdout if " failed " in line]
    assert failed, output[-3000:]
    assert all(
        " ".join(line).endswith("terminating connection due to administrator command")
        for line in failed
    ), failed
    # Each write transaction holds one batch of the rows: a peer's rows are all there or none.
    for peer, rows in _daily(database_url).items():
        assert rows == expected[peer], peer
    statuses = _statuses(database_url)
    assert "STARTED" not in statuses.values(), statuses

    again = subprocess.run(
        [sys.executable, "-m", "tgstats_dagster.cli", *BACKFILL],
        env={**os.environ, **pipeline_env},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert _daily(database_url) == expected
    assert "STARTED" not in _statuses(database_url).values()
