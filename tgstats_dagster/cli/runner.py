"""Runs from the shell: real Dagster runs on the configured instance, executed in this process.

A run that fails for some of its peers is followed up as the deployment's follow-up sensor
does it (see :mod:`tgstats_dagster.runs`). Runs carry the host and process id of the command
that executes them, so that a later command can tell that one whose process died is dead,
mark it failed and free its pool slot, instead of waiting behind it forever.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO, TypeVar

import dagster as dg

from tgstats_dagster.cli.stopping import RUN_THREAD, exit_code
from tgstats_dagster.partitions import RANGE_END_TAG, RANGE_START_TAG
from tgstats_dagster.runs import (
    RunScope,
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
# The fields PostgreSQL adds after its message ("CONTEXT:  COPY t, line 0", "DETAIL:  ...").
_POSTGRES_FIELD = re.compile(r"^[A-Z]+:  ")


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
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    tags: Mapping[str, str],
    out: TextIO | None = None,
) -> list[RunOutcome]:
    """Run ``job`` over ``tags``; if it fails for some of its peers, run its follow-ups."""
    scope = run_scope(job.name, tags, instance)
    first = execute(job, instance, tags, out, scope)
    outcomes = [first]
    if not first.success and first.failed and scope is not None:
        for follow_up in follow_up_tags(scope, first.failed, instance, first.run_id):
            if out is not None:
                print(f"  follow-up run: {_listed(follow_up)}", file=out, flush=True)
            outcomes.append(execute(job, instance, follow_up, out))
    return outcomes


def execute(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    tags: Mapping[str, str],
    out: TextIO | None = None,
    scope: RunScope | None = None,
) -> RunOutcome:
    scope = scope or run_scope(job.name, tags, instance)
    run_id = str(uuid.uuid4())
    progress = _Progress(instance, run_id, out)
    result = _in_a_thread(
        lambda: job.execute_in_process(
            instance=instance,
            run_id=run_id,
            tags={**tags, **owner_tags()},
            run_config=QUIET_LOGS,
            raise_on_error=False,
        ),
        progress.show,
    )
    progress.show()
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


def _listed(tags: Mapping[str, str]) -> str:
    scope = [tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)]
    return " .. ".join(dict.fromkeys(str(key) for key in scope if key))


class _Progress:
    """Prints the run's own log lines (peers fetched, requests, rows written) as they come."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str, out: TextIO | None) -> None:
        self.instance = instance
        self.run_id = run_id
        self.out = out
        self.cursor: str | None = None

    def show(self) -> None:
        if self.out is None:
            return
        try:
            page = self.instance.event_log_storage.get_records_for_run(
                self.run_id, cursor=self.cursor
            )
        except Exception:  # the run may not exist yet; progress is best effort
            return
        self.cursor = page.cursor
        for record in page.records:
            entry = record.event_log_entry
            if entry.dagster_event is None and entry.level >= logging.INFO:
                print(f"  {entry.user_message}", file=self.out, flush=True)


def _in_a_thread(work: Callable[[], T], tick: Callable[[], None] = lambda: None) -> T:
    """Run ``work`` in a worker thread while the main thread waits.

    Signals reach the main thread only: there Ctrl-C and SIGTERM stop the command at once
    (its runs are then marked canceled, see :func:`stop_own_runs`), while Dagster, off the
    main thread, leaves the signal handlers alone (its ``capture_interrupts``, which would
    defer them to the end of a step, works on the main thread only).
    """
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = work()
        except BaseException as exc:  # handed to the main thread as it is
            box["error"] = exc

    thread = threading.Thread(target=target, name=RUN_THREAD, daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(1.0)
        tick()
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
            return _EXCEPTION_PREFIX.sub("", _summary_line(message))
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.RUN_FAILURE and event.message:
            return event.message
    return "the run failed (see it in the Dagster UI)"


#: Lines that SQLAlchemy appends to a database error: the statement, its parameters, a link.
_APPENDED = ("[SQL:", "[parameters:", "(Background on this error at:")


def _summary_line(message: str) -> str:
    """The line of an error message that says what went wrong: the last one, leaving out the
    fields PostgreSQL adds after its message (``CONTEXT:``, ``DETAIL:``, ...); for an error
    that SQLAlchemy wrapped, its first line (it appends the statement and a link)."""
    lines = [line for line in message.strip().splitlines() if line.strip()]
    lines = [line for line in lines if not _POSTGRES_FIELD.match(line)] or lines
    if not lines:
        return "unknown error"
    if lines[0].startswith("sqlalchemy.") or any(line.startswith(_APPENDED) for line in lines):
        return lines[0]
    return lines[-1]


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


#: After a stop, how often and how long apart the command looks again for its runs.
RECHECKS = 3
RECHECK_SECONDS = 0.3


def stop_own_runs(instance: dg.DagsterInstance, stop: KeyboardInterrupt) -> int:
    """After a stop signal: this process's runs marked canceled, one line said; the exit code.

    The run's thread is left as it is: what it fetched is already stored, and the process
    exits under it.
    """
    try:
        canceled = cancel_own_runs(instance)
        # A run whose thread was just starting can still write its start after being marked
        # canceled (it is then STARTED again): look once more, a little later, while the
        # thread lives.
        for _ in range(RECHECKS):
            if not any(t.name == RUN_THREAD and t.is_alive() for t in threading.enumerate()):
                break
            time.sleep(RECHECK_SECONDS)
            canceled += [r for r in cancel_own_runs(instance) if r not in canceled]
    except Exception as exc:  # the database went away too: the next command fails the runs
        print(
            f"\ntgstats: stopped; its runs could not be marked canceled ({type(exc).__name__}), "
            "the next command marks them failed",
            file=sys.stderr,
        )
    else:
        print(f"\ntgstats: stopped; {len(canceled)} run(s) canceled", file=sys.stderr)
    return exit_code(stop)
