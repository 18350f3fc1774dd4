"""Start and stop the real Dagster processes, as users start them, and wait on them.

Each process runs in a session of its own with its output in a log file; stopping sends
SIGINT to the whole process group (what Ctrl-C in a terminal does, so the processes clean up:
``dagster dev`` stops its children, the embedded PostgreSQL is stopped by its last holder),
then SIGKILL to what is left. Every wait is bounded and fails with the tail of the logs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

VENV_BIN = Path(sys.executable).parent
STOP_GRACE_SECONDS = 30.0
STARTUP_TIMEOUT_SECONDS = 180.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def venv_environment(extra: dict[str, str | None]) -> dict[str, str]:
    """This environment with ``extra`` (None: unset), the project's virtualenv first on PATH.

    That is an activated virtualenv, the way users run ``tgstats`` and ``dagster``.
    """
    env = {**os.environ, **extra}
    env = {name: value for name, value in env.items() if value is not None}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


@dataclass
class Process:
    name: str
    command: list[str]
    popen: subprocess.Popen
    log_path: Path

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class ProcessSet:
    """The processes of one deployment shape; stopped together."""

    log_dir: Path
    env: dict[str, str]
    processes: list[Process] = field(default_factory=list)

    def start(self, name: str, command: Sequence[str]) -> Process:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("wb") as log:
            popen = subprocess.Popen(
                list(command),
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = Process(name, list(command), popen, log_path)
        self.processes.append(process)
        return process

    def logs(self, lines: int = 40) -> str:
        return "\n".join(
            f"----- {p.name} ({' '.join(p.command)}), last {lines} lines of {p.log_path}:\n"
            f"{p.tail(lines)}"
            for p in self.processes
        )

    def check_alive(self) -> None:
        for process in self.processes:
            code = process.popen.poll()
            if code is not None:
                raise RuntimeError(f"{process.name} exited with code {code}\n{self.logs()}")

    def stop(self) -> None:
        """Ctrl-C to every process group, then SIGKILL to what has not exited in time."""
        for process in self.processes:
            _signal_group(process.popen, signal.SIGINT)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(max(0.1, deadline - time.monotonic()))
        for process in self.processes:
            # Children (run workers, code servers) may outlive their parent: the group goes.
            _signal_group(process.popen, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(5)

    def wait_for(
        self,
        what: str,
        condition: Callable[[], T | None],
        timeout: float,
        interval: float = 1.0,
    ) -> T:
        """Poll ``condition`` until it returns something other than None or False.

        Raises TimeoutError naming ``what`` with the processes' log tails; fails at once if
        a process has died.
        """
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            self.check_alive()
            try:
                result = condition()
            except (OSError, urllib.error.URLError, ConnectionError) as exc:
                result, last_error = None, exc
            if result is not None and result is not False:
                return result
            if time.monotonic() > deadline:
                cause = f" (last error: {last_error})" if last_error else ""
                raise TimeoutError(f"no {what} within {timeout:.0f} s{cause}\n{self.logs()}")
            time.sleep(interval)


def _signal_group(popen: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, sig)


def server_info(base_url: str) -> dict | None:
    """The webserver's /server_info, or None while it does not answer."""
    with urllib.request.urlopen(f"{base_url}/server_info", timeout=5) as response:
        if response.status != 200:
            return None
        return json.loads(response.read())


def _postmaster(home: Path) -> list[str]:
    """The lines of the embedded server's postmaster.pid (empty when it is not running).

    Lines: pid, data folder, start time, port, socket folder, listen address, shared
    memory, status.
    """
    try:
        return (home / "pgdata" / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return []


def embedded_postgres_url(home: Path) -> str | None:
    """The URL of the embedded PostgreSQL running under ``home`` once it is ready, else None.

    Read from its postmaster.pid, so that the tests connect without becoming one more holder
    of the server (the last holder stops it on exit).
    """
    lines = _postmaster(home)
    if len(lines) < 8 or lines[7].strip() != "ready":
        return None
    return f"postgresql://postgres:@/postgres?host={lines[4].strip()}"


def stop_embedded_postgres(home: Path) -> None:
    """Stop an embedded PostgreSQL left running under ``home`` (fast shutdown by its pid).

    Its last holder stops it on exit; this covers a holder that had to be killed.
    """
    lines = _postmaster(home)
    if not lines:
        return
    with contextlib.suppress(ProcessLookupError, ValueError):
        os.kill(int(lines[0]), signal.SIGINT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and _postmaster(home):
        time.sleep(0.2)


def start_tgstats_dev(processes: ProcessSet, port: int) -> Process:
    """``tgstats dev -p PORT -h 127.0.0.1``: the webserver and the daemon, as a user runs it."""
    return processes.start(
        "tgstats-dev", [str(VENV_BIN / "tgstats"), "dev", "-p", str(port), "-h", "127.0.0.1"]
    )


def start_production_shape(
    processes: ProcessSet, port: int, code_port: int, location_name: str, workspace: Path
) -> None:
    """A code server, then ``dagster-webserver -w WORKSPACE`` and ``dagster-daemon run``.

    The webserver and the daemon start once the code server answers its health check, as
    docker-compose.yml orders them (``depends_on: code: condition: service_healthy``).
    """
    dagster = str(VENV_BIN / "dagster")
    processes.start(
        "code-server",
        [
            dagster,
            "code-server",
            "start",
            "-h",
            "127.0.0.1",
            "-p",
            str(code_port),
            "-m",
            "tgstats_dagster.definitions",
            "--location-name",
            location_name,
        ],
    )
    health_check = [
        dagster,
        "api",
        "grpc-health-check",
        "--host",
        "127.0.0.1",
        "-p",
        str(code_port),
    ]

    def code_server_healthy() -> bool:
        check = subprocess.run(health_check, env=processes.env, capture_output=True, timeout=60)
        return check.returncode == 0

    processes.wait_for("healthy code server", code_server_healthy, STARTUP_TIMEOUT_SECONDS)
    workspace_option = ["-w", str(workspace)]
    processes.start(
        "webserver",
        [
            str(VENV_BIN / "dagster-webserver"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            *workspace_option,
        ],
    )
    processes.start("daemon", [str(VENV_BIN / "dagster-daemon"), "run", *workspace_option])
