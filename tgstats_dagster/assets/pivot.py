"""Raw graphs of stored snapshots -> one row per (channel, day, metric), for the days asked for."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date

import pandas as pd

from tgstats_dagster.telegram.graphs import GraphFormatError, daily_points, parse_graph
from tgstats_dagster.warehouse.snapshots import CHANNEL_DAILY_COLUMNS as DAILY_COLUMNS


@dataclass
class Pivot:
    frame: pd.DataFrame
    outside_window: dict[str, list[date]] = field(default_factory=dict)
    unparsed: dict[str, str] = field(default_factory=dict)  # graph -> the parser's message
    snapshots: set[tuple[str, str]] = field(default_factory=set)  # (peer, fetched_at)


def daily_pivot(raw: pd.DataFrame, days_by_peer: dict[str, list[date]]) -> Pivot:
    """Pick every daily series' value at each requested day from that day's snapshot.

    ``raw`` is what the ``stats_raw`` IO manager loads: one row per (peer_key, day, graph).
    A day whose snapshot has no daily point for it gives no rows and is reported in
    ``outside_window``; a graph that does not parse is skipped and reported in ``unparsed``
    while the others go on.
    """
    pivot = Pivot(frame=pd.DataFrame(columns=DAILY_COLUMNS))
    points_by_snapshot: dict[tuple[int, object], dict[date, list[tuple[str, object]]]] = {}
    rows: list[tuple] = []
    wanted = {(peer, day) for peer, days in days_by_peer.items() for day in days}
    for (peer, day), group in raw.groupby(["peer_key", "day"], sort=True):
        day = pd.Timestamp(day).date()
        if (peer, day) not in wanted:
            continue
        first = group.iloc[0]
        snapshot_key = (int(first["channel_id"]), first["fetched_at"])
        pivot.snapshots.add((peer, pd.Timestamp(first["fetched_at"]).isoformat()))
        if snapshot_key not in points_by_snapshot:
            points_by_snapshot[snapshot_key] = _points_by_day(group, pivot.unparsed)
        for metric, value in points_by_snapshot[snapshot_key].get(day, ()):
            rows.append((peer, snapshot_key[0], day, metric, value, first["fetched_at"]))
    if rows:
        frame = pd.DataFrame(rows, columns=DAILY_COLUMNS)
        # Exact values: a column mixing ints and floats would otherwise become float64.
        frame["value"] = pd.Series([row[4] for row in rows], dtype=object)
        pivot.frame = frame
    covered = {(peer, day) for peer, _, day, *_ in rows}
    for peer, days in days_by_peer.items():
        missing = [d for d in days if (peer, d) not in covered]
        if missing:
            pivot.outside_window[peer] = missing
    return pivot


def _points_by_day(
    graphs: pd.DataFrame, unparsed: dict[str, str]
) -> dict[date, list[tuple[str, object]]]:
    by_day: dict[date, list[tuple[str, object]]] = defaultdict(list)
    for graph in graphs.itertuples(index=False):
        if graph.kind == "error" or graph.data is None or pd.isna(graph.data):
            continue
        try:
            parsed = parse_graph(graph.graph, graph.data)
        except GraphFormatError as exc:
            unparsed[graph.graph] = str(exc)
            continue
        for day, metric, value in daily_points(parsed):
            by_day[day].append((metric, value))
    return by_day
