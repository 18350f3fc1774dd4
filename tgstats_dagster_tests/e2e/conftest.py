"""The two deployment shapes, started once per test session and shared by the e2e tests.

- ``dev_deployment``: ``tgstats dev -p PORT -h 127.0.0.1`` on the embedded defaults (the
  embedded PostgreSQL under a fresh ``TGSTATS_HOME``), as a newcomer runs it.
- ``production_deployment``: a gRPC code server, ``dagster-webserver -w WORKSPACE`` and
  ``dagster-daemon run`` on the top-level ``dagster.yaml`` and a database of the suite's
  PostgreSQL server given by ``TGSTATS_DATABASE_URL`` (the shape of docker-compose.yml).

Both serve the bundled demo scenario through the offline Telegram with the loader switched
on and the three demo peers configured, and are ready when the webserver answers, the code
location is loaded, the daemons are healthy, and the peer sensor has added the peers and
loaded their peer entities (through the daemon).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

import tgstats_dagster
from tgstats_dagster.cli.instance import DAGSTER_PERFORMANCE_ENV
from tgstats_dagster.warehouse.server import libpq_url, with_driver
from tgstats_dagster_tests.databases import scratch_database
from tgstats_dagster_tests.e2e import graphql
from tgstats_dagster_tests.e2e.processes import (
    ProcessSet,
    embedded_postgres_url,
    free_port,
    server_info,
    start_production_shape,
    start_tgstats_dev,
    stop_embedded_postgres,
    venv_environment,
)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "e2e"
DEMO_SCENARIO = Path(tgstats_dagster.__file__).parent / "telegram" / "demo_scenario"

CHANNEL, GROUP, NO_RIGHTS = "tgstats_demo_channel", "tgstats_demo_group", "tgstats_demo_norights"
PEERS = (CHANNEL, GROUP, NO_RIGHTS)
# The demo scenario's window ends yesterday, whenever the tests run.
YESTERDAY = datetime.now(timezone.utc).date() - timedelta(days=1)
START_DATE = YESTERDAY - timedelta(days=45)
BACKFILL_PEERS = (CHANNEL, GROUP)
BACKFILL_DAYS = tuple(YESTERDAY - timedelta(days=n) for n in range(12, 2, -1))
#: The peer x date assets: a backfill of days selects them.
STATS_ASSETS = ["channel_daily"]
#: The stats peer assets: one materialization per snapshot.
SNAPSHOT_ASSETS = ["stats_raw", "stats_figures", "post_interactions", "megagroup_tops"]
PEER_SENSOR = "telegram_peer_sensor"
STATS_REQUESTS = {"GetBroadcastStatsRequest", "GetMegagroupStatsRequest"}

STARTUP_TIMEOUT = 180.0
RUN_TIMEOUT = 180.0
BACKFILL_TIMEOUT = 240.0
#: The report sensor's run after a daily run: a sensor tick, then drawing two channels.
REPORT_TIMEOUT = 240.0


def stats_key(day: date, peer: str) -> str:
    """A peer x date partition key: dimensions in name order, so ``<date>|<peer>``."""
    return f"{day.isoformat()}|{peer}"


@dataclass
class BackfillOutcome:
    backfill_id: str
    backfill: dict[str, Any]
    partition_keys: list[str]
    stats_requests_before: Counter


@dataclass
class Deployment:
    """One running deployment shape and what the tests need to drive and inspect it."""

    shape: str
    base_url: str
    client: graphql.DagsterGraphQL
    location: graphql.Location
    processes: ProcessSet
    warehouse_url: str
    replay_log: Path
    peer_tick: dict[str, Any]
    _backfill: BackfillOutcome | None = field(default=None, repr=False)

    def wait_for_runs(self, run_ids: list[str], timeout: float = RUN_TIMEOUT) -> list[dict]:
        def finished() -> list[dict] | None:
            found = graphql.runs(self.client, run_ids=run_ids)
            done = [r for r in found if r["status"] in graphql.FINISHED_RUN_STATUSES]
            return found if len(done) == len(run_ids) else None

        return self.processes.wait_for(f"end of the runs {run_ids}", finished, timeout)

    def backfilled(self) -> BackfillOutcome:
        """The backfill of 2 peers x 10 days through the UI's API, launched once per shape."""
        if self._backfill is None:
            keys = [stats_key(d, p) for p in BACKFILL_PEERS for d in BACKFILL_DAYS]
            before = self.stats_requests()
            backfill_id = graphql.launch_asset_backfill(
                self.client, STATS_ASSETS, keys, title="e2e: 2 peers x 10 days"
            )

            def finished() -> dict | None:
                found = graphql.backfill(self.client, backfill_id)
                runs_done = all(r["status"] in graphql.FINISHED_RUN_STATUSES for r in found["runs"])
                done = found["status"] in graphql.FINISHED_BACKFILL_STATUSES and runs_done
                return found if done else None

            found = self.processes.wait_for(
                f"end of the backfill {backfill_id}", finished, BACKFILL_TIMEOUT
            )
            self._backfill = BackfillOutcome(backfill_id, found, keys, before)
        return self._backfill

    def reported(self) -> None:
        """After the backfill, the report sensor's run: every backfilled peer's report is
        drawn and no run is left going."""
        self.backfilled()

        def done() -> bool:
            status = graphql.partition_status(self.client, "channel_report")
            if not set(BACKFILL_PEERS) <= status["materialized"]:
                return False
            going = graphql.runs(self.client)
            return all(r["status"] in graphql.FINISHED_RUN_STATUSES for r in going)

        self.processes.wait_for("the reports of the backfilled peers", done, REPORT_TIMEOUT)

    def query(self, sql: str, *params: Any) -> list[tuple]:
        with psycopg.connect(libpq_url(self.warehouse_url)) as conn:
            return conn.execute(sql, params).fetchall()

    def stats_requests(self) -> Counter:
        """Stats requests Telegram answered with statistics, by peer (from the replay log)."""
        if not self.replay_log.exists():
            return Counter()
        entries = [json.loads(line) for line in self.replay_log.read_text().splitlines()]
        return Counter(
            e["peer"] for e in entries if e["request"] in STATS_REQUESTS and e["outcome"] == "ok"
        )


def project_environment(home: Path, log_dir: Path) -> dict[str, str | None]:
    """The loader on, over the offline Telegram's demo scenario, with the three demo peers."""
    return {
        "MTPROTO_ENABLED": "true",
        "MTPROTO_STATS_ENABLED": "true",
        "MTPROTO_STATS_PEERS": ",".join(PEERS),
        "TGSTATS_TELEGRAM_REPLAY": str(DEMO_SCENARIO),
        "TGSTATS_REPLAY_LOG": str(log_dir / "replay.jsonl"),
        "TGSTATS_HOME": str(home),
        "TGSTATS_START_DATE": START_DATE.isoformat(),
        # Whatever the developer's shell has set must not leak into the processes.
        **dict.fromkeys(
            [
                "TGSTATS_DATABASE_URL",
                "TGSTATS_DAGSTER_PG_URL",
                "DAGSTER_HOME",
                "TG_API_ID",
                "TG_API_HASH",
                "TG_SESSION",
                "MTPROTO_STATS_PERIOD_DAYS",
                "MTPROTO_STATS_CONCURRENCY",
                "TGSTATS_SNAPSHOT_MAX_AGE_HOURS",
            ]
        ),
    }


def wait_until_ready(
    shape: str, processes: ProcessSet, port: int, warehouse_url: str, log_dir: Path
) -> Deployment:
    base_url = f"http://127.0.0.1:{port}"
    processes.wait_for("answer from the webserver", lambda: server_info(base_url), STARTUP_TIMEOUT)
    client = graphql.DagsterGraphQL(base_url)
    location = processes.wait_for(
        "loaded code location", lambda: graphql.loaded_location(client), STARTUP_TIMEOUT
    )
    processes.wait_for("healthy daemons", lambda: graphql.daemons_healthy(client), STARTUP_TIMEOUT)

    def peer_tick() -> dict | None:
        state = graphql.sensor_ticks(client, location, PEER_SENSOR)
        with_runs = [t for t in state["ticks"] if t["runIds"]]
        failed = [t for t in state["ticks"] if t["error"]]
        if failed:
            raise AssertionError(f"{PEER_SENSOR} failed: {failed[0]['error']['message']}")
        return with_runs[-1] if with_runs else None

    tick = processes.wait_for(f"{PEER_SENSOR} tick that adds the peers", peer_tick, RUN_TIMEOUT)
    deployment = Deployment(
        shape=shape,
        base_url=base_url,
        client=client,
        location=location,
        processes=processes,
        warehouse_url=warehouse_url,
        replay_log=log_dir / "replay.jsonl",
        peer_tick=tick,
    )
    deployment.wait_for_runs(tick["runIds"])
    return deployment


@pytest.fixture(scope="session")
def dev_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """``tgstats dev`` on the embedded defaults."""
    home = tmp_path_factory.mktemp("tgstats-dev-home")
    log_dir = ARTIFACTS / "dev"
    shutil.rmtree(log_dir, ignore_errors=True)
    port = free_port()
    processes = ProcessSet(log_dir, venv_environment(project_environment(home, log_dir)))
    try:
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


@pytest.fixture(scope="session")
def production_database_url(pg_admin_url: str) -> Iterator[str]:
    """A database of its own on the suite's server, for the instance and the warehouse."""
    with scratch_database(pg_admin_url, "tgstats_e2e") as url:
        yield url


def local_workspace(path: Path, code_port: int) -> tuple[Path, str]:
    """workspace.docker.yaml pointed at a code server on this machine: (file, location)."""
    workspace = yaml.safe_load((ROOT / "workspace.docker.yaml").read_text(encoding="utf-8"))
    (entry,) = workspace["load_from"]
    entry["grpc_server"].update(host="127.0.0.1", port=code_port)
    path.write_text(yaml.safe_dump(workspace), encoding="utf-8")
    return path, entry["grpc_server"]["location_name"]


@pytest.fixture(scope="session")
def production_deployment(
    tmp_path_factory: pytest.TempPathFactory, production_database_url: str
) -> Iterator[Deployment]:
    """Code server + webserver + daemon on dagster.yaml and TGSTATS_DATABASE_URL."""
    root = tmp_path_factory.mktemp("tgstats-production")
    log_dir = ARTIFACTS / "production"
    shutil.rmtree(log_dir, ignore_errors=True)
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    shutil.copyfile(ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    code_port, port = free_port(), free_port()
    workspace, location_name = local_workspace(root / "workspace.yaml", code_port)
    env = {
        **project_environment(root / "home", log_dir),
        # What the image sets (Dockerfile), as a deployment does.
        **DAGSTER_PERFORMANCE_ENV,
        "TGSTATS_DATABASE_URL": production_database_url,
        "TGSTATS_DAGSTER_PG_URL": with_driver(production_database_url, "psycopg2"),
        "DAGSTER_HOME": str(dagster_home),
    }
    processes = ProcessSet(log_dir, venv_environment(env))
    try:
        start_production_shape(processes, port, code_port, location_name, workspace)
        yield wait_until_ready("production", processes, port, production_database_url, log_dir)
    finally:
        processes.stop()
