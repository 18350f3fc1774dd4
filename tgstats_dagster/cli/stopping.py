"""Stopping a command: Ctrl-C, SIGTERM and a closed terminal, to the process or its group.

Each of these signals raises :class:`Stopped` in the main thread, whatever the command
inherited: a command started in the background by a non-interactive shell inherits SIGINT
ignored, and would otherwise go on to the end under Ctrl-C. The first signal stops the
command; later ones are ignored, so that a signal sent to the whole process group, or sent
twice, cannot break the clean-up (runs marked canceled, the embedded PostgreSQL let go).
"""

from __future__ import annotations

import signal
from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Stopped(KeyboardInterrupt):
    """The command was told to stop by ``signum``."""

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_code(stop: KeyboardInterrupt) -> int:
    """What a shell reports for a command ended by that signal: 130 for SIGINT, 143 for
    SIGTERM, 129 for SIGHUP."""
    return 128 + (stop.signum if isinstance(stop, Stopped) else signal.SIGINT)


def _stop(signum: int, frame: FrameType | None) -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise Stopped(signum)


def stop_on_signals() -> None:
    """From now on, the stop signals raise :class:`Stopped` in the main thread."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _stop)
