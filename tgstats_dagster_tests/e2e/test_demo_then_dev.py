"""A newcomer's first hour: `tgstats demo`, then `tgstats dev` over the same data.

On a fresh TGSTATS_HOME and an environment with nothing of the project's set: the demo
loads the demo peers up to yesterday; `tgstats dev` then opens the UI over that data with the
loader on (the offline Telegram), the sensor and the schedule do not skip for lack of
configuration, and SIGTERM to its process group stops the UI, the daemon and the embedded
PostgreSQL.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tgstats_dagster_tests.e2e import graphql
from tgstats_dagster_tests.e2e.conftest import ARTIFACTS, CHANNEL, GROUP, PEER_SENSOR
from tgstats_dagster_tests.e2e.processes import (
    ProcessSet,
    embedded_postgres_url,
    free_port,
    server_info,
    start_tgstats_dev,
    stop_embedded_postgres,
    venv_environment,
)

pytestmark = pytest.mark.e2e

STARTUP_TIMEOUT = 180.0


def _clean_environment(home: Path) -> dict[str, str | None]:
    """Nothing of the project's configured, as on a newcomer's machine."""
    unset = [
        name for name in os.environ if name.startswith(("TGSTATS_", "MTPROTO_", "DAGSTER_", "TG_"))
    ]
    return {**dict.fromkeys(unset), "TGSTATS_HOME": str(home)}


def _demo(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``tgstats demo`` as a user runs it, in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "tgstats_dagster.cli", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
    )


def test_demo_then_dev_shows_the_demo_data_with_the_loader_on(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = venv_environment(_clean_environment(home))
    demo = _demo(env, tmp_path)
    assert demo.returncode == 0, demo.stderr[-3000:]
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    assert f"..{yesterday}" in demo.stdout  # the demo's window ends yesterday

    again = _demo(env, tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "unchanged" in again.stdout and "Telegram requests: 0" in again.stdout

    port = free_port()
    processes = ProcessSet(ARTIFACTS / "demo-then-dev", env)
    try:
        dev = start_tgstats_dev(processes, port)
        base_url = f"http://127.0.0.1:{port}"
        processes.wait_for("the webserver", lambda: server_info(base_url), STARTUP_TIMEOUT)
        client = graphql.DagsterGraphQL(base_url)
        location = processes.wait_for(
            "the code location", lambda: graphql.loaded_location(client), STARTUP_TIMEOUT
        )
        status = graphql.partition_status(client, "channel_daily")
        for peer in (CHANNEL, GROUP):
            assert f"{yesterday}|{peer}" in status["materialized"]

        def sensor_ticked() -> dict | None:
            ticks = graphql.sensor_ticks(client, location, PEER_SENSOR)["ticks"]
            return ticks[0] if ticks else None

        tick = processes.wait_for("a tick of the peer sensor", sensor_ticked, STARTUP_TIMEOUT)
        assert "is off" not in (tick["skipReason"] or ""), tick
        today = datetime.now(timezone.utc)
        dry_run = graphql.schedule_dry_run(
            client,
            location,
            "daily_stats_refresh",
            today.replace(hour=3, minute=30, second=0, microsecond=0).timestamp(),
        )
        assert dry_run["skipReason"] is None and len(dry_run["runRequests"]) == 1, dry_run

        assert embedded_postgres_url(home) is not None
        # SIGTERM to its whole process group, as `kill -- -PGID` or a process manager does.
        stopped = time.monotonic()
        os.killpg(dev.popen.pid, signal.SIGTERM)
        assert dev.popen.wait(timeout=30) == 143, dev.tail()
        assert time.monotonic() - stopped < 15
        assert "Traceback" not in dev.tail(400)
        assert not (home / "pgdata" / "postmaster.pid").exists(), (
            "tgstats dev left the embedded PostgreSQL running"
        )
        assert (home / "pgdata" / ".handle_pids.json").read_text() == "[]"
    finally:
        processes.stop()
        stop_embedded_postgres(home)
