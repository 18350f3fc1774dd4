"""``tgstats dev``: the Dagster UI and daemon on the project's defaults.

This process holds the embedded PostgreSQL while ``dagster dev`` runs; Ctrl-C, SIGTERM or a
closed terminal, to this process or to its process group, stops ``dagster dev`` (webserver,
daemon, code server, run workers: its own process group) and then the embedded server.

It also keeps that server up: the webserver, the daemon and the code server hold its address,
not the server, so if it dies (killed, out of memory, a crash) nothing of Dagster's would start
it again and every tick and UI action would fail until a restart by hand. This process starts
it again, on the same files and socket, once it has been seen down at DOWN_CHECKS checks in a
row (a ``pg_ctl restart`` in progress is not a dead server); they reconnect on their next
query.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tgstats_dagster.cli.checks import check_database, check_telegram
from tgstats_dagster.cli.demo import demo_environment
from tgstats_dagster.cli.instance import prepare_environment
from tgstats_dagster.cli.stopping import exit_code
from tgstats_dagster.definitions import check_ready
from tgstats_dagster.resources import loader_mode
from tgstats_dagster.settings import Settings, load_settings
from tgstats_dagster.warehouse.server import (
    EmbeddedServerError,
    embedded_server_running,
    restart_embedded_server,
    stop_embedded_server,
)

#: Options `tgstats dev` sets itself: the user may not pass them.
OWN_OPTIONS = ("-m", "--module-name", "-w", "--workspace", "-f", "--python-file")
STOP_SECONDS = 8.0
#: How often the embedded server is checked while `dagster dev` runs, and how many checks in
#: a row must find it down before it is started again.
WATCH_SECONDS = 2.0
DOWN_CHECKS = 3


def run_dev(settings: Settings, dagster_args: Sequence[str]) -> int:
    demo = demo_environment(settings)
    if demo is not None:
        os.environ.update(demo)
        settings = load_settings()
        print(
            "tgstats dev: the demo's data, with the loader on over the offline Telegram (the "
            "bundled demo scenario). Configure a live Telegram (TG_API_ID, TG_API_HASH, "
            "TG_SESSION, MTPROTO_STATS_PEERS, the two MTPROTO flags) to leave demo mode.",
            flush=True,
        )
    else:
        print(f"tgstats dev: the loader is {loader_mode(settings)}", flush=True)
    check_ready(settings)
    check_telegram(settings)
    check_database(settings)
    prepare_environment(settings)
    command = [sys.executable, "-m", "dagster", "dev", "-m", "tgstats_dagster.definitions"]
    child = subprocess.Popen(
        [*command, *dagster_args], env=os.environ.copy(), start_new_session=True
    )
    try:
        if settings.database_url is not None:
            return child.wait()
        return _wait_keeping_the_server_up(child, settings.home)
    except KeyboardInterrupt as stop:  # the stop signals raise it (cli/stopping.py)
        _stop(child)
        return exit_code(stop)
    finally:
        if settings.database_url is None:
            stop_embedded_server(settings.home)


def _wait_keeping_the_server_up(child: subprocess.Popen, home: Path) -> int:
    """Wait for `dagster dev`; meanwhile start the embedded server again if it died."""
    down = 0
    while True:
        try:
            return child.wait(WATCH_SECONDS)
        except subprocess.TimeoutExpired:
            pass
        down = 0 if embedded_server_running(home) else down + 1
        if down < DOWN_CHECKS:
            continue
        try:
            restart_embedded_server(home)
        except (EmbeddedServerError, OSError, RuntimeError, subprocess.SubprocessError) as exc:
            if down == DOWN_CHECKS:  # said once; tried again at every check
                print(f"tgstats dev: the embedded PostgreSQL stopped; starting it failed: {exc}")
        else:
            print("tgstats dev: the embedded PostgreSQL had stopped; started it again", flush=True)
            down = 0


def _stop(child: subprocess.Popen) -> None:
    """Ctrl-C to `dagster dev` and its children; then SIGKILL to whatever of the group is
    left (a code server or run worker that outlived its parent)."""
    _signal_group(child, signal.SIGINT)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(STOP_SECONDS)
    _signal_group(child, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.wait(5.0)


def _signal_group(child: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, sig)
