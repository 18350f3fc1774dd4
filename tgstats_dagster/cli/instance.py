"""The Dagster instance on the project's defaults, for the ``tgstats`` commands.

``DAGSTER_HOME`` is optional: without it the instance lives in ``TGSTATS_HOME/dagster``, with
the packaged ``instance.yaml`` (PostgreSQL storage in the warehouse's database, the queued
run coordinator, the Telegram pool, run monitoring).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
from dagster._core.instance.ref import InstanceRef

from tgstats_dagster.settings import Settings
from tgstats_dagster.warehouse.database import warehouse_url
from tgstats_dagster.warehouse.server import with_driver

INSTANCE_YAML = Path(__file__).with_name("instance.yaml")

#: Dagster settings read from the environment that make a run over many partitions cheap
#: (measured in bench/refresh.py; see docs/architecture.md): events written in batches,
#: and one "planned" event per asset for a ranged run instead of one per partition.
DAGSTER_PERFORMANCE_ENV = {
    "DAGSTER_EVENT_BATCH_SIZE": "1000",
    "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true",
}


def prepare_environment(settings: Settings) -> str:
    """Start (or join) the database, point the instance at it; return the warehouse URL.

    Sets ``DAGSTER_HOME`` and ``TGSTATS_DAGSTER_PG_URL`` (when unset) and the performance
    settings in this process's environment, so that the processes it starts (webserver,
    daemon, run workers) share them.
    """
    for name, value in DAGSTER_PERFORMANCE_ENV.items():
        os.environ.setdefault(name, value)
    url = warehouse_url(settings)
    if not os.environ.get("TGSTATS_DAGSTER_PG_URL"):
        os.environ["TGSTATS_DAGSTER_PG_URL"] = with_driver(url, "psycopg2")
    if settings.database_url is None:
        # Run workers and the daemon find the embedded server by TGSTATS_HOME; make it absolute.
        os.environ["TGSTATS_HOME"] = str(settings.home.resolve())
    home = Path(os.environ.get("DAGSTER_HOME") or settings.home.resolve() / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(INSTANCE_YAML, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    return url


#: The commands execute their runs in a thread of their own process (cli/runner.py). Dagster's
#: compute log capture would send the whole process's stdout and stderr to a file, mirrored
#: back by `tail -F` helper processes that a stop signal, or a process stopped mid-step,
#: leaves behind. The command prints what its runs log; their event logs keep it for the UI.
NO_COMPUTE_LOG_CAPTURE = {
    "compute_logs": {
        "module": "dagster._core.storage.noop_compute_log_manager",
        "class": "NoOpComputeLogManager",
    }
}


def open_instance(settings: Settings) -> dg.DagsterInstance:
    prepare_environment(settings)
    ref = InstanceRef.from_dir(os.environ["DAGSTER_HOME"], overrides=NO_COMPUTE_LOG_CAPTURE)
    return dg.DagsterInstance.from_ref(ref)
