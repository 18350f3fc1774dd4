"""Stopping a command: Ctrl-C, SIGTERM and a closed terminal, to the process or its group.

Each of these signals raises :class:`Stopped` in the main thread, whatever the command
inherited: a command started in the background by a non-interactive shell inherits SIGINT
ignored, and would otherwise go on to the end under Ctrl-C. The first signal stops the
command; later ones are ignored, so that a signal sent to the whole process group, or sent
twice, cannot break the clean-up (runs marked canceled, the embedded PostgreSQL let go).
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: The name of the thread a command runs a Dagster run in (see ``runner``).
RUN_THREAD = "tgstats-run"


class Stopped(KeyboardInterrupt):
    """The command was told to stop by ``signum``."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(stop: KeyboardInterrupt) -> int:
    """What a shell reports for a command ended by that signal: 130 for SIGINT, 143 for
    SIGTERM, 129 for SIGHUP."""
    return 128 + (stop.signum if isinstance(stop, Stopped) else signal.SIGINT)


_stopped = False  # set by the first stop signal


def _stop(signum: int, frame: FrameType | None) -> None:
    global _stopped
    _stopped = True
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Stopped(signum)


def stop_on_signals() -> None:
    """From now on, the stop signals raise :class:`Stopped` in the main thread."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop)


def leave(code: int) -> int:
    """End a command with ``code``; after a stop, without waiting for its run's thread.

    A stopped command leaves its run's thread where it is (what it fetched is stored). At
    Python's normal exit that thread is stopped during interpreter shutdown, and if it is
    inside C++ code then (matplotlib drawing a report), the C++ runtime aborts the process:
    exit -6 instead of the signal's code. So, after a stop signal or while such a thread is
    alive, the exit hooks (the embedded PostgreSQL let go) are run here and the process ends
    without the shutdown. A signal counts even when the thread looks ended: a signal that
    interrupts ``Thread.join`` can leave the thread marked stopped while it still runs
    (CPython 3.11, bpo-45274).
    """
    import threading  # not at the top: the entry point imports this module first (cli/entry.py)

    running = any(t.name == RUN_THREAD and t.is_alive() for t in threading.enumerate())
    if not running and not _stopped:
        return code
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()
    os._exit(code)
