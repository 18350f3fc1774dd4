"""The synthetic content beyond a peer's stats: hourly zooms, posts, stories and revenue.

Part of scripts/synthetic.py's scenario folders (the same arguments give the same bytes),
in the scenario format of docs/scenario-format.md:

``graphs/<field>.zoom/<YYYY-MM-DD>.json``
    For every day of the window, the zoom of that daily graph as Telegram's chart contest
    shows one (``columns``, ``types``, ``names``, ``colors``, compact): the 7 days around the
    day, hourly (168 points), cut to the window's days. Each day's hours split that day's
    daily values, the same in every zoom that shows the day.
``posts/posts.json``, ``posts/<id>/``
    Posts spread over the window (ids growing with the date); the newest are the messages
    of ``recent_posts_interactions``, with its counters. The newest few have their hourly
    ``views_graph`` and ``reactions_by_emotion_graph`` and some public forwards.
``stories/stories.json``, ``stories/<id>/``
    The stories of ``recent_posts_interactions`` and one older; the newest with its graphs
    and forwards (one of them a story reposting it).
``revenue/stars.json``, ``revenue/ton.json`` and their ``revenue_graph`` (daily) and
``top_hours_graph``
    Stars (with a fraction) and TON (nanotons).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
#: Days a zoom shows on each side of its day (Telegram's: 7 days in all).
ZOOM_REACH = 3
#: Posts and stories with their own graphs and public forwards: the newest ones.
POSTS_WITH_STATS = 5
POST_GRAPH_HOURS = 48
REACTIONS = (
    ("👍", 0.45),
    ("❤", 0.25),
    ("🔥", 0.15),
    ("😂", 0.1),
    ("custom:5368324170671202286", 0.05),
)
REACTION_COLORS = (
    "YELLOW#FFCC00",
    "RED#FF2D55",
    "ORANGE#FF9500",
    "LIGHTBLUE#5AC8FA",
    "GRAY#8E8E93",
)
TOPICS = (
    "Weekly digest",
    "Release notes",
    "Behind the scenes",
    "Reader question",
    "Chart of the day",
    "Short announcement",
)
HOUR_FORMATTERS = {
    "xTickFormatter": "statsFormat('hour')",
    "xTooltipFormatter": "statsFormat('hour')",
    "yTooltipFormatter": "statsFormat('number')",
}


def hour_weights() -> list[float]:
    """Activity by hour of the day (UTC): low at night, a morning bump, an evening peak."""
    return [0.25 + math.exp(-((h - 18) ** 2) / 18) + 0.3 * (h in (8, 9)) for h in range(24)]


def _ms(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000


def _day_ms(day: date) -> int:
    return _ms(datetime.combine(day, time(0), tzinfo=timezone.utc))


def _write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))


def _write_graph(path: Path, doc: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(json.dumps(doc, ensure_ascii=True, separators=(",", ":")).encode("ascii"))


def _split(rng: random.Random, total: int, weights: Sequence[float]) -> list[int]:
    """``total`` in whole parts that add up to it, near the (jittered) weights."""
    jittered = [w * rng.uniform(0.7, 1.3) for w in weights]
    scale = total / sum(jittered)
    exact = [w * scale for w in jittered]
    parts = [math.floor(e) for e in exact]
    for i in sorted(range(len(exact)), key=lambda i: (parts[i] - exact[i], i))[
        : total - sum(parts)
    ]:
        parts[i] += 1
    return parts


# -- zooms ----------------------------------------------------------------------------------


def write_zooms(
    graphs: Path, field: str, doc: dict[str, Any], window: Sequence[date], rng: random.Random
) -> None:
    """graphs/<field>.zoom/<day>.json for every day of the window, from the daily ``doc``."""
    series = [column for column in doc["columns"] if column[0] != "x"]
    by_day = {day: i for i, day in enumerate(window)}
    weights = hour_weights()
    # Each day's hours once, so that every zoom showing a day shows the same hours.
    hourly = {
        column[0]: [_split(rng, int(value), weights) for value in column[1:]] for column in series
    }
    for day in window:
        shown = [
            d
            for d in (day + timedelta(days=k) for k in range(-ZOOM_REACH, ZOOM_REACH + 1))
            if d in by_day
        ]
        columns = [["x", *(_day_ms(d) + h * HOUR_MS for d in shown for h in range(24))]]
        for column in series:
            cid = column[0]
            columns.append([cid, *(v for d in shown for v in hourly[cid][by_day[d]])])
        zoom = {
            "columns": columns,
            "types": {**{c[0]: doc["types"][c[0]] for c in series}, "x": "x"},
            "names": {c[0]: doc["names"][c[0]] for c in series},
            "colors": {c[0]: doc["colors"][c[0]] for c in series},
        }
        _write_graph(graphs / f"{field}.zoom" / f"{day.isoformat()}.json", zoom)


# -- posts and stories ----------------------------------------------------------------------


def _reactions(rng: random.Random, total: int, paid: bool) -> dict[str, int]:
    parts = _split(rng, total, [w for _, w in REACTIONS])
    out = {key: count for (key, _), count in zip(REACTIONS, parts, strict=True) if count}
    if paid:
        out["paid"] = rng.randint(1, 25)
    return out


def _moments(rng: random.Random, window: Sequence[date], count: int) -> list[datetime]:
    """``count`` publication moments over the window, oldest first, the last on its last day
    (between 07:00 and 20:59 UTC, so a post's hourly graph has a few hours before the end)."""
    out = []
    for i in range(count):
        day = window[(i * (len(window) - 1)) // max(count - 1, 1)]
        start = datetime.combine(day, time(0), tzinfo=timezone.utc)
        out.append(start + timedelta(hours=rng.randint(7, 20), minutes=rng.randint(0, 59)))
    return sorted(out)


def _hourly_graph(
    start: datetime, end: datetime, series: Sequence[tuple[str, str, str, int]], rng: random.Random
) -> dict[str, Any]:
    """A post's hourly graph from its publication hour, at most 48 hours, cut at ``end``:
    each series' total spread over the hours, most of it in the first ones."""
    first = start.replace(minute=0, second=0, microsecond=0)
    hours = min(POST_GRAPH_HOURS, int((end - first).total_seconds() // 3600))
    weights = [math.exp(-h / 6) + 0.02 for h in range(hours)]
    ids = [f"y{i}" for i in range(len(series))]
    return {
        "columns": [
            ["x", *(_ms(first) + h * HOUR_MS for h in range(hours))],
            *(
                [cid, *_split(rng, total, weights)]
                for cid, (_, _, _, total) in zip(ids, series, strict=True)
            ),
        ],
        "types": {**{cid: s[1] for cid, s in zip(ids, series, strict=True)}, "x": "x"},
        "names": {cid: s[0] for cid, s in zip(ids, series, strict=True)},
        "colors": {cid: s[2] for cid, s in zip(ids, series, strict=True)},
        **HOUR_FORMATTERS,
    }


def _post_graphs(folder: Path, post: dict[str, Any], end: datetime, rng: random.Random) -> None:
    start = datetime.fromisoformat(post["date"].replace("Z", "+00:00"))
    views = [
        ("Views", "line", "BLUE#007AFF", post["views"]),
        ("Shares", "line", "ORANGE#FF9500", post.get("forwards", 0)),
    ]
    _write_graph(folder / "views_graph.json", _hourly_graph(start, end, views, rng))
    emoji = [(k, v) for k, v in post.get("reactions", {}).items() if not k.startswith("custom:")]
    emoji = [(k, v) for k, v in emoji if k != "paid"]
    if emoji:
        colors = dict(zip((k for k, _ in REACTIONS), REACTION_COLORS, strict=True))
        bars = [(k, "bar", colors[k], v) for k, v in emoji]
        doc = _hourly_graph(start, end, bars, rng)
        doc["stacked"] = True
        _write_graph(folder / "reactions_by_emotion_graph.json", doc)


def _forwards(
    rng: random.Random, published: datetime, end: datetime, count: int, story_repost: bool
) -> list[dict[str, Any]]:
    """Public forwards by other (synthetic) channels, newest first as Telegram lists them."""
    out = []
    latest = max((end - published).total_seconds() / 3600 - 1, 1)
    for i in range(count):
        channel = rng.randint(1, 40)
        moment = published + timedelta(hours=rng.uniform(0.5, latest))
        out.append(
            {
                "kind": "story" if story_repost and i == count - 1 else "message",
                "channel_id": 2_000_100_000 + channel,
                "title": f"Demo reader channel {channel}",
                "username": f"demo_reader_{channel}" if channel % 2 else None,
                "message_id": rng.randint(100, 9_000),
                "date": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "views": rng.randint(40, 2_500),
            }
        )
    return sorted(out, key=lambda f: f["date"], reverse=True)


def write_posts(
    folder: Path,
    recent: Sequence[dict[str, Any]],
    window: Sequence[date],
    count: int,
    stories: int,
    rng: random.Random,
) -> None:
    """posts/ and stories/ of a broadcast channel; ``recent`` is its
    ``recent_posts_interactions`` (newest first)."""
    end = datetime.combine(window[-1] + timedelta(days=1), time(0), tzinfo=timezone.utc)
    messages = [r for r in recent if r["_"] == "PostInteractionCountersMessage"][:count]
    mean_views = sum(m["views"] for m in messages) / max(len(messages), 1) or 500
    ids = [m["msg_id"] for m in messages][::-1]
    while len(ids) < count:
        ids.insert(0, (ids[0] if ids else 1_000) - rng.randint(1, 3))
    counters = [dict(m) for m in messages][::-1]
    while len(counters) < count:
        views = round(mean_views * rng.uniform(0.5, 1.1))
        counters.insert(
            0,
            {"views": views, "forwards": round(views * 0.015), "reactions": round(views * 0.02)},
        )
    posts = []
    for number, (post_id, moment, counter) in enumerate(
        zip(ids, _moments(rng, window, count), counters, strict=True)
    ):
        posts.append(
            {
                "id": post_id,
                "date": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "message": f"{TOPICS[number % len(TOPICS)]} #{number + 1} (demo post)",
                "views": counter["views"],
                "forwards": counter["forwards"],
                "replies": rng.randint(0, 12),
                "reactions": _reactions(rng, counter["reactions"], paid=number % 7 == 3),
            }
        )
    _write_json(folder / "posts" / "posts.json", posts)
    for index, post in enumerate(posts[-POSTS_WITH_STATS:][::-1]):
        post_dir = folder / "posts" / str(post["id"])
        _post_graphs(post_dir, post, end, rng)
        if index < 3:
            published = datetime.fromisoformat(post["date"].replace("Z", "+00:00"))
            _write_json(
                post_dir / "public_forwards.json",
                _forwards(rng, published, end, rng.randint(2, 4), story_repost=False),
            )
    if stories:
        _write_stories(folder, recent, window, stories, end, rng)


def _write_stories(
    folder: Path,
    recent: Sequence[dict[str, Any]],
    window: Sequence[date],
    count: int,
    end: datetime,
    rng: random.Random,
) -> None:
    known = [r for r in recent if r["_"] == "PostInteractionCountersStory"][:count][::-1]
    while len(known) < count:
        first = known[0]["story_id"] if known else 10
        views = rng.randint(200, 900)
        known.insert(
            0, {"story_id": first - 1, "views": views, "forwards": 0, "reactions": views // 40}
        )
    recent_days = window[-min(len(window), 21) :]
    items = []
    for story, moment in zip(known, _moments(rng, recent_days, count), strict=True):
        items.append(
            {
                "id": story["story_id"],
                "date": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "caption": f"Demo story {story['story_id']}",
                "views": story["views"],
                "forwards": story["forwards"],
                "reactions": _reactions(rng, story["reactions"], paid=False),
            }
        )
    _write_json(folder / "stories" / "stories.json", items)
    newest = items[-1]
    story_dir = folder / "stories" / str(newest["id"])
    _post_graphs(story_dir, newest, end, rng)
    published = datetime.fromisoformat(newest["date"].replace("Z", "+00:00"))
    _write_json(
        story_dir / "public_forwards.json", _forwards(rng, published, end, 2, story_repost=True)
    )


# -- revenue --------------------------------------------------------------------------------


def write_revenue(
    folder: Path, window: Sequence[date], top_hours: dict[str, Any], rng: random.Random
) -> None:
    """revenue/stars.json and revenue/ton.json with their daily revenue and top hours."""
    x = [_day_ms(day) for day in window]
    for currency, per_day, unit, usd_rate in (
        ("stars", 40.0, 1, 0.013),
        ("ton", 0.6, 1_000_000_000, 3.25),
    ):
        daily = [max(0, round(rng.gauss(per_day, per_day / 3) * unit)) for _ in window]
        earned = sum(daily)
        before = round(earned * rng.uniform(0.3, 0.6))
        available = round(earned * rng.uniform(0.4, 0.7))
        if currency == "stars":  # Stars may hold a fraction (StarsAmount.nanos)
            status = {
                "current_balance": available + 250.5,
                "available_balance": available,
                "overall_revenue": earned + before + 0.75,
                "withdrawal_enabled": True,
            }
        else:
            status = {
                "current_balance": available + 150_000_000,
                "available_balance": available,
                "overall_revenue": earned + before,
                "withdrawal_enabled": False,
            }
        _write_json(
            folder / "revenue" / f"{currency}.json", {"status": status, "usd_rate": usd_rate}
        )
        revenue = {
            "columns": [["x", *x], ["y0", *daily]],
            "types": {"y0": "bar", "x": "x"},
            "names": {"y0": "Revenue"},
            "colors": {"y0": "GREEN#3CC23F"},
            "hidden": [],
            "xTickFormatter": "statsFormat('day')",
            "xTooltipFormatter": "statsFormat('day')",
            "yTooltipFormatter": "statsFormat('number')",
        }
        _write_graph(folder / "revenue" / currency / "revenue_graph.json", revenue)
        _write_graph(folder / "revenue" / currency / "top_hours_graph.json", top_hours)
