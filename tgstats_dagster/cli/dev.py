"""``tgstats dev``: the Dagster UI and daemon on the project's defaults.

This process holds the embedded PostgreSQL while ``dagster dev`` runs; Ctrl-C or SIGTERM
stops ``dagster dev`` (webserver, daemon, code server) and then the embedded server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence

from tgstats_dagster.cli.checks import check_database, check_telegram
from tgstats_dagster.cli.instance import prepare_environment
from tgstats_dagster.definitions import check_ready
from tgstats_dagster.settings import Settings
from tgstats_dagster.warehouse.server import stop_embedded_server

#: Options `tgstats dev` sets itself: the user may not pass them.
OWN_OPTIONS = ("-m", "--module-name", "-w", "--workspace", "-f", "--python-file")
STOP_SECONDS = 8.0


def run_dev(settings: Settings, dagster_args: Sequence[str]) -> int:
    check_ready(settings)
    check_telegram(settings)
    check_database(settings)
    prepare_environment(settings)
    command = [sys.executable, "-m", "dagster", "dev", "-m", "tgstats_dagster.definitions"]
    child = subprocess.Popen(
        [*command, *dagster_args], env=os.environ.copy(), start_new_session=True
    )

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    try:
        return child.wait()
    except KeyboardInterrupt:
        _stop(child)
        return 130
    finally:
        if settings.database_url is None:
            stop_embedded_server(settings.home)


def _stop(child: subprocess.Popen) -> None:
    """Ctrl-C to `dagster dev` and its children, then SIGKILL to what is left."""
    for sig, wait in ((signal.SIGINT, STOP_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(child.pid, sig)
        except ProcessLookupError:
            return
        try:
            child.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue
