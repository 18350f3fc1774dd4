"""What the UI's backfill does, from the shell: real Dagster runs on the configured instance.

Per peer, one run refreshes the peer entity and, when the account may view its statistics,
one range run covers all the requested days (one stats fetch per peer). Each peer ends
loaded, skipped (and why) or failed (and why); one peer's failure does not stop the others.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TextIO

import dagster as dg
from sqlalchemy import text
from sqlalchemy.engine import Engine

from tgstats_dagster.automation import RANGE_END, RANGE_START
from tgstats_dagster.definitions import build_definitions
from tgstats_dagster.jobs import PEERS_JOB, STATS_JOB
from tgstats_dagster.partitions import PEER, contiguous_runs, stats_key
from tgstats_dagster.settings import Settings
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.snapshots import known_peer

# The runs' own logs stay in the Dagster UI; the command prints its progress and summary.
QUIET_LOGS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
# "package.module.SomeError: message" -> "message"
_EXCEPTION_PREFIX = re.compile(r"^[A-Za-z_][\w.]*\.\w+: ")


@dataclass(frozen=True)
class PeerReport:
    peer: str
    status: str  # "loaded" | "skipped" | "failed"
    detail: str
    days: int = 0
    rows: int = 0

    @property
    def acceptable(self) -> bool:
        """Loaded, or skipped for lack of stats rights: what `tgstats backfill` exits 0 on."""
        return self.status in ("loaded", "skipped")


def run_backfill(
    settings: Settings,
    instance: dg.DagsterInstance,
    database_url: str,
    peers: tuple[str, ...],
    start: date,
    end: date,
    out: TextIO = sys.stdout,
) -> list[PeerReport]:
    """Materialize peers x [start, end] through Dagster; report each peer.

    Runs are as few as the partitions allow (each Telegram connection costs requests): one
    run for the peer entities and one range run for the stats of every group of
    neighbouring peers. A run that fails is run again peer by peer, so that one peer's
    failure does not hold the others back; the snapshots already fetched are reused then.
    """
    defs = build_definitions(settings)
    existing = instance.get_dynamic_partitions(PEER)
    instance.add_dynamic_partitions(PEER, [p for p in peers if p not in existing])
    order = instance.get_dynamic_partitions(PEER)
    engine = make_engine(database_url)

    def peer_tags(group: list[str]) -> dict[str, str]:
        return {RANGE_START: group[0], RANGE_END: group[-1]}

    def stats_tags(group: list[str]) -> dict[str, str]:
        return {
            RANGE_START: str(stats_key(group[0], start)),
            RANGE_END: str(stats_key(group[-1], end)),
        }

    days = (end - start).days + 1
    print(f"peer entities of {len(peers)} peer(s)", file=out, flush=True)
    peers_job = defs.resolve_job_def(PEERS_JOB)
    requests = Counter()
    failures, _ = _run_isolating(peers_job, instance, order, peers, peer_tags, out, requests)
    reports = {peer: PeerReport(peer, "failed", why) for peer, why in failures.items()}
    loadable = []
    for peer in peers:
        if peer in failures:
            continue
        row = known_peer(engine, peer)
        if row is None:
            reports[peer] = PeerReport(peer, "failed", "the peer entity was not stored")
        elif not row["can_view_stats"]:
            reports[peer] = PeerReport(peer, "skipped", "no stats rights (can_view_stats is false)")
        else:
            loadable.append(peer)

    print(f"stats of {len(loadable)} peer(s) x {days} day(s)", file=out, flush=True)
    stats_job = defs.resolve_job_def(STATS_JOB)
    failures, materialized = _run_isolating(
        stats_job, instance, order, loadable, stats_tags, out, requests
    )
    for peer in loadable:
        if peer in failures:
            reports[peer] = PeerReport(peer, "failed", failures[peer], days=days)
        elif not any(key.endswith(f"|{peer}") for key in materialized):
            reports[peer] = PeerReport(peer, "skipped", "Telegram refused the stats (see the log)")
        else:
            reports[peer] = _stats_report(peer, engine, start, end, days)
    print(f"Telegram requests: {requests.total()} ({_by_type(requests)})", file=out, flush=True)
    return [reports[peer] for peer in peers]


def _run_isolating(
    job: dg.JobDefinition,
    instance: dg.DagsterInstance,
    order: list[str],
    peers: list[str] | tuple[str, ...],
    tags_for: Callable[[list[str]], dict[str, str]],
    out: TextIO,
    requests: Counter[str],
) -> tuple[dict[str, str], set[str]]:
    """Run ``job`` over groups of neighbouring peers; a failed group again peer by peer.

    Returns why each peer that failed on its own failed, and the partitions materialized;
    adds the Telegram requests the runs made to ``requests``.
    """
    failures: dict[str, str] = {}
    materialized: set[str] = set()
    for group in contiguous_runs(order, peers):
        result = _execute(job, instance, tags_for(group))
        requests.update(_requests(result))
        if not result.success and len(group) > 1:
            print(f"  {_failure(result)}: running {', '.join(group)} one by one", file=out)
            results = {peer: _execute(job, instance, tags_for([peer])) for peer in group}
            for each in results.values():
                requests.update(_requests(each))
        else:
            results = {peer: result for peer in group}
        for peer, each in results.items():
            if each.success:
                materialized |= _partitions(each)
            else:
                failures[peer] = _failure(each)
                print(f"  {peer}: failed: {failures[peer]}", file=out, flush=True)
    return failures, materialized


def _execute(
    job: dg.JobDefinition, instance: dg.DagsterInstance, tags: dict[str, str]
) -> dg.ExecuteInProcessResult:
    return job.execute_in_process(
        instance=instance, tags=tags, run_config=QUIET_LOGS, raise_on_error=False
    )


def _requests(result: dg.ExecuteInProcessResult) -> Counter[str]:
    """The Telegram requests of a run, from its steps' metadata (once per step)."""
    counts: Counter[str] = Counter()
    for node in {event.node_name for event in result.get_asset_materialization_events()}:
        first = result.asset_materializations_for_node(node)[0]
        by_type = first.metadata.get("telegram_requests_by_type")
        if by_type is not None:
            counts.update(by_type.value)
    return counts


def _by_type(requests: Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(requests.items())) or "none"


def _partitions(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        event.partition
        for event in result.get_asset_materialization_events()
        if event.partition is not None
    }


def _stats_report(peer: str, engine: Engine, start: date, end: date, days: int) -> PeerReport:
    with engine.connect() as conn:
        covered, rows = conn.execute(
            text(
                "SELECT count(DISTINCT day), count(*) FROM channel_daily "
                "WHERE peer_key = :peer AND day BETWEEN :start AND :end"
            ),
            {"peer": peer, "start": start, "end": end},
        ).one()
    detail = f"{covered} of {days} day(s) with figures"
    if covered < days:
        detail += " (the other days lie outside the window Telegram served)"
    return PeerReport(peer, "loaded", detail, days=covered, rows=rows)


def _failure(result: dg.ExecuteInProcessResult) -> str:
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            error = event.step_failure_data.error
            message = (error.cause or error).message if error else "unknown error"
            last_line = message.strip().splitlines()[-1]
            return f"{event.step_key}: {_EXCEPTION_PREFIX.sub('', last_line)}"
    return "the run failed (see its log in the Dagster UI)"


def print_summary(reports: list[PeerReport], out: TextIO = sys.stdout) -> None:
    width = max([len(r.peer) for r in reports] + [4])
    print(f"\n{'peer':<{width}}  {'status':<7}  {'rows':>7}  detail", file=out)
    for r in reports:
        print(f"{r.peer:<{width}}  {r.status:<7}  {r.rows:>7}  {r.detail}", file=out)
