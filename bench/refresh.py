"""The daily refresh at scale: wall time against the Telegram latency bound, requests, memory.

Usage::

    .venv/bin/python bench/refresh.py [--peers 40,200] [--paths daemon,backfill,changes]
        [--latency 0.1] [--days 30] [--database-url URL] [--logs DIR]

The PostgreSQL server is ``--database-url``, else TGSTATS_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/postgres if it answers; with none, the bench says so and
exits 0 without figures. The process logs and replay logs are kept in ``--logs DIR``
(default: a new temporary folder, printed first). Every (path, N) works in a scratch
database of its own on that server (created, then dropped) and a temporary TGSTATS_HOME
(DAGSTER_HOME unset, so the Dagster instance lives under it, its storage in that database).

Scenario (bench/_refresh_scenario.py): N synthetic peers on the offline Telegram, broadcast
and megagroup alternately, half on stats DC 4 (home DC 2), all with stats rights and every
graph present; scenario.json ``latency`` delays every answer by ``--latency`` seconds. The
window is the ``--days`` days ending yesterday (UTC), which today's 03:30 UTC tick of the
schedule covers; TGSTATS_START_DATE is its first day.

Figures, per (path, N):

- ``min_requests``: per peer, 1 stats request + 1 LoadAsyncGraph per async graph it serves,
  + for a channel the 4 content requests of a new snapshot (a page of history, one of the
  stories archive, the Stars and the TON revenue).
- ``bound_s``: min_requests x latency / MTPROTO_STATS_CONCURRENCY (from the environment,
  default 3) + one connection set-up in sequence (GetConfig, GetUsers, GetState,
  GetDifference, plus 2 requests per other stats DC for the exported authorization).
- ``refresh_s`` and ``ratio`` = refresh_s / bound_s (machines are noisy: compare ratios).
- ``runs``: Dagster runs of the timed part; ``requests``: replay-log lines written during it
  (TGSTATS_REPLAY_LOG: one line per request the offline Telegram answered).
- ``peak_rss_mb``: peak summed VmRSS of the measured process tree (/proc, every 0.2 s);
  ``process_peak_rss_mb`` (daemon path): the peak VmRSS of its largest process (the run
  worker, the webserver, the daemon or the code server).
- ``failed_runs``: runs that did not succeed; ``complete_peers``: peers with channel_daily
  rows for the window's last day (should be N, else a warning on stderr).

Paths:

- ``daemon``: ``tgstats dev`` (webserver + daemon) over a scenario whose window ends the day
  before yesterday, with TGSTATS_SNAPSHOT_MAX_AGE_HOURS=0. Untimed set-up: wait until the UI
  answers, the code location is loaded, the daemons are healthy, and the peer sensor's work
  is done (telegram_peers has N rows, no run queued or in progress, and the dynamic
  partitions set ``stats_peer`` holds N keys). Then twice what the UI's "Test schedule" +
  "Launch all" does: GraphQL ``scheduleDryRun`` of ``daily_stats_refresh`` at today's 03:30
  UTC, then ``launchMultipleRuns`` with every run request, built as the UI builds them. The
  first loads the whole window (``first_refresh_s``); then the scenario serves the next day
  (bench/_next_day.py) and the second is the measured refresh. Each waits for the chain of
  runs it starts: the snapshots run, the daily runs the changes sensor asks for, the report
  runs, any retry; done when every run has ended and each of those sensors completed a tick
  after the last end. ``refresh_s``: from the launch call to the end of the last run that is
  not a report run (the rows are in); ``reports_s``: to the end of the last report run;
  ``chain_s``: until the bench saw the chain done. ``events``: asset materializations added,
  against ``events_budget`` as for ``changes``. ``last_row_s``: the newest channel_daily
  ``updated_at`` after the launch call. ``setup_s`` is the untimed set-up. ``peak_rss_mb``
  is the tree of ``tgstats dev`` (webserver, daemon, code server, run workers).
- ``backfill``: ``tgstats backfill --start FIRST --end LAST`` timed as a whole: it adds the
  peers, loads the peer entities, then the stats; nothing is subtracted. Its bound and
  ``min_requests`` include the entities of the new peers (resolveUsername + getFullChannel
  per peer, and that run's connection set-up). ``runs`` are all
  runs of its instance; ``stats_requests`` are stats + LoadAsyncGraph requests and
  ``peer_requests`` the rest (connection set-up, peer entities).

- ``changes`` (what a refresh records in Dagster; the CLI path): a scenario whose window
  ends 7 days before yesterday. ``backfill_s``: ``tgstats backfill`` of its window. Then
  ``tgstats refresh`` with nothing changed (the snapshots are reused, as on a second run the
  same day): ``noop_refresh_s``, ``noop_events`` (rows added to ``event_logs``),
  ``noop_event_log_bytes`` (their serialized events), ``noop_bytes_per_peer``,
  ``noop_materializations``, ``noop_vs_backfill``. Then the next day (bench/_next_day.py:
  one new and two revised days for every peer) and a refresh that fetches it
  (TGSTATS_SNAPSHOT_MAX_AGE_HOURS=0): ``refresh_s``, ``bound_s``, ``ratio``, ``events``
  (asset materializations) against ``events_budget`` (per peer: 3 days of channel_daily,
  the 4 snapshot assets once, its report once), ``event_rows``, ``event_log_bytes``. Then 6
  more next days, a refresh each: ``event_log_growth_bytes`` (Dagster's tables, indexes
  included) against ``warehouse_growth_bytes`` (the warehouse's) over the 7 refreshes.

Every process started is stopped (SIGINT to its process group, SIGKILL after 30 s) and every
scratch database dropped, also on errors and Ctrl-C; every wait is bounded and fails with
the tails of the process logs. The figures come last, one ``name=value`` line per
(path, N).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the test helpers are not installed, only the package
    sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402
from _refresh_scenario import (  # noqa: E402
    GRAPH_REQUESTS,
    STATS_REQUESTS,
    BenchScenario,
    write_bench_scenario,
)

from tgstats_dagster.runs import REPORT_JOB  # noqa: E402
from tgstats_dagster.warehouse.server import libpq_url, with_driver  # noqa: E402
from tgstats_dagster_tests.databases import scratch_database  # noqa: E402
from tgstats_dagster_tests.e2e import graphql  # noqa: E402
from tgstats_dagster_tests.e2e.processes import (  # noqa: E402
    VENV_BIN,
    ProcessSet,
    free_port,
    server_info,
    start_tgstats_dev,
    venv_environment,
)

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
SCHEDULE = "daily_stats_refresh"
PEER_SENSOR = "telegram_peer_sensor"
STATS_PEER_SET = "stats_peer"
#: The run sensors that continue a refresh: the daily runs of what changed, the reports of
#: the peers whose rows changed, the retries of failed peers.
CHAIN_SENSORS = ("telegram_changes_sensor", "telegram_report_sensor", "telegram_follow_up_sensor")
TICK_HOUR, TICK_MINUTE = 3, 30
STARTUP_TIMEOUT = 180.0
RSS_INTERVAL = 0.2
ACTIVE_RUN_STATUSES = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
PATHS = ("daemon", "backfill", "changes")
#: Days the scenario of the ``changes`` path moves on, one refresh each.
WEEK = 7

# What the UI's "Launch all" sends (dagster-ui RunUtils LAUNCH_MULTIPLE_RUNS_MUTATION).
LAUNCH_MULTIPLE_RUNS = """
mutation LaunchMultipleRuns($executionParamsList: [ExecutionParams!]!) {
  launchMultipleRuns(executionParamsList: $executionParamsList) {
    __typename
    ... on LaunchMultipleRunsResult {
      launchMultipleRunsResult {
        __typename
        ... on LaunchRunSuccess { run { id runId status } }
        ... on InvalidStepError { invalidStepKey }
        ... on InvalidOutputError { stepKey invalidOutputName }
        ... on PythonError { message stack }
        ... on Error { message }
      }
    }
    ... on PythonError { message stack }
  }
}
"""


class BenchError(RuntimeError):
    """A step of the bench failed; the message says which and carries the process logs."""


@dataclass
class Result:
    path: str
    peers: int
    figures: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        return " ".join(
            [f"path={self.path}", f"peers={self.peers}"]
            + [f"{name}={_format(value)}" for name, value in self.figures.items()]
        )


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


# ----- the measured process tree ---------------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found += [int(p) for p in children.read_text().split()]
    return found


def _rss_kb(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0  # gone, or a zombie


def tree_rss_kb(root: int) -> tuple[int, int]:
    """(summed RSS of the tree, the largest RSS of one process in it)."""
    total, largest, todo, seen = 0, 0, [root], set()
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        rss = _rss_kb(pid)
        total += rss
        largest = max(largest, rss)
        todo += _children(pid)
    return total, largest


class PeakRss:
    """Samples the summed RSS of a process tree every 0.2 s in a thread, while entered."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_kb = 0
        self.largest_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            total, largest = tree_rss_kb(self.root)
            self.peak_kb = max(self.peak_kb, total)
            self.largest_kb = max(self.largest_kb, largest)
            self._stop.wait(RSS_INTERVAL)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)

    @property
    def peak_mb(self) -> float:
        return self.peak_kb / 1024

    @property
    def largest_mb(self) -> float:
        return self.largest_kb / 1024


# ----- the database, the instance and the replay log -------------------------------------


def resolve_server(option: str | None) -> str | None:
    url = option or os.environ.get("TGSTATS_DATABASE_URL")
    if url:
        return url
    try:
        with psycopg.connect(libpq_url(DEFAULT_SERVER), connect_timeout=3):
            return DEFAULT_SERVER
    except psycopg.Error:
        return None


def query(url: str, sql: str, *params: Any) -> list[tuple]:
    with psycopg.connect(libpq_url(url), connect_timeout=10) as conn:
        return conn.execute(sql, params).fetchall()


def query_or_none(url: str, sql: str, *params: Any) -> list[tuple] | None:
    """``query``, or None while the table does not exist yet."""
    try:
        return query(url, sql, *params)
    except psycopg.errors.UndefinedTable:
        return None


@contextlib.contextmanager
def dagster_instance(home: Path, database_url: str) -> Iterator[dg.DagsterInstance]:
    """The instance of ``tgstats`` under ``home`` (its dagster.yaml reads the URL from env)."""
    saved = os.environ.get("TGSTATS_DAGSTER_PG_URL")
    os.environ["TGSTATS_DAGSTER_PG_URL"] = with_driver(database_url, "psycopg2")
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            yield instance
    finally:
        if saved is None:
            os.environ.pop("TGSTATS_DAGSTER_PG_URL", None)
        else:
            os.environ["TGSTATS_DAGSTER_PG_URL"] = saved


def log_entries(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def wait(
    what: str,
    condition: Callable[[], Any],
    timeout: float,
    logs: Callable[[], str],
    interval: float = 1.0,
    alive: Callable[[], None] | None = None,
) -> Any:
    """Poll ``condition`` until truthy; BenchError with the logs after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        if alive is not None:
            alive()
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise BenchError(f"no {what} within {timeout:.0f} s\n{logs()}")
        time.sleep(interval)


# ----- one (path, N) ----------------------------------------------------------------------


@dataclass
class Setup:
    path: str
    scenario: BenchScenario
    first: date
    last: date
    database_url: str
    home: Path
    log_dir: Path
    replay_log: Path
    env: dict[str, str]
    latency: float
    concurrency: int
    days: int

    @property
    def n(self) -> int:
        return len(self.scenario.peers)

    def base_figures(self) -> dict[str, Any]:
        return {
            "bound_s": self.scenario.bound_seconds(self.latency, self.concurrency),
            "min_requests": self.scenario.min_requests,
        }

    def complete_peers(self) -> int:
        rows = query_or_none(
            self.database_url,
            "SELECT count(DISTINCT peer_key) FROM channel_daily WHERE day = %s",
            self.last,
        )
        return int(rows[0][0]) if rows else 0

    def newest_row(self) -> datetime | None:
        rows = query_or_none(self.database_url, "SELECT max(updated_at) FROM channel_daily")
        return rows[0][0] if rows else None


def run_daemon(setup: Setup) -> dict[str, Any]:
    """The schedule's refresh through ``tgstats dev`` (see the module): a first tick that loads
    the window, untimed, then the next day (one new and two revised days for every peer) and a
    timed tick that fetches it."""
    from _next_day import advance

    folder = setup.home.parent / "scenario-daemon"
    write_bench_scenario(folder, setup.n, setup.last - timedelta(days=1), setup.days, setup.latency)
    env = {
        **setup.env,
        "TGSTATS_TELEGRAM_REPLAY": str(folder),
        "TGSTATS_SNAPSHOT_MAX_AGE_HOURS": "0",
    }
    processes = ProcessSet(setup.log_dir, env)
    try:
        port = free_port()
        start_tgstats_dev(processes, port)
        base_url = f"http://127.0.0.1:{port}"
        client = graphql.DagsterGraphQL(base_url, timeout=600)
        processes.wait_for(
            "answer from the webserver", lambda: server_info(base_url), STARTUP_TIMEOUT
        )
        location = processes.wait_for(
            "loaded code location", lambda: graphql.loaded_location(client), STARTUP_TIMEOUT
        )
        processes.wait_for(
            "healthy daemons", lambda: graphql.daemons_healthy(client), STARTUP_TIMEOUT
        )
        with dagster_instance(setup.home / "dagster", setup.database_url) as instance:
            t0 = time.monotonic()
            _wait_setup_done(setup, processes, client, location, instance)
            setup_s = time.monotonic() - t0
            first = _timed_refresh(setup, processes, client, location, instance)
            advance(folder)
            figures = _timed_refresh(setup, processes, client, location, instance)
            # Per peer: 3 days x channel_daily, the 4 snapshot assets once, the report once.
            figures["events_budget"] = setup.n * (3 * 1 + 4 + 1)
            return figures | {"setup_s": setup_s, "first_refresh_s": first["refresh_s"]}
    finally:
        processes.stop()


DYNAMIC_SETS = """
query DynamicSets {
  assetNodes {
    partitionDefinition { dimensionTypes { dynamicPartitionsDefinitionName } }
  }
}
"""


def dynamic_partition_sets(client: graphql.DagsterGraphQL) -> set[str]:
    """The names of the dynamic partitions sets the code location's assets use."""
    names = set()
    for node in client.execute(DYNAMIC_SETS)["assetNodes"]:
        for dimension in (node["partitionDefinition"] or {}).get("dimensionTypes") or []:
            if dimension["dynamicPartitionsDefinitionName"]:
                names.add(dimension["dynamicPartitionsDefinitionName"])
    return names


def _wait_setup_done(
    setup: Setup,
    processes: ProcessSet,
    client: graphql.DagsterGraphQL,
    location: graphql.Location,
    instance: dg.DagsterInstance,
) -> None:
    defined_sets = dynamic_partition_sets(client)

    def done() -> bool:
        state = graphql.sensor_ticks(client, location, PEER_SENSOR)
        failed = [t for t in state["ticks"] if t["error"]]
        if failed:
            raise BenchError(f"{PEER_SENSOR} failed: {failed[0]['error']['message']}")
        rows = query_or_none(setup.database_url, "SELECT count(*) FROM telegram_peers")
        if not rows or rows[0][0] != setup.n:
            return False
        if instance.get_runs_count(dg.RunsFilter(statuses=ACTIVE_RUN_STATUSES)):
            return False
        stats_peers = instance.get_dynamic_partitions(STATS_PEER_SET)
        if stats_peers or STATS_PEER_SET in defined_sets:
            return len(stats_peers) == setup.n
        return True

    processes.wait_for(
        "end of the peer set-up (sensor + peer entities)", done, STARTUP_TIMEOUT + 30.0 * setup.n
    )


def _timed_refresh(
    setup: Setup,
    processes: ProcessSet,
    client: graphql.DagsterGraphQL,
    location: graphql.Location,
    instance: dg.DagsterInstance,
) -> dict[str, Any]:
    now = datetime.now(timezone.utc)
    tick = datetime(now.year, now.month, now.day, TICK_HOUR, TICK_MINUTE, tzinfo=timezone.utc)
    selector = {**location.repository_selector, "scheduleName": SCHEDULE}
    result = client.execute(
        graphql.SCHEDULE_DRY_RUN, {"selector": selector, "timestamp": tick.timestamp()}
    )
    evaluation = graphql.expect(result["scheduleDryRun"], "DryRunInstigationTick")[
        "evaluationResult"
    ]
    if evaluation["error"]:
        raise BenchError(f"{SCHEDULE} tick failed: {evaluation['error']['message']}")
    requests = evaluation["runRequests"] or []
    if not requests:
        raise BenchError(f"{SCHEDULE} tick requested no run: {evaluation['skipReason']}")
    # A request without a job is for the schedule's job, as the UI reads it.
    schedule_job = graphql.schedule(client, location, SCHEDULE)["pipelineName"]
    params = [_execution_params(r, location, schedule_job) for r in requests]
    log_before = len(log_entries(setup.replay_log))
    _, _, materialized_before = event_log(setup.database_url)
    root = processes.processes[0].popen.pid
    timeout = 600.0 + 60.0 * setup.n  # one run per peer costs ~30 s here
    with PeakRss(root) as rss:
        started_wall = datetime.now(timezone.utc)
        started = time.monotonic()
        launched = client.execute(LAUNCH_MULTIPLE_RUNS, {"executionParamsList": params})
        outcome = graphql.expect(launched["launchMultipleRuns"], "LaunchMultipleRunsResult")
        run_ids = []
        for item in outcome["launchMultipleRunsResult"]:
            run_ids.append(graphql.expect(item, "LaunchRunSuccess")["run"]["runId"])

        found = processes.wait_for(
            f"end of the {len(run_ids)} launched runs and of the runs their sensors asked for",
            lambda: _chain_done(client, location, instance, started_wall),
            timeout,
            interval=0.5,
        )
        chain_s = time.monotonic() - started
    _, _, materialized_after = event_log(setup.database_url)
    daily = [r for r in found if r.job_name != REPORT_JOB]
    reports = [r for r in found if r.job_name == REPORT_JOB]
    refresh_s = _ended(instance, daily) - started_wall.timestamp()
    newest = setup.newest_row()
    entries = log_entries(setup.replay_log)[log_before:]
    failed = [r.run_id for r in found if r.status != dg.DagsterRunStatus.SUCCESS]
    bound = setup.scenario.bound_seconds(setup.latency, setup.concurrency)
    return {
        "refresh_s": refresh_s,
        **setup.base_figures(),
        "ratio": refresh_s / bound,
        "reports_s": _ended(instance, reports) - started_wall.timestamp() if reports else 0.0,
        "chain_s": chain_s,
        "runs": len(found),
        "report_runs": len(reports),
        "failed_runs": len(failed),
        "events": materialized_after - materialized_before,
        "requests": len(entries),
        "stats_requests": sum(e["request"] in STATS_REQUESTS | GRAPH_REQUESTS for e in entries),
        "last_row_s": (newest - started_wall).total_seconds() if newest else "none",
        "peak_rss_mb": rss.peak_mb,
        "process_peak_rss_mb": rss.largest_mb,
        "complete_peers": setup.complete_peers(),
    }


TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor { sensorState { ticks(limit: 5) { status timestamp } } }
    ... on PythonError { message }
  }
}
"""


def _chain_done(
    client: graphql.DagsterGraphQL,
    location: graphql.Location,
    instance: dg.DagsterInstance,
    since: datetime,
) -> list[dg.DagsterRun] | None:
    """The runs created since ``since`` once the chain they start has ended: every run
    finished, and each run sensor (changes, report, follow-up) has completed a tick that
    began after the last run ended, so it saw every run's end and asked for all it will."""
    found = instance.get_runs(dg.RunsFilter(created_after=since))
    if not found or not all(r.is_finished for r in found):
        return None
    last_end = _ended(instance, found)
    for sensor in CHAIN_SENSORS:
        selector = {**location.repository_selector, "sensorName": sensor}
        result = client.execute(TICKS, {"selector": selector})["sensorOrError"]
        ticks = graphql.expect(result, "Sensor")["sensorState"]["ticks"]
        if not any(t["status"] != "STARTED" and t["timestamp"] > last_end + 1 for t in ticks):
            return None
    # a tick may have launched a run after the list above was read
    if len(instance.get_runs(dg.RunsFilter(created_after=since))) != len(found):
        return None
    return found


def _ended(instance: dg.DagsterInstance, runs: list[dg.DagsterRun]) -> float:
    """The wall time (epoch seconds) at which the last of ``runs`` ended."""
    records = instance.get_run_records(dg.RunsFilter(run_ids=[r.run_id for r in runs]))
    return max(r.end_time or 0.0 for r in records)


def _execution_params(
    request: dict[str, Any], location: graphql.Location, job_fallback: str
) -> dict[str, Any]:
    """One run request as the UI's buildExecutionParamsListSchedule + UI tags build it."""
    tags = [{"key": t["key"], "value": t["value"]} for t in request["tags"]]
    tags = [t for t in tags if t["key"] != "dagster/from_ui"]
    tags.append({"key": "dagster/from_ui", "value": "true"})
    return {
        "runConfigData": (request["runConfigYaml"] or "").strip() or "{}",
        "selector": {
            **location.repository_selector,
            "jobName": request["jobName"] or job_fallback,
            "assetSelection": [{"path": a["path"]} for a in request["assetSelection"] or []],
            "assetCheckSelection": [
                {"assetKey": {"path": c["assetKey"]["path"]}, "name": c["name"]}
                for c in request["assetChecks"] or []
            ],
        },
        "mode": "default",
        "executionMetadata": {"tags": tags},
    }


def run_backfill(setup: Setup) -> dict[str, Any]:
    processes = ProcessSet(setup.log_dir, setup.env)
    command = [
        str(VENV_BIN / "tgstats"),
        "backfill",
        "--start",
        setup.first.isoformat(),
        "--end",
        setup.last.isoformat(),
    ]
    timeout = 300.0 + 15.0 * setup.n
    try:
        started = time.monotonic()
        process = processes.start("tgstats-backfill", command)
        with PeakRss(process.popen.pid) as rss:
            wait(
                "end of tgstats backfill",
                lambda: process.popen.poll() is not None,
                timeout,
                processes.logs,
                interval=0.2,
            )
            refresh_s = time.monotonic() - started
    finally:
        processes.stop()
    code = process.popen.returncode
    if code != 0:
        print(f"tgstats backfill exited with {code}:\n{processes.logs(30)}", file=sys.stderr)
    entries = log_entries(setup.replay_log)
    stats = sum(e["request"] in STATS_REQUESTS | GRAPH_REQUESTS for e in entries)
    with dagster_instance(setup.home / "dagster", setup.database_url) as instance:
        runs = instance.get_runs()
        failed = [r for r in runs if r.status != dg.DagsterRunStatus.SUCCESS]
    # A backfill of new peers loads their entities first: that is part of its bound.
    bound = setup.scenario.bound_seconds(
        setup.latency, setup.concurrency
    ) + setup.scenario.peer_bound_seconds(setup.latency, setup.concurrency)
    return {
        "refresh_s": refresh_s,
        **setup.base_figures(),
        "bound_s": bound,
        "min_requests": setup.scenario.min_requests + setup.scenario.peer_min_requests,
        "ratio": refresh_s / bound,
        "runs": len(runs),
        "failed_runs": len(failed),
        "requests": len(entries),
        "stats_requests": stats,
        "peer_requests": len(entries) - stats,
        "peak_rss_mb": rss.peak_mb,
        "complete_peers": setup.complete_peers(),
        "exit": code,
    }


def event_log(url: str) -> tuple[int, int, int]:
    """(rows, bytes of their serialized events, asset materializations) of Dagster's event log."""
    [(rows, size, materializations)] = query(
        url,
        "SELECT count(*), coalesce(sum(octet_length(event)), 0), "
        "count(*) FILTER (WHERE dagster_event_type = 'ASSET_MATERIALIZATION') FROM event_logs",
    )
    return int(rows), int(size), int(materializations)


def table_bytes(url: str) -> tuple[int, int]:
    """(Dagster's tables, the warehouse's tables): their total size on disk, indexes included."""
    from tgstats_dagster.warehouse.tables import TABLES

    rows = query(
        url,
        "SELECT tablename, pg_total_relation_size(quote_ident(tablename)) FROM pg_tables "
        "WHERE schemaname = 'public'",
    )
    warehouse = sum(size for name, size in rows if name in TABLES)
    return sum(size for _, size in rows) - warehouse, warehouse


def _tgstats(setup: Setup, name: str, *args: str, env: dict[str, str] | None = None) -> float:
    """Run ``tgstats ARGS`` to its end; its wall time. A non-zero exit fails the bench."""
    processes = ProcessSet(setup.log_dir, {**setup.env, **(env or {})})
    try:
        started = time.monotonic()
        process = processes.start(name, [str(VENV_BIN / "tgstats"), *args])
        wait(
            f"end of tgstats {args[0]}",
            lambda: process.popen.poll() is not None,
            300.0 + 15.0 * setup.n,
            processes.logs,
            interval=0.2,
        )
        seconds = time.monotonic() - started
    finally:
        processes.stop()
    if process.popen.returncode != 0:
        raise BenchError(
            f"tgstats {args[0]} exited with {process.popen.returncode}:\n{processes.logs(30)}"
        )
    return seconds


def run_changes(setup: Setup) -> dict[str, Any]:
    """What a refresh records in Dagster (``tgstats refresh``, the CLI path).

    The scenario's window ends WEEK days before yesterday; the refresh window (the last
    ``--days`` days up to yesterday) covers it. First the backfill of the scenario's window
    (``backfill_s``). Then a refresh with nothing changed (its snapshots are reused:
    ``noop_*``). Then "the next day" (bench/_next_day.py: one new day, two revised days for
    every peer) and a refresh that fetches it (``refresh_s`` against ``bound_s``,
    ``events`` against ``events_budget``). Then WEEK - 1 more next days: Dagster's tables
    against the warehouse's over the WEEK days (``*_growth_bytes``).
    """
    from _next_day import advance

    end = setup.last - timedelta(days=WEEK)
    start = end - timedelta(days=setup.days - 1)
    folder = setup.home.parent / "scenario-changes"
    scenario = write_bench_scenario(folder, setup.n, end, setup.days, setup.latency)
    env = {"TGSTATS_TELEGRAM_REPLAY": str(folder), "TGSTATS_START_DATE": start.isoformat()}
    fetch = {**env, "TGSTATS_SNAPSHOT_MAX_AGE_HOURS": "0"}
    url = setup.database_url
    figures: dict[str, Any] = {}
    figures["backfill_s"] = _tgstats(
        setup,
        "backfill",
        "backfill",
        "--start",
        start.isoformat(),
        "--end",
        end.isoformat(),
        env=env,
    )
    rows, size, materialized = event_log(url)
    figures["noop_refresh_s"] = _tgstats(setup, "noop-refresh", "refresh", env=env)
    rows2, size2, materialized2 = event_log(url)
    figures["noop_events"] = rows2 - rows
    figures["noop_event_log_bytes"] = size2 - size
    figures["noop_bytes_per_peer"] = (size2 - size) / setup.n
    figures["noop_materializations"] = materialized2 - materialized
    figures["noop_vs_backfill"] = figures["noop_refresh_s"] / figures["backfill_s"]

    dagster_before, warehouse_before = table_bytes(url)
    advance(folder)
    rows, size, materialized = event_log(url)
    refresh_s = _tgstats(setup, "next-day-refresh", "refresh", env=fetch)
    rows2, size2, materialized2 = event_log(url)
    bound = scenario.bound_seconds(setup.latency, setup.concurrency)
    # Per peer: 3 days x channel_daily, the 4 snapshot assets once, the report once.
    budget = setup.n * (3 * 1 + 4 + 1)
    figures |= {
        "refresh_s": refresh_s,
        "bound_s": bound,
        "ratio": refresh_s / bound,
        "events": materialized2 - materialized,
        "events_budget": budget,
        "event_rows": rows2 - rows,
        "event_log_bytes": size2 - size,
    }
    for day in range(WEEK - 1):
        advance(folder)
        _tgstats(setup, f"next-day-refresh-{day + 2}", "refresh", env=fetch)
    dagster_after, warehouse_after = table_bytes(url)
    figures["event_log_growth_bytes"] = dagster_after - dagster_before
    figures["warehouse_growth_bytes"] = warehouse_after - warehouse_before
    figures["complete_peers"] = setup.complete_peers()
    return figures


RUNNERS: dict[str, Callable[[Setup], dict[str, Any]]] = {
    "daemon": run_daemon,
    "backfill": run_backfill,
    "changes": run_changes,
}


def bench_one(path: str, n: int, server: str, args: argparse.Namespace) -> Result:
    last = datetime.now(timezone.utc).date() - timedelta(days=1)
    first = last - timedelta(days=args.days - 1)
    concurrency = int(os.environ.get("MTPROTO_STATS_CONCURRENCY") or 3)
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"refresh-{path}-")))
        database_url = stack.enter_context(scratch_database(server, f"bench_refresh_{path}"))
        scenario = write_bench_scenario(tmp / "scenario", n, last, args.days, args.latency)
        logs = args.logs / f"{path}-{n}"
        logs.mkdir(parents=True, exist_ok=True)
        replay_log = logs / "replay.jsonl"
        replay_log.unlink(missing_ok=True)
        env = venv_environment(
            {
                "MTPROTO_ENABLED": "true",
                "MTPROTO_STATS_ENABLED": "true",
                "MTPROTO_STATS_PEERS": ",".join(scenario.keys),
                "MTPROTO_STATS_PERIOD_DAYS": str(args.days),
                "MTPROTO_STATS_CONCURRENCY": str(concurrency),
                "TGSTATS_TELEGRAM_REPLAY": str(scenario.folder),
                "TGSTATS_REPLAY_LOG": str(replay_log),
                "TGSTATS_DATABASE_URL": database_url,
                "TGSTATS_HOME": str(tmp / "home"),
                "TGSTATS_START_DATE": first.isoformat(),
                "DAGSTER_HOME": None,
                "TGSTATS_DAGSTER_PG_URL": None,
                "TG_API_ID": None,
                "TG_API_HASH": None,
                "TG_SESSION": None,
                "TGSTATS_SNAPSHOT_MAX_AGE_HOURS": None,
            }
        )
        setup = Setup(
            path,
            scenario,
            first,
            last,
            database_url,
            tmp / "home",
            logs,
            replay_log,
            env,
            args.latency,
            concurrency,
            args.days,
        )
        started = time.monotonic()
        print(f"[refresh] {path} N={n}: window {first}..{last}, scratch database ready", flush=True)
        figures = RUNNERS[path](setup)
        figures["wall_s"] = time.monotonic() - started
        if figures.get("complete_peers") != n:
            print(
                f"[refresh] WARNING {path} N={n}: only {figures.get('complete_peers')} peers "
                f"have channel_daily rows for {last}",
                file=sys.stderr,
            )
        return Result(path, n, figures)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", default="40,200", help="comma-separated peer counts")
    parser.add_argument("--paths", default=",".join(PATHS), help="daemon,backfill,changes")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    parser.add_argument("--days", type=int, default=30, help="days of the refresh window")
    parser.add_argument("--database-url", help="a PostgreSQL server (admin URL)")
    parser.add_argument(
        "--logs",
        type=Path,
        help="folder kept for the process logs and replay logs (default: a new temporary one)",
    )
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.peers.split(",") if n.strip()]
    paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = sorted(set(paths) - set(PATHS))
    if unknown or not counts or args.latency <= 0 or args.days < 2:
        parser.error(f"bad --paths {unknown}, --peers, --latency (> 0) or --days (>= 2)")
    server = resolve_server(args.database_url)
    if server is None:
        print(
            f"refresh bench skipped: no --database-url, no TGSTATS_DATABASE_URL, and "
            f"{DEFAULT_SERVER} does not answer"
        )
        return 0
    if args.logs is None:
        args.logs = Path(tempfile.mkdtemp(prefix="bench-refresh-logs-"))
    print(f"[refresh] process and replay logs: {args.logs}", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    results: list[Result] = []
    for path in paths:
        for n in counts:
            results.append(bench_one(path, n, server, args))
            print(f"[refresh] {results[-1].line()}", flush=True)
    print()
    for result in results:
        print(result.line())
    return 0


if __name__ == "__main__":
    sys.exit(main())
