"""A test session leaves nothing running: a pytest plugin that fails the session otherwise.

The tests start real processes (``tgstats`` commands, ``dagster dev``, code servers, run
workers, embedded PostgreSQL servers, ``tail -F``); each must be gone when the session ends.
Many of them outlive their parent by design (``pg_ctl`` daemonizes the server, Dagster's run
workers are detached), and an orphan is normally adopted by init, out of sight. So the plugin
makes the pytest process a child subreaper (Linux): every orphan of the suite is adopted by
pytest instead, and at the end of the session, once every fixture is torn down, the
descendants of pytest still alive are the suite's leftovers. They are named, killed, and the
session fails.

Orphans that exit are zombies of pytest until reaped; they are not counted (the suite's own
checks skip zombies too) and are reaped at the end.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

import psutil
import pytest

#: prctl option of Linux: orphaned descendants are reparented to this process, not to init
PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def _describe(process: psutil.Process) -> str:
    try:
        command = " ".join(process.cmdline()) or process.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        command = "?"
    return f"pid {process.pid}: {command}"


def living_descendants() -> list[psutil.Process]:
    """Descendants of this process that are running (not zombies), oldest first."""
    alive = []
    for process in psutil.Process().children(recursive=True):
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(process)
        except psutil.NoSuchProcess:
            continue
    return sorted(alive, key=lambda process: process.pid)


def _kill(processes: list[psutil.Process]) -> None:
    for process in processes:
        try:
            process.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(processes, timeout=10)


def _reap_zombies() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SUBREAPER] = _become_subreaper()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    if not session.config.stash.get(_SUBREAPER, False):
        return
    left = living_descendants()
    if left:
        names = [_describe(process) for process in left]
        _kill(left)
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        message = "processes started by the tests are still running (killed now):\n  " + (
            "\n  ".join(names)
        )
        if reporter is not None:
            reporter.write_sep("=", "processes left running", red=True)
            reporter.write_line(message)
        else:
            print(message, file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    _reap_zombies()


_SUBREAPER = pytest.StashKey[bool]()
