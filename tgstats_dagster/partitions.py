"""Partitions, and the one codec of their keys.

- ``peer`` (dynamic): every configured peer; the peer entity ``telegram_peers`` uses it.
- ``stats_peer`` (dynamic): the peers whose entity says ``can_view_stats``. The stats assets
  are partitioned by it x daily ``date``, so a peer without stats rights is never offered as
  a stats partition: no run, backfill or tick can include it, and none of its stats partitions
  can be shown failed. ``sync_stats_peers`` keeps it in step with the stored peer entities.

A stats key reads ``<date>|<peer>`` (Dagster orders dimensions by name); it is built and read
here only, through Dagster's ``MultiPartitionKey``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date

import dagster as dg

PEER = "peer"
STATS_PEER = "stats_peer"
DATE = "date"

peer_partitions = dg.DynamicPartitionsDefinition(name=PEER)
stats_peer_partitions = dg.DynamicPartitionsDefinition(name=STATS_PEER)

# Dagster has no public way to ask for a run over a range of partitions: its backfill daemon
# and RunRequest.partition_key_range use these two tags. They are named here once, and
# tgstats_dagster_tests/test_partitions.py checks that Dagster still honours them.
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def stats_partitions(start_date: date) -> dg.MultiPartitionsDefinition:
    """stats peer x date; the start is fixed by configuration (a moving start drops partitions)."""
    return dg.MultiPartitionsDefinition(
        {
            DATE: dg.DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC"),
            PEER: stats_peer_partitions,
        }
    )


# Parsing a key needs only the dimension names, not the start date.
_CODEC = stats_partitions(date(1970, 1, 1))


@dataclass(frozen=True, order=True)
class PeerDay:
    """One stats partition: a peer and a UTC day."""

    peer: str
    day: date

    @property
    def key(self) -> dg.MultiPartitionKey:
        return dg.MultiPartitionKey({DATE: self.day.isoformat(), PEER: self.peer})

    @classmethod
    def of(cls, key: str | dg.MultiPartitionKey) -> PeerDay:
        """A stats partition key (a MultiPartitionKey or its string) -> PeerDay."""
        if not isinstance(key, dg.MultiPartitionKey):
            if "|" not in str(key):
                raise ValueError(f"{key!r} is not a peer x date partition key")
            key = _CODEC.get_partition_key_from_str(str(key))
        dims = key.keys_by_dimension
        return cls(dims[PEER], date.fromisoformat(dims[DATE]))


def days_by_peer(keys: Iterable[str | dg.MultiPartitionKey]) -> dict[str, list[date]]:
    """Stats partition keys -> ``{peer: [days, sorted]}``, peers in their first-seen order."""
    grouped: dict[str, set[date]] = defaultdict(set)
    for key in keys:
        pair = PeerDay.of(key)
        grouped[pair.peer].add(pair.day)
    return {peer: sorted(days) for peer, days in grouped.items()}


def range_tags(start: str, end: str) -> dict[str, str]:
    """The tags of a run over the partitions from ``start`` to ``end`` (both included)."""
    return {RANGE_START_TAG: str(start), RANGE_END_TAG: str(end)}


def stats_range_tags(first_peer: str, last_peer: str, first: date, last: date) -> dict[str, str]:
    """A run over the rectangle of neighbouring stats peers x days ``first..last``."""
    return range_tags(str(PeerDay(first_peer, first).key), str(PeerDay(last_peer, last).key))


def contiguous_runs(ordered: Sequence[str], wanted: Iterable[str]) -> list[list[str]]:
    """Split ``wanted`` peers into groups of neighbours in the dynamic partitions' order.

    Dagster orders dynamic keys by insertion, and a partition range covers every key
    between its ends: a range run must span only neighbours.
    """
    chosen = set(wanted)
    runs: list[list[str]] = []
    previous = False
    for key in ordered:
        if key in chosen:
            if previous:
                runs[-1].append(key)
            else:
                runs.append([key])
        previous = key in chosen
    return runs


def stats_peer_changes(
    peers: Sequence[str], stats_peers: Sequence[str], rights: Mapping[str, bool]
) -> tuple[list[str], list[str]]:
    """The ``stats_peer`` keys to add and to delete so that it holds exactly the peers of
    ``peers`` whose stored entity has stats rights (``rights``: peer key -> can_view_stats).

    New keys are added in the order of ``peers``.
    """
    current = set(stats_peers)
    wanted = [peer for peer in peers if rights.get(peer)]
    add = [peer for peer in wanted if peer not in current]
    delete = sorted(current - set(wanted))
    return add, delete


def sync_stats_peers(instance: dg.DagsterInstance, rights: Mapping[str, bool]) -> None:
    """Bring ``stats_peer`` in step with the stored peer entities (``rights``)."""
    add, delete = stats_peer_changes(
        instance.get_dynamic_partitions(PEER), instance.get_dynamic_partitions(STATS_PEER), rights
    )
    if add:
        instance.add_dynamic_partitions(STATS_PEER, add)
    for peer in delete:
        instance.delete_dynamic_partition(STATS_PEER, peer)
