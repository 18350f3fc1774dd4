"""Stopping `tgstats record` and `tgstats report`: real processes, signalled mid-command.

``record`` is parked on a flood wait of the offline Telegram (as the backfills of
``test_stopping`` are); ``report`` is parked in a query: another connection holds an exclusive
lock on the table the report reads first, so the command waits on PostgreSQL until stopped.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psycopg
import pytest

from tgstats_dagster.warehouse.server import libpq_url
from tgstats_dagster_tests.pipeline.conftest import GROUP, replay_requests
from tgstats_dagster_tests.pipeline.test_stopping import (
    FLOOD_WAIT,
    STOP_SECONDS,
    _Command,
    _flood_wait,
    _left_in_group,
    _scenario,
    _signal,
    _wait_for,
)

pytestmark = pytest.mark.storage

CASES = [
    (sig, target) for sig in (signal.SIGINT, signal.SIGTERM) for target in ("process", "group")
]
IDS = [f"{sig.name}-{target}" for sig, target in CASES]


def _stop_and_check(command: _Command, sig: signal.Signals, target: str) -> None:
    """Send ``sig``: the command exits 128+sig within STOP_SECONDS, says so on one last line,
    and leaves no process behind."""
    try:
        _signal(command, sig, target)
        stopped = time.monotonic()
        code = command.wait(timeout=120)
        took = time.monotonic() - stopped
    finally:
        if command.popen.poll() is None:
            command.popen.kill()
            command.wait(timeout=30)
    stderr = "".join(command.stderr).strip()
    assert code == 128 + sig, command.output()[-3000:]
    assert took < STOP_SECONDS, f"{took:.1f} s to stop"
    assert "Traceback" not in command.output(), command.output()[-3000:]
    assert stderr.splitlines()[-1] == "tgstats: stopped", stderr
    deadline = time.monotonic() + 15
    while _left_in_group(command.popen.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _left_in_group(command.popen.pid)


@pytest.mark.parametrize(("sig", "target"), CASES, ids=IDS)
def test_a_stopped_record_exits_quickly(
    pipeline_env, use_scenario: Path, tmp_path: Path, sig: signal.Signals, target: str
) -> None:
    _scenario(use_scenario, faults=[_flood_wait("GetMegagroupStatsRequest")])
    log = Path(pipeline_env["TGSTATS_REPLAY_LOG"])
    command = _Command(["record", "--peers", GROUP, "--out", str(tmp_path / "rec")], pipeline_env)
    _wait_for(
        "a flood wait on GetMegagroupStatsRequest",
        lambda: any(
            r["request"] == "GetMegagroupStatsRequest" and FLOOD_WAIT in r["outcome"]
            for r in replay_requests(log)
        ),
        command,
    )
    _stop_and_check(command, sig, target)


def _waiting_on_a_lock(database_url: str) -> bool:
    with psycopg.connect(libpq_url(database_url), autocommit=True) as conn:
        query = (
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()"
        )
        return conn.execute(query).fetchone()[0] > 0


@pytest.mark.parametrize(("sig", "target"), CASES, ids=IDS)
def test_a_stopped_report_exits_quickly(
    pipeline_env, database_url: str, tmp_path: Path, sig: signal.Signals, target: str
) -> None:
    from tgstats_dagster.warehouse.migrations import ensure_schema

    ensure_schema(database_url)
    with psycopg.connect(libpq_url(database_url)) as lock:
        lock.execute("LOCK TABLE telegram_peers IN ACCESS EXCLUSIVE MODE")
        command = _Command(["report", "--out", str(tmp_path / "reports")], pipeline_env)
        _wait_for(
            "the report waiting on the lock", lambda: _waiting_on_a_lock(database_url), command
        )
        _stop_and_check(command, sig, target)
        lock.rollback()
