"""``"end": "yesterday"``: a scenario's daily dates moved so its window ends yesterday (UTC).

Only whole days move, the same for every peer: ``period.min_date`` / ``max_date``, the x
values of the channel's graphs whose x steps by whole days, every time axis of zooms and
of posts' and stories' graphs (their days too), the dates of posts, stories and public
forwards, and the daily revenue graphs. Everything else is served as written
(docs/scenario-format.md, "Moving the window").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from itertools import pairwise
from typing import Any

from tgstats_dagster.telegram.replay.scenario import Scenario, ScenarioPeer, ScenarioPost

DAY_SECONDS = 86_400
DAY_MS = DAY_SECONDS * 1000
#: x values from here on are UNIX times in ms (after 1973), not indexes such as hours 0..23.
_MIN_TIME_MS = 100_000_000_000


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
    delta = timedelta(days=days)
    zooms = {
        field: {day + delta: _shift_times(text, days) for day, text in by_day.items()}
        for field, by_day in peer.zooms.items()
    }
    revenue = {
        currency: replace(
            r, graphs={field: _shift_graph(text, days) for field, text in r.graphs.items()}
        )
        for currency, r in peer.revenue.items()
    }
    return replace(
        peer,
        stats=stats,
        graphs=graphs,
        zooms=zooms,
        posts=tuple(_shift_post(post, days) for post in peer.posts),
        stories=tuple(_shift_post(story, days) for story in peer.stories),
        revenue=revenue,
    )


def _shift_post(post: ScenarioPost, days: int) -> ScenarioPost:
    delta = timedelta(days=days)
    return replace(
        post,
        date=post.date + delta,
        graphs={field: _shift_times(text, days) for field, text in post.graphs.items()},
        public_forwards=tuple(replace(f, date=f.date + delta) for f in post.public_forwards),
    )


def _shift_graph(text: str, days: int) -> str:
    """The payload with its daily x moved; any other payload exactly as written."""
    return _shift_x(text, days, lambda x: all(b > a and (b - a) % DAY_MS == 0 for a, b in x))


def _shift_times(text: str, days: int) -> str:
    """The payload with any time axis moved (hourly, 5-minute, daily); an index axis, or a
    payload that is not a graph, exactly as written."""
    return _shift_x(text, days, lambda x: x[0][0] >= _MIN_TIME_MS and all(b > a for a, b in x))


def _shift_x(text: str, days: int, movable: Callable[[list[tuple[int, int]]], bool]) -> str:
    """The payload with its x moved by whole days when ``movable`` accepts its neighbour
    pairs (a graph with at least 2 integer x values); otherwise exactly as written."""
    try:
        doc: Any = json.loads(text)
        x_id = next(c for c, kind in doc["types"].items() if kind == "x")
        column = next(c for c in doc["columns"] if c[0] == x_id)
    except (ValueError, TypeError, KeyError, AttributeError, StopIteration, IndexError):
        return text
    x = column[1:]
    if len(x) < 2 or not all(type(v) is int for v in x) or not movable(list(pairwise(x))):
        return text
    column[1:] = [v + days * DAY_MS for v in x]
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
