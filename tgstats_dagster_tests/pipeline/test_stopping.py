"""Stopping is safe: real `tgstats backfill` processes, signalled mid-run.

A backfill is stopped at a known phase: a Telegram request of that phase gets a flood wait
of 50 s, which the client sleeps (it is within the flood sleep threshold), so the command
cannot end by itself within the 10 s that stopping may take. The signal is sent once the
offline Telegram has logged that flood wait (``TGSTATS_REPLAY_LOG``), to the process alone
or to its whole process group, as a terminal's Ctrl-C, ``kill`` or a process manager do.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import psutil
import psycopg
import pytest

from tgstats_dagster.warehouse.server import libpq_url
from tgstats_dagster_tests.pipeline.conftest import CHANNEL, END_DAY, GROUP, replay_requests

pytestmark = pytest.mark.storage

BACKFILL = ["backfill", "--peers", GROUP, "--start", str(END_DAY), "--end", str(END_DAY)]
#: The contract (DESIGN.md, "Stopping is safe"): a stopped command exits within 10 s.
STOP_SECONDS = 10
#: Longer than STOP_SECONDS, shorter than the flood sleep threshold (60 s): the client sleeps it.
FLOOD_WAIT = "FLOOD_WAIT_50"


def _flood_wait(request: str, peer: str | None = None) -> dict:
    return {"request": request, "error": FLOOD_WAIT, "times": 1, **({"peer": peer} if peer else {})}


@dataclass(frozen=True)
class Phase:
    """Where a backfill is stopped: ``request`` of that phase sleeps a flood wait."""

    args: list[str]
    faults: list[dict]
    request: str
    line: str  # a line the command prints before that phase
    #: after this line is printed, the scenario's faults become ``faults`` (each run reads
    #: the scenario afresh): a follow-up run gets the flood wait, not the first run
    first_line: str | None = None
    first_faults: list[dict] = field(default_factory=list)


INVALID_GROUP = "Telegram says CHANNEL_INVALID"
PHASES = {
    "entities": Phase(
        BACKFILL,
        [_flood_wait("GetFullChannelRequest", GROUP)],
        "GetFullChannelRequest",
        "peer entities of",
    ),
    "stats": Phase(
        BACKFILL,
        [_flood_wait("GetMegagroupStatsRequest")],
        "GetMegagroupStatsRequest",
        "snapshots of",
    ),
    "graphs": Phase(
        BACKFILL,
        [_flood_wait("LoadAsyncGraphRequest", GROUP)],
        "LoadAsyncGraphRequest",
        "snapshots of",
    ),
    # The first stats run fails for the group (the channel loads); the group's follow-up
    # run sleeps.
    "follow-up": Phase(
        ["backfill", "--peers", f"{CHANNEL},{GROUP}", *BACKFILL[3:]],
        [_flood_wait("GetMegagroupStatsRequest")],
        "GetMegagroupStatsRequest",
        "follow-up run:",
        first_line=INVALID_GROUP,
        first_faults=[
            {"request": "GetMegagroupStatsRequest", "error": "CHANNEL_INVALID", "times": 1}
        ],
    ),
}


def _scenario(scenario: Path, **settings: object) -> None:
    current = json.loads((scenario / "scenario.json").read_text())
    (scenario / "scenario.json").write_text(json.dumps({**current, **settings}))


class _Command:
    """A `tgstats` command in a process group of its own; its output read as it comes."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "tgstats_dagster.cli", *args],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.popen.stdout, self.stdout)),
            threading.Thread(target=self._read, args=(self.popen.stderr, self.stderr)),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream, lines: list[str]) -> None:
        for line in stream:
            lines.append(line)

    def wait(self, timeout: float) -> int:
        code = self.popen.wait(timeout=timeout)
        for reader in self._readers:
            reader.join(timeout=30)
        return code

    def printed(self, text: str) -> bool:
        return any(text in line for line in self.stdout)

    def output(self) -> str:
        return "".join(self.stdout) + "".join(self.stderr)


def _wait_for(what: str, condition: Callable[[], bool], command: _Command, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if command.popen.poll() is not None:
            raise AssertionError(f"the command ended before {what}:\n{command.output()[-3000:]}")
        time.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout} s:\n{command.output()[-3000:]}")


def _statuses(database_url: str) -> dict[str, str]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        if not conn.execute("SELECT to_regclass('runs')").fetchone()[0]:
            return {}
        return dict(conn.execute("SELECT run_id, status FROM runs").fetchall())


def _snapshots(database_url: str, peer: str) -> int:
    with psycopg.connect(libpq_url(database_url)) as conn:
        query = "SELECT count(*) FROM stats_snapshots WHERE peer_key = %s"
        return conn.execute(query, (peer,)).fetchone()[0]


def _left_in_group(pgid: int) -> list[str]:
    left = []
    for process in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                left.append(" ".join(process.info["cmdline"] or []))
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return left


def _signal(command: _Command, sig: signal.Signals, target: str) -> None:
    if target == "group":
        os.killpg(command.popen.pid, sig)
    else:
        command.popen.send_signal(sig)


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
                    "AND pipeline_name = 'telegram_snapshots_job'"
                ).fetchone()
                if row:
                    return row[0]
        time.sleep(0.2)
    raise AssertionError("no stats run started")


CASES = [
    *[(phase, signal.SIGINT, target) for phase in PHASES for target in ("process", "group")],
    *[("stats", signal.SIGTERM, target) for target in ("process", "group")],
]


@pytest.mark.parametrize(
    ("phase", "sig", "target"), CASES, ids=[f"{p}-{s.name}-{t}" for p, s, t in CASES]
)
def test_a_stopped_backfill_cancels_its_runs_and_exits_quickly(
    pipeline_env, use_scenario: Path, database_url: str, phase: str, sig: signal.Signals, target
) -> None:
    stop_at = PHASES[phase]
    _scenario(use_scenario, faults=stop_at.first_faults if stop_at.first_line else stop_at.faults)
    log = Path(pipeline_env["TGSTATS_REPLAY_LOG"])
    command = _Command(stop_at.args, pipeline_env)
    try:
        if stop_at.first_line:
            _wait_for(
                f"'{stop_at.first_line}'", lambda: command.printed(stop_at.first_line), command
            )
            _scenario(use_scenario, faults=stop_at.faults)
        _wait_for(f"'{stop_at.line}'", lambda: command.printed(stop_at.line), command)
        _wait_for(
            f"a flood wait on {stop_at.request}",
            lambda: any(
                r["request"] == stop_at.request and FLOOD_WAIT in r["outcome"]
                for r in replay_requests(log)
            ),
            command,
        )
        _signal(command, sig, target)
        stopped = time.monotonic()
        code = command.wait(timeout=120)
        took = time.monotonic() - stopped
    finally:
        if command.popen.poll() is None:
            command.popen.kill()
            command.wait(timeout=30)
    stderr = "".join(command.stderr)
    assert code == 128 + sig, command.output()[-3000:]
    assert took < STOP_SECONDS, f"{took:.1f} s to stop"
    assert "Traceback" not in command.output()
    assert stderr.strip().splitlines()[-1].startswith("tgstats: stopped; "), stderr
    runs = _statuses(database_url)
    assert runs and "CANCELED" in runs.values(), runs
    assert not {"STARTED", "STARTING", "NOT_STARTED", "QUEUED"} & set(runs.values()), runs
    if phase == "follow-up":  # what the first run fetched is kept
        assert _snapshots(database_url, CHANNEL) >= 1
    deadline = time.monotonic() + 15
    while _left_in_group(command.popen.pid) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _left_in_group(command.popen.pid)


def _report_runs(database_url: str) -> set[str]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        if not conn.execute("SELECT to_regclass('runs')").fetchone()[0]:
            return set()
        query = "SELECT status FROM runs WHERE pipeline_name = 'telegram_report_job'"
        return {status for (status,) in conn.execute(query).fetchall()}


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_backfill_stopped_while_it_draws_its_reports_exits_with_the_signal(
    pipeline_env, use_scenario: Path, database_url: str, sig: signal.Signals
) -> None:
    """The report run draws in C++ (matplotlib) on the run's thread: the process must end
    with the signal's code, not abort while Python shuts down under that thread."""
    args = [*BACKFILL[:2], f"{CHANNEL},{GROUP}", "--start", str(END_DAY - timedelta(days=60))]
    command = _Command([*args, "--end", str(END_DAY)], pipeline_env)
    try:
        _wait_for("'reports of'", lambda: command.printed("reports of"), command)
        _wait_for("a started report run", lambda: "STARTED" in _report_runs(database_url), command)
        _signal(command, sig, "process")
        code = command.wait(timeout=120)
    finally:
        if command.popen.poll() is None:
            command.popen.kill()
            command.wait(timeout=30)
    stderr = "".join(command.stderr)
    assert code == 128 + sig, command.output()[-3000:]
    assert "Traceback" not in command.output()
    assert stderr.strip().splitlines()[-1].startswith("tgstats: stopped; "), stderr
    assert _report_runs(database_url) == {"CANCELED"}


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
