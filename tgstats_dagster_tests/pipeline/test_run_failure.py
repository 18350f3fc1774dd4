"""What a command says of a run that failed: the error's message, in one line."""

from __future__ import annotations

import dagster as dg
import psycopg

from tgstats_dagster.cli.runner import execute

TERMINATED = "terminating connection due to administrator command"


def test_a_postgres_error_is_told_by_its_message_not_by_its_context_field() -> None:
    # As PostgreSQL words a COPY whose connection was terminated while it streamed.
    @dg.op
    def write() -> None:
        raise psycopg.errors.AdminShutdown(f"{TERMINATED}\nCONTEXT:  COPY stage_stats_raw, line 0")

    @dg.job
    def copy_job() -> None:
        write()

    with dg.instance_for_test() as instance:
        outcome = execute(copy_job, instance, {})
    assert not outcome.success
    assert outcome.error == TERMINATED
