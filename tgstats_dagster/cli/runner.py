"""Runs from the shell: real Dagster runs on the configured instance, executed in this process.

A run that fails for some of its peers is followed up as the deployment's follow-up sensor
does it (see :mod:`tgstats_dagster.runs`). Runs carry the host and process id of the command
that executes them, so that a later command can tell that one whose process died is dead,
mark it failed and free its pool slot, instead of waiting behind it forever.
"""

from __future__ import annotations

import os
import re
import socket
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import dagster as dg

from tgstats_dagster.runs import (
    failed_peers_of,
    follow_up_tags,
    run_scope,
    telegram_requests,
)

T = TypeVar("T")
# The runs' own logs stay in the Dagster UI; the command prints its progress and summary.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
HOST_TAG = "tgstats/host"
PID_TAG = "tgstats/pid"
# "package.module.SomeError: message" -> "message"
_EXCEPTION_PREFIX = re.compile(r"^[A-Za-z_][\w.]*\.\w+: ")


@dataclass
class RunOutcome:
    """One run: its peers, whether it succeeded, and why each failed peer failed."""

    run_id: str
    success: bool
    peers: tuple[str, ...]
    failed: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    requests: Counter[str] = field(default_factory=Counter)

    def why(self, peer: str) -> str:
        return self.failed.get(peer) or self.error or "the run failed (see it in the Dagster UI)"


def owner_tags() -> dict[str, str]:
    return {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}


def run_with_follow_ups(
    job: dg.JobDefinition, instance: dg.DagsterInstance, tags: Mapping[str, str]
) -> list[RunOutcome]:
    """Run ``job`` over ``tags``; if it fails for some of its peers, run its follow-ups."""
    scope = run_scope(job.name, tags, instance)
    first = execute(job, instance, tags)
    outcomes = [first]
    if not first.success and first.failed and scope is not None:
        for follow_up in follow_up_tags(scope, first.failed, instance, first.run_id):
            outcomes.append(execute(job, instance, follow_up))
    return outcomes


def execute(
    job: dg.JobDefinition, instance: dg.DagsterInstance, tags: Mapping[str, str]
) -> RunOutcome:
    scope = run_scope(job.name, tags, instance)
    result = _in_a_thread(
        lambda: job.execute_in_process(
            instance=instance,
            tags={**tags, **owner_tags()},
            run_config=QUIET_LOGS,
            raise_on_error=False,
        )
    )
    run = instance.get_run_by_id(result.run_id)
    failure = failed_peers_of(result.all_events)
    return RunOutcome(
        run_id=result.run_id,
        success=result.success,
        peers=scope.peers if scope else (),
        failed=failure.failed if failure else {},
        error=None if result.success else _failure(result),
        requests=Counter(telegram_requests(run.tags if run else {})),
    )


def _in_a_thread(work: Callable[[], T]) -> T:
    """Run ``work`` in a worker thread while the main thread waits.

    Signals reach the main thread only: there Ctrl-C and SIGTERM stop the command at once
    (its runs are then marked canceled), while Dagster, off the main thread, leaves the
    signal handlers alone.
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the main thread as it is
            box["error"] = exc

    thread = threading.Thread(target=target, name="tgstats-run", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.5)
    if "error" in box:
        raise box["error"]
    return box["value"]


def _failure(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            user = event.step_failure_data.user_failure_data
            if user is not None and user.description:
                return user.description
            error = event.step_failure_data.error
            message = (error.cause or error).message if error else "unknown error"
            last_line = message.strip().splitlines()[-1]
            return _EXCEPTION_PREFIX.sub("", last_line)
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.RUN_FAILURE and event.message:
            return event.message
    return "the run failed (see it in the Dagster UI)"


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the runs of ``tgstats`` commands of this host whose process is gone, and
    free their pool slots; returns their ids."""
    host = socket.gethostname()
    unfinished = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING],
            tags={HOST_TAG: host},
        )
    )
    dead = [run for run in unfinished if not _alive(int(run.tags.get(PID_TAG, "0")))]
    for run in dead:
        instance.report_run_failed(
            run, f"the process of this run (pid {run.tags.get(PID_TAG)} on {host}) is gone"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return [run.run_id for run in dead]


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def cancel_own_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark canceled the runs this process left unfinished (Ctrl-C, SIGTERM), slots freed."""
    mine = instance.get_runs(
        filters=dg.RunsFilter(
            statuses=[
                dg.DagsterRunStatus.STARTED,
                dg.DagsterRunStatus.STARTING,
                dg.DagsterRunStatus.NOT_STARTED,
            ],
            tags=owner_tags(),
        )
    )
    for run in mine:
        instance.report_run_canceled(run, "canceled: the tgstats command was stopped")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
    return [run.run_id for run in mine]
