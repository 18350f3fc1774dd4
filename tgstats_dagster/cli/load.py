"""``tgstats backfill`` and ``tgstats refresh``: peers x days through real Dagster runs.

As few runs as the partitions allow: one run for the entities of the peers not stored yet,
one snapshots run for every requested peer with stats rights (they are neighbours in the
``stats_peer`` partitions unless some were added in between), then the daily runs: a
backfill materializes every day it asks for; a refresh only the days the snapshots run found
new or changed (none when nothing changed); then the reports of the peers whose rows the
daily runs wrote are redrawn. A run that fails for some peers is followed up
(see :mod:`tgstats_dagster.runs`). Each peer ends loaded, reused, unchanged, skipped (no
stats rights), incomplete or failed, and says why.
"""

from __future__ import annotations

import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import TextIO

import dagster as dg
from sqlalchemy import text

from tgstats_dagster.assets.common import peer_rights
from tgstats_dagster.cli.runner import RunOutcome, fail_dead_runs, run_with_follow_ups
from tgstats_dagster.definitions import build_definitions, warehouse_resource
from tgstats_dagster.partitions import (
    PEER,
    STATS_PEER,
    contiguous_runs,
    range_tags,
    stats_range_tags,
    sync_stats_peers,
)
from tgstats_dagster.runs import (
    PEERS_JOB,
    RECORD_CHANGES_TAG,
    REPORT_JOB,
    SNAPSHOTS_JOB,
    STATS_JOB,
    changed_days,
    changes_tags,
    days_tag,
    report_tags,
)
from tgstats_dagster.settings import Settings

#: Statuses a command exits 0 on.
ACCEPTABLE = frozenset({"loaded", "reused", "unchanged", "skipped"})


@dataclass(frozen=True)
class PeerReport:
    peer: str
    status: str  # loaded | reused | unchanged | skipped | incomplete | failed
    detail: str
    days: int = 0
    rows: int = 0

    @property
    def acceptable(self) -> bool:
        """What `tgstats backfill` exits 0 on: loaded (or reused), or no stats rights."""
        return self.status in ACCEPTABLE


@dataclass
class LoadResult:
    reports: list[PeerReport]
    runs: list[RunOutcome]

    @property
    def requests(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for run in self.runs:
            total.update(run.requests)
        return total


def load(
    settings: Settings,
    instance: dg.DagsterInstance,
    peers: Sequence[str],
    first: date,
    last: date,
    out: TextIO = sys.stdout,
    *,
    only_changed: bool = False,
) -> LoadResult:
    """Materialize ``peers`` x ``first..last`` through Dagster; report each peer.

    ``only_changed`` (the refresh): materialize the days whose figures are new or changed,
    not every day of ``first..last``.
    """
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    defs = build_definitions(settings)
    warehouse = warehouse_resource(settings, in_definitions=False)
    for run_id in fail_dead_runs(instance):
        print(f"run {run_id}: its process had died; marked failed, its slot freed", file=out)

    existing = instance.get_dynamic_partitions(PEER)
    new = [peer for peer in peers if peer not in existing]
    if new:
        instance.add_dynamic_partitions(PEER, new)
    stored = warehouse.peers.known(list(peers))
    unresolved = [peer for peer in peers if peer not in stored]
    runs: list[RunOutcome] = []
    failures: dict[str, str] = {}
    if unresolved:
        print(f"peer entities of {len(unresolved)} peer(s)", file=out, flush=True)
        order = instance.get_dynamic_partitions(PEER)
        job = defs.resolve_job_def(PEERS_JOB)
        for group in contiguous_runs(order, unresolved):
            runs += _with_failures(
                run_with_follow_ups(job, instance, range_tags(group[0], group[-1]), out), failures
            )
    sync_stats_peers(instance, peer_rights(instance, warehouse))
    stored = warehouse.peers.known(list(peers))

    reports: dict[str, PeerReport] = {}
    loadable = []
    for peer in peers:
        if peer in failures or peer not in stored:
            why = failures.get(peer, "the peer entity was not stored")
            reports[peer] = PeerReport(peer, "failed", why)
        elif not stored[peer]["can_view_stats"]:
            reports[peer] = PeerReport(peer, "skipped", "no stats rights (can_view_stats is false)")
        else:
            loadable.append(peer)

    days = (last - first).days + 1
    if loadable:
        what = "checked" if only_changed else "loaded"
        print(f"snapshots of {len(loadable)} peer(s), {days} day(s) {what}", file=out, flush=True)
        snapshots_job = defs.resolve_job_def(SNAPSHOTS_JOB)
        order = instance.get_dynamic_partitions(STATS_PEER)
        snapshot_runs: list[RunOutcome] = []
        record = {RECORD_CHANGES_TAG: "1"} if only_changed else {}
        for group in contiguous_runs(order, loadable):
            tags = {**range_tags(group[0], group[-1]), **days_tag(first, last), **record}
            snapshot_runs += run_with_follow_ups(snapshots_job, instance, tags, out)
        runs += _with_failures(snapshot_runs, failures)
        daily = _daily_runs(instance, snapshot_runs, loadable, failures, first, last, only_changed)
        daily_runs: list[RunOutcome] = []
        if daily:
            job = defs.resolve_job_def(STATS_JOB)
            for tags in daily:
                daily_runs += run_with_follow_ups(job, instance, tags, out)
            runs += _with_failures(daily_runs, failures)
        redraw = _recorded_peers(instance, snapshot_runs) | {
            peer for outcome in daily_runs if outcome.success for peer in outcome.peers
        }
        if redraw:
            runs += _with_failures(_draw_reports(defs, instance, redraw, out), failures)
        elif only_changed:
            print(f"{len(loadable)} peer(s) checked, nothing changed", file=out, flush=True)
    for peer in loadable:
        if peer in failures:
            reports[peer] = PeerReport(peer, "failed", failures[peer])
        else:
            channel_id = int(stored[peer]["channel_id"])
            reports[peer] = _stats_report(warehouse.engine, peer, channel_id, first, last, started)
    result = LoadResult([reports[peer] for peer in peers], runs)
    print(
        f"{len(runs)} run(s), {result.requests.total()} Telegram request(s), "
        f"{time.monotonic() - clock:.1f} s",
        file=out,
        flush=True,
    )
    return result


def _daily_runs(
    instance: dg.DagsterInstance,
    snapshot_runs: Sequence[RunOutcome],
    loadable: Sequence[str],
    failures: dict[str, str],
    first: date,
    last: date,
    only_changed: bool,
) -> list[dict[str, str]]:
    """The tags of the daily runs after the snapshots runs: every loaded peer x every day
    (a backfill), or the days each successful snapshots run found changed (a refresh)."""
    order = instance.get_dynamic_partitions(STATS_PEER)
    if not only_changed:
        loaded = [peer for peer in loadable if peer not in failures]
        return [
            stats_range_tags(group[0], group[-1], first, last)
            for group in contiguous_runs(order, loaded)
        ]
    daily: list[dict[str, str]] = []
    for outcome in snapshot_runs:
        run = instance.get_run_by_id(outcome.run_id)
        if run is None or not outcome.success or RECORD_CHANGES_TAG in run.tags:
            continue  # a refresh's snapshots run records its changed days itself
        if changed_days(run.tags, order):
            daily += changes_tags(run.tags, order, outcome.run_id)
    return daily


def _recorded_peers(instance: dg.DagsterInstance, snapshot_runs: Sequence[RunOutcome]) -> set[str]:
    """The peers whose changed days a refresh's snapshots runs recorded themselves."""
    order = instance.get_dynamic_partitions(STATS_PEER)
    peers: set[str] = set()
    for outcome in snapshot_runs:
        run = instance.get_run_by_id(outcome.run_id)
        if outcome.success and run is not None and RECORD_CHANGES_TAG in run.tags:
            peers.update(p for group in changed_days(run.tags, order).values() for p in group)
    return peers


def _draw_reports(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    drawn: set[str],
    out: TextIO,
) -> list[RunOutcome]:
    """Redraw the reports of the peers whose rows changed (``drawn``), once each."""
    order = instance.get_dynamic_partitions(STATS_PEER)
    peers = [peer for peer in order if peer in drawn]
    if not peers:
        return []
    print(f"reports of {len(peers)} peer(s)", file=out, flush=True)
    job = defs.resolve_job_def(REPORT_JOB)
    outcomes: list[RunOutcome] = []
    for tags in report_tags(peers, order):
        outcomes += run_with_follow_ups(job, instance, tags, out)
    return outcomes


def _with_failures(outcomes: list[RunOutcome], failures: dict[str, str]) -> list[RunOutcome]:
    """Record each peer's outcome: the last run that covered it decides."""
    for outcome in outcomes:
        for peer in outcome.peers:
            if outcome.success:
                failures.pop(peer, None)
            else:
                failures[peer] = outcome.why(peer)
    return outcomes


def _stats_report(
    engine, peer: str, channel_id: int, first: date, last: date, started: datetime
) -> PeerReport:
    with engine.connect() as conn:
        covered, rows, changed = conn.execute(
            text(
                "SELECT count(DISTINCT day), count(*), "
                "count(*) FILTER (WHERE updated_at >= :started) "
                "FROM channel_daily WHERE channel_id = :channel AND day BETWEEN :first AND :last"
            ),
            {"channel": channel_id, "first": first, "last": last, "started": started},
        ).one()
        snapshot = conn.execute(
            text(
                "SELECT fetched_at, complete, missing_graphs FROM stats_snapshots "
                "WHERE channel_id = :channel ORDER BY fetched_at DESC LIMIT 1"
            ),
            {"channel": channel_id},
        ).one_or_none()
    days = (last - first).days + 1
    detail = f"{covered} of {days} day(s) with figures"
    if covered < days:
        detail += " (the other days lie outside the window Telegram served)"
    if snapshot is not None and not snapshot.complete:
        missing = ", ".join(snapshot.missing_graphs)
        return PeerReport(
            peer, "incomplete", f"{detail}; graphs not loaded: {missing}", covered, rows
        )
    fetched = snapshot is not None and snapshot.fetched_at >= started
    if fetched:
        status = "loaded"
    elif changed:
        status = "reused"
        detail += f"; snapshot of {snapshot.fetched_at:%Y-%m-%d %H:%M} UTC reused"
    else:
        status = "unchanged"
        detail += "; stored snapshot reused, no row changed"
    return PeerReport(peer, status, detail, covered, rows)


def print_summary(result: LoadResult, out: TextIO = sys.stdout) -> None:
    reports = result.reports
    width = max([len(r.peer) for r in reports] + [4])
    print(f"\n{'peer':<{width}}  {'status':<10}  {'rows':>7}  detail", file=out)
    for r in reports:
        print(f"{r.peer:<{width}}  {r.status:<10}  {r.rows:>7}  {r.detail}", file=out)
    requests = result.requests
    listed = ", ".join(f"{name} {count}" for name, count in sorted(requests.items()))
    print(
        f"\nTelegram requests: {requests.total()} ({listed or 'none'}; besides Telethon's own "
        "connection set-up)",
        file=out,
        flush=True,
    )
