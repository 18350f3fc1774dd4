"""Stopping is safe: real `tgstats backfill` processes, signalled mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from tgstats_dagster.warehouse.server import libpq_url
from tgstats_dagster_tests.pipeline.conftest import END_DAY, GROUP

pytestmark = pytest.mark.storage

BACKFILL = ["backfill", "--peers", GROUP, "--start", str(END_DAY), "--end", str(END_DAY)]


def _slow(scenario: Path, latency: float) -> None:
    settings = json.loads((scenario / "scenario.json").read_text())
    (scenario / "scenario.json").write_text(json.dumps({**settings, "latency": latency}))


def _start(env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tgstats_dagster.cli", *BACKFILL],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _runs(database_url: str) -> list[tuple[str, str]]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        if not conn.execute("SELECT to_regclass('runs')").fetchone()[0]:
            return []
        return conn.execute("SELECT run_id, status FROM runs ORDER BY create_timestamp").fetchall()


def _wait_for_a_started_stats_run(database_url: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(libpq_url(database_url)) as conn:
            if conn.execute("SELECT to_regclass('runs')").fetchone()[0]:
                row = conn.execute(
                    "SELECT run_id FROM runs WHERE status = 'STARTED' "
                    "AND pipeline_name = 'telegram_stats_job'"
                ).fetchone()
                if row:
                    return row[0]
        time.sleep(0.2)
    raise AssertionError("no stats run started")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_stopped_backfill_cancels_its_run_and_exits_quickly(
    pipeline_env, use_scenario: Path, database_url: str, sig: signal.Signals
) -> None:
    _slow(use_scenario, 1.0)
    process = _start(pipeline_env)
    run_id = _wait_for_a_started_stats_run(database_url)
    stopped = time.monotonic()
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=30)
    assert time.monotonic() - stopped < 10
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert dict(_runs(database_url))[run_id] == "CANCELED"


def test_a_killed_backfill_does_not_block_the_next_one(
    pipeline_env, use_scenario: Path, database_url: str
) -> None:
    _slow(use_scenario, 1.0)
    process = _start(pipeline_env)
    killed = _wait_for_a_started_stats_run(database_url)
    process.kill()
    process.wait(timeout=30)
    assert dict(_runs(database_url))[killed] == "STARTED"  # nobody could say otherwise

    _slow(use_scenario, 0.0)
    again = subprocess.run(
        [sys.executable, "-m", "tgstats_dagster.cli", *BACKFILL],
        env={**os.environ, **pipeline_env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"run {killed}: its process had died" in again.stdout
    statuses = dict(_runs(database_url))
    assert statuses[killed] == "FAILURE"
    assert "STARTED" not in statuses.values()
    assert "loaded" in again.stdout or "reused" in again.stdout


def test_the_next_command_recovers_after_the_embedded_postgresql_died(
    pipeline_env, use_scenario: Path, tmp_path: Path
) -> None:
    """The embedded PostgreSQL killed under a running backfill: the next backfill starts it
    again, cleans up the dead run and loads."""
    home = tmp_path / "embedded-home"
    env = {
        **{
            k: v
            for k, v in pipeline_env.items()
            if not k.startswith(("TGSTATS_DATABASE", "DAGSTER_"))
        },
        "TGSTATS_DATABASE_URL": "",
        "TGSTATS_DAGSTER_PG_URL": "",
        "DAGSTER_HOME": "",
        "TGSTATS_HOME": str(home),
    }
    _slow(use_scenario, 1.0)
    process = _start(env)
    postmaster = home / "pgdata" / "postmaster.pid"
    deadline = time.monotonic() + 120
    url = None
    while time.monotonic() < deadline and url is None:
        lines = postmaster.read_text().splitlines() if postmaster.exists() else []
        if len(lines) >= 8 and lines[7].strip() == "ready":
            url = f"postgresql://postgres:@/postgres?host={lines[4].strip()}"
        else:
            time.sleep(0.2)
    assert url is not None, "the embedded PostgreSQL did not start"
    _wait_for_a_started_stats_run(url)
    os.kill(int(postmaster.read_text().splitlines()[0]), signal.SIGKILL)
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)

    _slow(use_scenario, 0.0)
    again = subprocess.run(
        [sys.executable, "-m", "tgstats_dagster.cli", *BACKFILL],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "its process had died" in again.stdout
    assert "loaded" in again.stdout or "reused" in again.stdout
