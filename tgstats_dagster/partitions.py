"""Partitions: a dynamic ``peer`` dimension (one key per configured peer) x daily UTC ``date``."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date

import dagster as dg

PEER = "peer"
DATE = "date"

peer_partitions = dg.DynamicPartitionsDefinition(name=PEER)


def stats_partitions(start_date: date) -> dg.MultiPartitionsDefinition:
    """peer x date; the start is fixed by configuration, because a moving start drops partitions."""
    return dg.MultiPartitionsDefinition(
        {
            DATE: dg.DailyPartitionsDefinition(start_date=start_date.isoformat(), timezone="UTC"),
            PEER: peer_partitions,
        }
    )


def days_by_peer(partition_keys: Iterable[str]) -> dict[str, list[date]]:
    """``["2026-11-01|a", ...]`` -> ``{"a": [2026-11-01, ...]}``, days sorted.

    Works for any selection, including range runs that span several peers and several days.
    """
    grouped: dict[str, set[date]] = defaultdict(set)
    for key in partition_keys:
        # Dimensions are ordered by name, so a key string reads "<date>|<peer>".
        day, sep, peer = str(key).partition("|")
        if not sep or not peer:
            raise ValueError(f"{key!r} is not a peer x date partition key")
        grouped[peer].add(date.fromisoformat(day))
    return {peer: sorted(days) for peer, days in grouped.items()}


def stats_key(peer: str, day: date) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({DATE: day.isoformat(), PEER: peer})


def contiguous_runs(ordered: Sequence[str], wanted: Iterable[str]) -> list[list[str]]:
    """Split ``wanted`` peers into runs of neighbours in the dynamic partitions' order.

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
