"""How long ``tgstats dev`` takes to get over a machine's faults, in a few cycles.

Usage::

    .venv/bin/python bench/dev_faults.py [--cycles 3]

One ``tgstats dev`` on the embedded defaults over the slow copy of the demo scenario of
tgstats_dagster_tests/e2e/test_dev_faults.py (0.4 s a request, snapshots never reused; logs
kept in a temporary folder, named first, removed at the end when all went well). Each
cycle, on a day and peer not loaded yet:

- ``restart``: ``pg_ctl restart -m fast`` of the embedded server, then the UI's Materialize:
  the seconds from the restart to the run's success;
- ``worker``: a Materialize whose run worker is SIGKILLed while it holds the ``telegram``
  slot: the seconds from the kill to the run marked FAILURE, to its slot freed, and to the
  success of the next Materialize launched right after the kill;
- ``server_kill``: SIGKILL of the embedded postmaster: the seconds until ``tgstats dev`` has
  started it again, and until a Materialize launched then succeeded.

Every run must succeed (or, the killed one, fail); figures last, one ``name=value`` a line.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the test helpers are not installed, only the package
    sys.path.insert(0, str(ROOT))

from tgstats_dagster_tests.e2e import graphql  # noqa: E402
from tgstats_dagster_tests.e2e.conftest import BACKFILL_DAYS, CHANNEL, GROUP  # noqa: E402
from tgstats_dagster_tests.e2e.test_dev_faults import (  # noqa: E402
    RUN_TIMEOUT,
    daily_rows,
    home_of,
    materialize,
    postmaster_pid,
    restart_embedded_postgres,
    slots_held,
    slow_dev_deployment,
    worker_pid,
)


def _succeeded(deployment, run_id: str) -> None:
    (run,) = deployment.wait_for_runs([run_id], RUN_TIMEOUT)
    if run["status"] != "SUCCESS":
        raise SystemExit(f"run {run_id} ended {run['status']}\n{deployment.processes.logs()}")


def _until(deployment, what: str, condition, timeout: float = RUN_TIMEOUT) -> float:
    """Wait for ``condition``; the monotonic time it held."""
    deployment.processes.wait_for(what, condition, timeout, interval=0.2)
    return time.monotonic()


def restart_cycle(deployment, peer: str, day: str) -> float:
    started = time.monotonic()
    restart_embedded_postgres(home_of(deployment))
    _succeeded(deployment, materialize(deployment, peer, day))
    assert daily_rows(deployment, peer, day) > 0
    return time.monotonic() - started


def worker_cycle(deployment, peer: str, day: str, next_day: str) -> tuple[float, float, float]:
    run_id = materialize(deployment, peer, day)
    pid = worker_pid(deployment, run_id)
    _until(deployment, "the run's slot", lambda: slots_held(deployment, run_id) > 0)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    again = materialize(deployment, peer, next_day)

    def ended() -> bool:
        (found,) = graphql.runs(deployment.client, run_ids=[run_id])
        return found["status"] in graphql.FINISHED_RUN_STATUSES

    failed = _until(deployment, "the killed run's end", ended)
    (run,) = graphql.runs(deployment.client, run_ids=[run_id])
    assert run["status"] == "FAILURE", run
    freed = _until(deployment, "its slot freed", lambda: slots_held(deployment, run_id) == 0)
    _succeeded(deployment, again)
    return failed - killed, freed - killed, time.monotonic() - killed


def server_kill_cycle(deployment, peer: str, day: str) -> tuple[float, float]:
    home = home_of(deployment)
    pid = postmaster_pid(home)
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    back = _until(
        deployment,
        "the server started again",
        lambda: postmaster_pid(home) not in (None, pid),
    )
    _succeeded(deployment, materialize(deployment, peer, day))
    return back - killed, time.monotonic() - killed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=3)
    args = parser.parse_args()
    days = [d.isoformat() for d in BACKFILL_DAYS]
    if not 1 <= args.cycles <= len(days) // 3:
        parser.error(f"--cycles from 1 to {len(days) // 3}")
    figures: dict[str, list[float]] = {}
    started = time.monotonic()
    tmp = Path(tempfile.mkdtemp(prefix="bench-dev-faults-"))
    print(f"[dev_faults] logs in {tmp / 'logs'}", flush=True)
    with slow_dev_deployment(tmp, tmp / "logs") as deployment:
        for cycle in range(args.cycles):
            first, second, third = days[3 * cycle : 3 * cycle + 3]
            print(f"[dev_faults] cycle {cycle}", flush=True)
            figures.setdefault("restart_to_success_s", []).append(
                restart_cycle(deployment, GROUP, first)
            )
            failed, freed, next_run = worker_cycle(deployment, CHANNEL, first, second)
            figures.setdefault("worker_kill_to_failure_s", []).append(failed)
            figures.setdefault("worker_kill_to_slot_freed_s", []).append(freed)
            figures.setdefault("worker_kill_to_next_success_s", []).append(next_run)
            back, success = server_kill_cycle(deployment, GROUP, third)
            figures.setdefault("server_kill_to_restarted_s", []).append(back)
            figures.setdefault("server_kill_to_success_s", []).append(success)
    shutil.rmtree(tmp, ignore_errors=True)
    print()
    print(f"cycles={args.cycles}")
    for name, values in figures.items():
        print(f"{name}={statistics.median(values):.1f}")
        print(f"{name.removesuffix('_s')}_max_s={max(values):.1f}")
    print(f"bench_s={time.monotonic() - started:.1f}")


if __name__ == "__main__":
    main()
