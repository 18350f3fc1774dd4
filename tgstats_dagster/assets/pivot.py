"""One stored snapshot -> its ``channel_daily`` rows for the days asked for, each graph
parsed once."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date

import dagster as dg
import pandas as pd

from tgstats_dagster.runs import day_spans
from tgstats_dagster.telegram.graphs import GraphFormatError, daily_points, parse_graph
from tgstats_dagster.warehouse.snapshots import StoredSnapshot

CHANNEL_DAILY = dg.AssetKey("channel_daily")
DAILY_COLUMNS = ["peer_key", "channel_id", "day", "metric", "value", "fetched_at"]
#: The growth graph's first series is the audience: followers of a channel, members of a group.
AUDIENCE_GRAPH = "growth_graph"


@dataclass
class PeerPivot:
    """What one peer's snapshot gives for the requested days."""

    peer: str
    frame: pd.DataFrame
    rows_by_day: Counter[date] = field(default_factory=Counter)
    audience_by_day: dict[date, int | float] = field(default_factory=dict)
    outside_window: list[date] = field(default_factory=list)
    unparsed: dict[str, str] = field(default_factory=dict)  # graph -> the parser's message
    negative: list[str] = field(default_factory=list)  # "<day> <metric>=<value>"


def pivot_snapshot(peer: str, snapshot: StoredSnapshot, days: list[date]) -> PeerPivot:
    """Every daily series' value at each requested day, from ``snapshot``.

    A day the snapshot has no daily point for gets no rows and is listed in
    ``outside_window``; a graph that does not parse is skipped and listed in ``unparsed``
    while the others go on.
    """
    wanted = set(days)
    points: dict[date, list[tuple[str, int | float]]] = defaultdict(list)
    pivot = PeerPivot(peer=peer, frame=pd.DataFrame(columns=DAILY_COLUMNS))
    for graph in snapshot.graphs:
        if graph.data is None:
            continue
        try:
            parsed = parse_graph(graph.graph, graph.data)
        except GraphFormatError as exc:
            pivot.unparsed[graph.graph] = str(exc)
            continue
        audience = parsed.metric(parsed.series[0]) if graph.graph == AUDIENCE_GRAPH else None
        for day, metric, value in daily_points(parsed):
            if day in wanted:
                points[day].append((metric, value))
                if metric == audience:
                    pivot.audience_by_day[day] = value
    rows = [
        (peer, snapshot.channel_id, day, metric, value, snapshot.fetched_at)
        for day in sorted(points)
        for metric, value in points[day]
    ]
    if rows:
        frame = pd.DataFrame(rows, columns=DAILY_COLUMNS)
        # Exact values: a column mixing ints and floats would otherwise become float64.
        frame["value"] = pd.Series([row[4] for row in rows], dtype=object)
        pivot.frame = frame
    pivot.rows_by_day = Counter({day: len(values) for day, values in points.items()})
    pivot.outside_window = sorted(wanted - set(points))
    pivot.negative = [
        f"{day} {metric}={value}"
        for day in sorted(points)
        for metric, value in points[day]
        if value < 0
    ]
    return pivot


def day_ranges(days: list[date]) -> str:
    """[1, 2, 3, 5] as days -> '2026-01-01..2026-01-03, 2026-01-05'."""
    return ", ".join(a.isoformat() if a == b else f"{a}..{b}" for a, b in day_spans(days))


def partition_about(
    pivot: PeerPivot, day: date, audience: str, fetched_at: str
) -> dict[str, object]:
    """What a (peer, day) materialization of ``channel_daily`` says: that day's rows, the
    audience that day, the snapshot its rows come from, and whether it lies outside the
    window Telegram served."""
    about: dict[str, object] = {
        "dagster/partition_row_count": pivot.rows_by_day[day],
        "snapshot_fetched_at": fetched_at,
    }
    if day in pivot.audience_by_day:
        about[audience] = pivot.audience_by_day[day]
    if day in pivot.outside_window:
        about["outside_window"] = True
    return about
