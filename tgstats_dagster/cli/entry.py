"""The ``tgstats`` script's entry point (and ``python -m tgstats_dagster.cli``'s).

Importing this module installs the stop signals' handlers, before anything else of the
command is imported: a Ctrl-C, SIGTERM or closed terminal in the first moments of a command
(the imports of argparse, Dagster, SQLAlchemy, Telethon ... take a fraction of a second) is
noted and taken once the imports are done, ending the command as one later does, with exit
130 (143, 129) and one line, not a traceback from the middle of an import. Only the entry
points import it; library code and tests import :mod:`tgstats_dagster.cli` or its other
modules, which leave the signals alone.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

from tgstats_dagster.cli.stopping import STOP_SIGNALS, Stopped, exit_code, stop_on_signals

#: The stop signals that came while the command's modules were imported.
_early: list[int] = []


def _after_the_imports(signum: int, frame: FrameType | None) -> None:
    # Not raised in the middle of an import (a library's import may catch it, or print what
    # it broke): taken as soon as the imports are done.
    _early.append(signum)


for _signal in STOP_SIGNALS:
    signal.signal(_signal, _after_the_imports)


def main() -> int:
    try:
        from tgstats_dagster.cli.commands import main as run

        stop_on_signals()
        if _early:
            raise Stopped(_early[0])
    except KeyboardInterrupt as stop:
        print("\ntgstats: stopped", file=sys.stderr)
        return exit_code(stop)
    return run()
