"""`tgstats backfill` and `tgstats demo` as a user runs them: subprocesses, real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster_tests.pipeline.conftest import (
    CHANNEL,
    END_DAY,
    GROUP,
    NO_RIGHTS,
    replay_requests,
)
from tgstats_dagster_tests.pipeline.expected import expected_daily

pytestmark = pytest.mark.storage


def tgstats(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tgstats_dagster.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _table(database_url: str) -> list[tuple]:
    with make_engine(database_url).connect() as conn:
        return sorted(
            conn.execute(text("SELECT peer_key, day, metric, value FROM channel_daily")).all()
        )


def test_backfill_command(pipeline_env, use_scenario: Path, database_url: str) -> None:
    first, last = END_DAY - timedelta(days=52), END_DAY
    args = [
        "backfill",
        "--peers",
        f"@{CHANNEL},{GROUP},{NO_RIGHTS}",
        "--start",
        str(first),
        "--end",
        str(last),
    ]
    done = tgstats(*args, env=pipeline_env)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = done.stdout
    assert f"{CHANNEL}" in summary and "loaded" in summary
    assert "skipped" in summary and "no stats rights" in summary

    table = _table(database_url)
    days = [first + timedelta(days=i) for i in range(53)]
    for peer in (CHANNEL, GROUP):
        expected = expected_daily(use_scenario, peer, days)
        stored = {(d, m): v for p, d, m, v in table if p == peer}
        assert stored == expected
    assert not [row for row in table if row[0] == NO_RIGHTS]
    assert len(replay_requests(Path(pipeline_env["TGSTATS_REPLAY_LOG"]))) <= 30

    again = tgstats(*args, env=pipeline_env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _table(database_url) == table


def test_backfill_with_flags_off_writes_nothing(pipeline_env, use_scenario, database_url) -> None:
    env = {**pipeline_env, "MTPROTO_ENABLED": "false"}
    done = tgstats("backfill", "--start", "2026-11-01", "--end", "2026-11-02", env=env)
    assert done.returncode == 0
    assert "MTPROTO_ENABLED is off" in done.stdout
    with make_engine(database_url).connect() as conn:
        tables = conn.execute(
            text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        ).scalar_one()
    assert tables == 0


def test_bad_peer_is_a_clear_error(pipeline_env, use_scenario) -> None:
    done = tgstats(
        "backfill",
        "--peers",
        "good_name,bad|name",
        "--start",
        "2026-11-01",
        "--end",
        "2026-11-02",
        env=pipeline_env,
    )
    assert done.returncode == 2
    assert "'bad|name'" in done.stderr


def test_demo_command(tmp_path: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TGSTATS_", "MTPROTO_", "DAGSTER_", "TG_"))
    }
    done = subprocess.run(
        [sys.executable, "-m", "tgstats_dagster.cli", "demo"],
        env={**env, "TGSTATS_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "tgstats_demo_channel" in out and "loaded" in out
    assert "tgstats_demo_norights" in out and "skipped" in out
    assert "channel_daily:" in out and "growth.total_followers" in out
