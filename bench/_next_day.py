"""Serve "the next day" from a scenario folder: Telegram's window moves on by one day.

Every daily graph of every peer (x stepping by whole days) loses its first day and gains the
day after its last, whose values repeat the last day's plus a small growth; the ``revised``
days before the new one are recounted (each value + 1), as Telegram revises recent days.
A channel's daily revenue graphs (``revenue/<currency>/revenue_graph.json``) move the same
way. ``stats.json``'s period moves by one day. Other graphs (hours, weekdays, errors) stay as
they are. The folder is rewritten in place, so the offline Telegram serves the next day on
its next load (it reads the folder anew for every run).
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path

DAY_MS = 86_400_000
DAY_S = 86_400


def advance(folder: Path, revised: int = 2) -> None:
    """Move every peer of the scenario in ``folder`` on by one day (see the module)."""
    for stats_path in sorted(folder.glob("*/stats.json")):
        peer = stats_path.parent
        stats = json.loads(stats_path.read_text(encoding="utf-8"))
        period = stats.get("period")
        if isinstance(period, dict):
            for end in ("min_date", "max_date"):
                period[end] = int(period[end]) + DAY_S
            stats_path.write_text(json.dumps(stats), encoding="utf-8")
        revenue = (peer / "revenue").glob("*/revenue_graph.json")
        daily = [*(peer / "graphs").glob("*.json"), *revenue]
        for graph_path in sorted(daily):
            graph = json.loads(graph_path.read_text(encoding="utf-8"))
            if _advance_graph(graph, revised):
                graph_path.write_text(json.dumps(graph), encoding="utf-8")


def _advance_graph(graph: dict, revised: int) -> bool:
    """Move one graph payload on by a day; False when its x does not step by days."""
    columns = graph.get("columns")
    if not isinstance(columns, list) or not columns:
        return False
    x_column = next((c for c in columns if c and graph.get("types", {}).get(c[0]) == "x"), None)
    if x_column is None or len(x_column) < 3:
        return False
    xs = x_column[1:]
    if any(b - a != DAY_MS for a, b in pairwise(xs)):
        return False
    x_column[1:] = [*xs[1:], xs[-1] + DAY_MS]
    for column in columns:
        if column is x_column:
            continue
        values = column[1:]
        new = values[-1] + max(1, values[-1] // 100) if isinstance(values[-1], int) else values[-1]
        values = [*values[1:], new]
        for back in range(2, 2 + revised):
            if back <= len(values) and isinstance(values[-back], int):
                values[-back] += 1
        column[1:] = values
    return True
