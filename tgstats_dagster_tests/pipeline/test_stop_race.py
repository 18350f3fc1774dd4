"""A stop that lands while a run is starting: the run's thread can write its start after the
command marked it canceled. The command looks again, so the run ends canceled, not STARTED
(found by bench/soak.py: a Ctrl-C as the report run began)."""

from __future__ import annotations

import signal
import threading
import time
import uuid

import dagster as dg
import pytest

from tgstats_dagster.cli.runner import owner_tags, stop_own_runs
from tgstats_dagster.cli.stopping import RUN_THREAD, Stopped
from tgstats_dagster.runs import REPORT_JOB

pytestmark = pytest.mark.storage


def test_a_run_that_starts_after_the_stop_is_canceled_too(instance: dg.DagsterInstance) -> None:
    run = dg.DagsterRun(job_name=REPORT_JOB, run_id=str(uuid.uuid4()), tags=owner_tags())
    instance.add_run(run)
    started = threading.Event()

    def starting_late() -> None:
        time.sleep(0.1)  # the command is marking its runs canceled meanwhile
        start = dg.DagsterEvent(dg.DagsterEventType.RUN_START.value, job_name=REPORT_JOB)
        instance.report_dagster_event(start, run.run_id)
        started.set()
        time.sleep(2)  # still drawing when the command leaves

    thread = threading.Thread(target=starting_late, name=RUN_THREAD, daemon=True)
    thread.start()
    assert stop_own_runs(instance, Stopped(signal.SIGINT)) == 130
    assert started.is_set()
    assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.CANCELED
