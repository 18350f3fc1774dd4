"""A test session leaves nothing running: a pytest plugin that fails the session otherwise.

The tests start real processes (``tgstats`` commands, ``dagster dev``, code servers, run
workers, embedded PostgreSQL servers, ``tail -F``); each must be gone when the session ends.
Many outlive their parent by design (``pg_ctl`` daemonizes the server, Dagster's run workers
are detached) and are adopted by init, so the parentage of pytest does not find them. The
plugin marks the session's environment instead: every process the suite starts inherits
``TGSTATS_TEST_SESSION``. At the end of the session, once every fixture is torn down, the
processes that carry this session's mark, or name its temporary folder on their command line,
are the suite's leftovers: they are named, killed, and the session fails.
"""

from __future__ import annotations

import os
import signal
import sys
import uuid

import psutil
import pytest

MARK = "TGSTATS_TEST_SESSION"
#: How long a process found at the session's end may take to exit by itself.
EXIT_GRACE_SECONDS = 10


def _describe(process: psutil.Process) -> str:
    try:
        command = " ".join(process.cmdline()) or process.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        command = "?"
    return f"pid {process.pid}: {command}"


def leftovers(mark: str, folder: str | None) -> list[psutil.Process]:
    """Running processes (not zombies) other than this one that carry ``mark`` in their
    environment or name ``folder`` on their command line, by pid."""
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            named = folder is not None and any(folder in part for part in process.cmdline())
            if named or process.environ().get(MARK) == mark:
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return sorted(found, key=lambda process: process.pid)


def _kill(processes: list[psutil.Process]) -> None:
    for process in processes:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(processes, timeout=10)


def pytest_configure(config: pytest.Config) -> None:
    os.environ[MARK] = uuid.uuid4().hex  # a session of its own, even inside another session


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    factory = getattr(session.config, "_tmp_path_factory", None)
    folder = str(factory.getbasetemp()) if factory is not None else None
    left = leftovers(os.environ[MARK], folder)
    # A process stopped by the last fixture may still be on its way out: give it a moment.
    _, left = psutil.wait_procs(left, timeout=EXIT_GRACE_SECONDS)
    if not left:
        return
    names = [_describe(process) for process in left]
    _kill(left)
    message = "processes started by the tests are still running (killed now):\n  " + (
        "\n  ".join(names)
    )
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_sep("=", "processes left running", red=True)
        reporter.write_line(message)
    else:
        print(message, file=sys.stderr)
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
