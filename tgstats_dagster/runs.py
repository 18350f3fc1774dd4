"""Runs over many peers: what a run covers, the runs of what changed, and the follow-up runs
after some peers failed.

A refresh is two kinds of run. The snapshots run (``telegram_snapshots_job``, partitioned by
stats peer) fetches or reuses each peer's snapshot and compares its daily figures with the
stored rows: the days that are new or changed are written into the run's tag
``tgstats/changed_days``. Then the daily runs (``telegram_stats_job``, peer x day) materialize
exactly those days, one run per rectangle of neighbouring peers x a range of days. A refresh
that changed nothing ends with the snapshots run, which materializes nothing.

Dagster materializes a run's partitions all together or not at all (one output covers the
whole range, and its events are written in batches, which is what makes one run for
hundreds of peers cheap). So a step whose peers did not all load fails *before* it
materializes anything, naming the failed peers in its failure metadata; every snapshot that
did load is stored already. Then, once, the follow-up runs: one over each group of
neighbouring peers that loaded (they reuse their stored snapshots: no Telegram request),
and one per failed peer, on its own. The run failure sensor does this in a deployment;
``tgstats refresh`` and ``tgstats backfill`` do the same themselves.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import dagster as dg

from tgstats_dagster.partitions import (
    PEER,
    RANGE_END_TAG,
    RANGE_START_TAG,
    STATS_PEER,
    PeerDay,
    contiguous_runs,
    range_tags,
    stats_range_tags,
)

PEERS_JOB = "telegram_peers_job"
SNAPSHOTS_JOB = "telegram_snapshots_job"
STATS_JOB = "telegram_stats_job"
REPORT_JOB = "telegram_report_job"
#: Tag of a snapshots run: the days it compares, ``<first>..<last>`` (default: the refresh
#: window, the last MTPROTO_STATS_PERIOD_DAYS complete days).
DAYS_TAG = "tgstats/days"
#: Tag the snapshots run writes: ``{"<first>..<last>": [[first peer, last peer], ...]}``, the
#: days whose figures are new or changed, each range with the ranges of peers it holds for.
CHANGED_DAYS_TAG = "tgstats/changed_days"
#: Tag the snapshots run writes beside it, in the same form: the days whose hourly history or
#: posts are new or changed (a daily run records ``channel_hourly`` and ``posts`` only when
#: its partitions hold some).
CONTENT_DAYS_TAG = "tgstats/changed_content_days"
#: The largest value of that tag (Dagster indexes run tags; PostgreSQL's index rows hold at
#: most 2,704 bytes).
MAX_CHANGED_TAG_BYTES = 2_000
#: Tag of a daily run: the snapshots run whose changes it materializes.
CHANGES_OF_TAG = "tgstats/changes_of"
#: Step failure metadata: peer -> why it failed (each is retried in a run of its own).
FAILED_PEERS = "failed_peers"
#: Step failure metadata: the job whose runs follow up.
FOLLOW_UP_JOB = "follow_up_job"
#: Step failure metadata: the run's peers, in partition order (an unknown entry among them
#: is no longer a partition by then, so the run's range alone cannot tell them).
RUN_PEERS = "run_peers"
#: Tag of a follow-up run: the run it follows up (a follow-up is never followed up again).
FOLLOW_UP_OF_TAG = "tgstats/follow_up_of"
#: Run tag: the Telegram requests the run made, ``{"<Request>@dc<N>": count}`` as JSON.
TELEGRAM_REQUESTS_TAG = "tgstats/telegram_requests"
PARTITION_TAG = "dagster/partition"


def peers_failed(
    job: str, peers: Sequence[str], failed: Mapping[str, str], loaded: int
) -> dg.Failure:
    """The failure of a step some of whose peers failed; its metadata drives the follow-ups."""
    listed = "; ".join(f"{peer}: {why}" for peer, why in sorted(failed.items()))
    return dg.Failure(
        description=(
            f"{len(failed)} peer(s) failed: {listed}. Nothing was materialized by this run "
            f"(Dagster materializes a run's partitions together); the {loaded} peer(s) that "
            "loaded are stored and are materialized by a follow-up run without new Telegram "
            "requests, and each failed peer is retried once in a run of its own."
        ),
        metadata={
            FAILED_PEERS: dg.MetadataValue.json(dict(failed)),
            RUN_PEERS: dg.MetadataValue.json(list(peers)),
            FOLLOW_UP_JOB: job,
        },
        allow_retries=False,
    )


@dataclass(frozen=True)
class RunScope:
    """The peers (in partition order) and, for a stats run, the days a run covers."""

    job: str
    peers: tuple[str, ...]
    first: date | None = None
    last: date | None = None

    def tags_for(self, group: Sequence[str]) -> dict[str, str]:
        if self.first is None or self.last is None:
            return range_tags(group[0], group[-1])
        return stats_range_tags(group[0], group[-1], self.first, self.last)


def run_scope(
    job: str,
    tags: Mapping[str, str],
    instance: dg.DagsterInstance,
    peers: Sequence[str] | None = None,
) -> RunScope | None:
    """What a run of ``job`` with these tags covers (None when its tags say no partitions);
    ``peers``, when known, are its peers."""
    order = instance.get_dynamic_partitions(PEER if job == PEERS_JOB else STATS_PEER)
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if start is None or end is None:
        start = end = tags.get(PARTITION_TAG)
    if start is None or end is None:
        return None
    if job != STATS_JOB:
        return RunScope(job, tuple(peers) if peers else _between(order, start, end))
    first, last = PeerDay.of(start), PeerDay.of(end)
    within = tuple(peers) if peers else _between(order, first.peer, last.peer)
    return RunScope(job, within, first.day, last.day)


def _between(order: Sequence[str], first: str, last: str) -> tuple[str, ...]:
    if first not in order or last not in order:
        return (first,) if first == last else ()
    return tuple(order[order.index(first) : order.index(last) + 1])


def follow_up_tags(
    scope: RunScope, failed: Mapping[str, str], instance: dg.DagsterInstance, run_id: str
) -> list[dict[str, str]]:
    """Tags of the follow-up runs: each group of neighbours that loaded, then each failed peer.

    Peers no longer partitions (an unknown entry was removed) are left out.
    """
    order = instance.get_dynamic_partitions(PEER if scope.job == PEERS_JOB else STATS_PEER)
    loaded = [peer for peer in scope.peers if peer not in failed and peer in order]
    retried = [peer for peer in scope.peers if peer in failed and peer in order]
    groups = [*contiguous_runs(order, loaded), *([peer] for peer in retried)]
    return [{**scope.tags_for(group), FOLLOW_UP_OF_TAG: run_id} for group in groups]


@dataclass(frozen=True)
class PeersFailure:
    """What a step that failed for some of its peers says: the job to follow up with, the
    run's peers, and why each failed peer failed."""

    job: str
    peers: tuple[str, ...]
    failed: dict[str, str]


def failed_peers_of(events: Sequence[dg.DagsterEvent]) -> PeersFailure | None:
    """What a run's step failure says of its peers (None: it did not fail for some peers)."""
    for event in events:
        if not event.is_step_failure:
            continue
        data = event.step_failure_data
        user = data.user_failure_data if data else None
        if user is None or FAILED_PEERS not in user.metadata:
            continue
        return PeersFailure(
            job=str(user.metadata[FOLLOW_UP_JOB].value),
            peers=tuple(user.metadata[RUN_PEERS].value),
            failed=dict(user.metadata[FAILED_PEERS].value),
        )
    return None


def telegram_requests(tags: Mapping[str, str]) -> dict[str, int]:
    """The Telegram requests a run recorded in its tags."""
    return json.loads(tags.get(TELEGRAM_REQUESTS_TAG, "{}"))


def refresh_window(start_date: date, period_days: int, last_day: date) -> tuple[date, date] | None:
    """The last ``period_days`` complete days up to ``last_day``, not before ``start_date``."""
    first = max(start_date, last_day - timedelta(days=period_days - 1))
    return (first, last_day) if first <= last_day else None


def days_of(tags: Mapping[str, str], default: tuple[date, date] | None) -> list[date]:
    """The days a snapshots run compares: its ``tgstats/days`` tag, else ``default``."""
    value = tags.get(DAYS_TAG)
    if value:
        first, _, last = value.partition("..")
        span = (date.fromisoformat(first), date.fromisoformat(last or first))
    elif default is not None:
        span = default
    else:
        return []
    return [span[0] + timedelta(days=n) for n in range((span[1] - span[0]).days + 1)]


def days_tag(first: date, last: date) -> dict[str, str]:
    return {DAYS_TAG: f"{first.isoformat()}..{last.isoformat()}"}


def changed_days_tag(
    changed: Mapping[str, Sequence[date]], order: Sequence[str], tag: str = CHANGED_DAYS_TAG
) -> dict[str, str]:
    """``{peer: days}`` -> the tag of a snapshots run: each contiguous range of days with the
    ranges of neighbouring peers (``[first, last]`` in ``order``, the stats peers' partition
    order) it holds for.

    Its size grows with the number of such ranges, not with the fleet: a refresh in which
    every peer got a new day is one range of days with one range of peers. Dagster indexes
    run tags, and PostgreSQL refuses an index row over 2,704 bytes, so should the tag pass
    ``MAX_CHANGED_TAG_BYTES`` (changed and unchanged peers alternating), the ranges closest
    to each other are joined: the unchanged partitions between them are materialized again,
    unchanged, and no changed one is left out.
    """
    position = {peer: index for index, peer in enumerate(order)}
    by_span: dict[str, set[int]] = {}
    for peer, days in changed.items():
        if peer not in position:
            raise ValueError(f"{peer!r} is not a stats peer partition")
        for first, last in day_spans(days):
            by_span.setdefault(f"{first.isoformat()}..{last.isoformat()}", set()).add(
                position[peer]
            )
    spans = {span: _index_ranges(indexes) for span, indexes in by_span.items()}
    while True:
        encoded = {
            span: [[order[low], order[high]] for low, high in ranges]
            for span, ranges in spans.items()
        }
        value = json.dumps(encoded, sort_keys=True, separators=(",", ":"))
        if len(value.encode()) <= MAX_CHANGED_TAG_BYTES:
            return {tag: value}
        _join_closest(spans)


def _index_ranges(indexes: set[int]) -> list[tuple[int, int]]:
    ranges: list[list[int]] = []
    for index in sorted(indexes):
        if ranges and index == ranges[-1][1] + 1:
            ranges[-1][1] = index
        else:
            ranges.append([index, index])
    return [(low, high) for low, high in ranges]


def _join_closest(spans: dict[str, list[tuple[int, int]]]) -> None:
    """Join the two neighbouring ranges of peers with the smallest gap, in any span; with
    none left to join, the rectangle around every span."""
    gaps = [
        (ranges[i + 1][0] - ranges[i][1], span, i)
        for span, ranges in spans.items()
        for i in range(len(ranges) - 1)
    ]
    if not gaps:  # one range of peers per range of days, and still too many: one rectangle
        firsts, lasts = zip(*(span.split("..") for span in spans), strict=True)
        low = min(ranges[0][0] for ranges in spans.values())
        high = max(ranges[-1][1] for ranges in spans.values())
        spans.clear()
        spans[f"{min(firsts)}..{max(lasts)}"] = [(low, high)]
        return
    _, span, i = min(gaps)
    ranges = spans[span]
    ranges[i : i + 2] = [(ranges[i][0], ranges[i + 1][1])]


def changed_days(
    tags: Mapping[str, str], order: Sequence[str], tag: str = CHANGED_DAYS_TAG
) -> dict[tuple[date, date], list[str]]:
    """What a snapshots run's tag says changed: ``{(first, last): [peers]}``, the ranges of
    peers read in ``order`` (the stats peers' partition order). A range whose end is no
    longer a stats peer keeps only the end that is: the peers between are found changed
    again by the next refresh."""
    position = {peer: index for index, peer in enumerate(order)}
    spans: dict[tuple[date, date], list[str]] = {}
    for span, ranges in json.loads(tags.get(tag, "{}")).items():
        first, _, last = span.partition("..")
        peers: list[str] = []
        for low, high in ranges:
            if low in position and high in position:
                peers += order[position[low] : position[high] + 1]
            else:
                peers += [peer for peer in (low, high) if peer in position]
        spans[(date.fromisoformat(first), date.fromisoformat(last))] = list(dict.fromkeys(peers))
    return spans


def changes_tags(
    tags: Mapping[str, str], order: Sequence[str], run_id: str
) -> list[dict[str, str]]:
    """The daily runs that materialize what a snapshots run found changed: one per range of
    days x group of neighbouring peers, so exactly the changed partitions are materialized."""
    runs = []
    for (first, last), peers in sorted(changed_days(tags, order).items()):
        for group in contiguous_runs(order, peers):
            runs.append(
                {**stats_range_tags(group[0], group[-1], first, last), CHANGES_OF_TAG: run_id}
            )
    return runs


def report_tags(peers: Sequence[str], order: Sequence[str]) -> list[dict[str, str]]:
    """The report runs that redraw ``peers`` (the peers of the daily runs that changed
    rows): one per group of neighbouring stats peers."""
    return [range_tags(group[0], group[-1]) for group in contiguous_runs(order, peers)]


def day_spans(days: Sequence[date]) -> list[tuple[date, date]]:
    """Days -> their contiguous ranges, in order."""
    spans: list[list[date]] = []
    for day in sorted(set(days)):
        if spans and (day - spans[-1][1]).days == 1:
            spans[-1][1] = day
        else:
            spans.append([day, day])
    return [(a, b) for a, b in spans]
