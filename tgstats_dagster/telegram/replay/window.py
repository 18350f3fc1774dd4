"""``"end": "yesterday"``: a scenario's daily dates moved so its window ends yesterday (UTC).

Only whole days move, the same for every peer: ``period.min_date`` / ``max_date`` and the x
values of graphs whose x steps by whole days. Everything else is served as written
(docs/scenario-format.md, "Moving the window").
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

from tgstats_dagster.telegram.replay.scenario import Scenario, ScenarioPeer

DAY_SECONDS = 86_400
DAY_MS = DAY_SECONDS * 1000


def shift_days(scenario: Scenario, today: date) -> int:
    """Days to add so that the latest ``period.max_date`` of the scenario is ``today - 1``."""
    ends = [
        int(peer.stats["period"]["max_date"])
        for peer in scenario.peers
        if isinstance(peer.stats.get("period"), dict) and "max_date" in peer.stats["period"]
    ]
    if not ends:
        return 0
    last = datetime.fromtimestamp(max(ends), tz=timezone.utc).date()
    return (today - timedelta(days=1) - last).days


def end_yesterday(scenario: Scenario, today: date) -> Scenario:
    """The scenario with its daily dates moved so that its window ends yesterday."""
    days = shift_days(scenario, today)
    if days == 0:
        return scenario
    return replace(scenario, peers=tuple(_shift_peer(peer, days) for peer in scenario.peers))


def _shift_peer(peer: ScenarioPeer, days: int) -> ScenarioPeer:
    stats = dict(peer.stats)
    period = stats.get("period")
    if isinstance(period, dict):
        stats["period"] = {
            name: int(value) + days * DAY_SECONDS if name in ("min_date", "max_date") else value
            for name, value in period.items()
        }
    graphs = {field: _shift_graph(text, days) for field, text in peer.graphs.items()}
    return replace(peer, stats=stats, graphs=graphs)


def _shift_graph(text: str, days: int) -> str:
    """The payload with its daily x moved; any other payload exactly as written."""
    try:
        doc: Any = json.loads(text)
        x_id = next(c for c, kind in doc["types"].items() if kind == "x")
        column = next(c for c in doc["columns"] if c[0] == x_id)
    except (ValueError, TypeError, KeyError, AttributeError, StopIteration, IndexError):
        return text
    x = column[1:]
    if len(x) < 2 or not all(type(v) is int for v in x):
        return text
    if any(b <= a or (b - a) % DAY_MS for a, b in pairwise(x)):
        return text
    column[1:] = [v + days * DAY_MS for v in x]
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
