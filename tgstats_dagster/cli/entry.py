"""The ``tgstats`` script's entry point (and ``python -m tgstats_dagster.cli``'s).

Importing this module installs the stop signals' handlers (cli/stopping.py), before anything
else of the command is imported: a Ctrl-C, SIGTERM or closed terminal in the first moments of
a command (the imports of argparse, Dagster, SQLAlchemy, Telethon ... take a fraction of a
second) ends it as one later does, with exit 130 (143, 129) and one line, not a traceback
from the middle of an import. Only the entry points import it; library code and tests import
:mod:`tgstats_dagster.cli` or its other modules, which leave the signals alone.
"""

from __future__ import annotations

import sys

from tgstats_dagster.cli.stopping import exit_code, stop_on_signals

stop_on_signals()


def main() -> int:
    try:
        from tgstats_dagster.cli.commands import main as run
    except KeyboardInterrupt as stop:
        print("\ntgstats: stopped", file=sys.stderr)
        return exit_code(stop)
    return run()
