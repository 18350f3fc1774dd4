"""The soak's content: a fleet with zooms, posts, stories and revenue, what a new day adds to
it, and the checks of the tables beyond the snapshots (bench/soak.py).

The fleet is bench/_refresh_scenario.py's, with content (scripts/synthetic_content.py): every
channel has hourly zooms of ``followers_graph`` for every day of the first window, POSTS
posts over it (about one a day), STORIES stories and Stars and TON revenue; every supergroup
has zooms of ``members_graph``.

On a new day (``new_day``, after bench/_next_day.py's ``advance``, which also moves the daily
revenue graphs on):

- each channel publishes one post that day, and one story every STORY_EVERY days, with
  their hourly graphs (from the publication to the end of the day) and two public forwards
  each; the posts and stories of earlier days keep their files and counters (a post is
  fetched again while younger than TGSTATS_POST_SETTLE_DAYS: the last week's are, each
  refresh);
- no zoom file is added: the new day's zoom answers ``NOT_ENOUGH_DATA`` (a day Telegram has
  no hourly detail for), so only the first window's days have hourly rows;
- the revenue balances stay as they are (each fetch stores them again).
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from _refresh_scenario import bench_peers
from refresh import query_or_none

from scripts import synthetic_content as content
from scripts.synthetic import SyntheticPeer
from tgstats_dagster.warehouse.tables import TABLES

POSTS = 10
STORIES = 2
STORY_EVERY = 3
ZOOM_GRAPHS = {True: ("followers_graph",), False: ("members_graph",)}
#: A channel's content requests beyond its snapshot's (LoadAsyncGraphRequest, which also
#: loads zooms and posts' graphs, is drawn apart: soak.py's ``telegram_fault``).
CHANNEL_CONTENT_REQUESTS = (
    "GetHistoryRequest",
    "GetMessageStatsRequest",
    "GetMessagePublicForwardsRequest",
    "GetStarsRevenueStatsRequest",
)
#: The tables of what Telegram served beyond the snapshots: their rows never go away.
CONTENT_TABLES = (
    "posts",
    "post_stats",
    "post_timeline",
    "post_forwards",
    "channel_hourly",
    "content_raw",
    "revenue_status",
)
CURRENCIES = ("stars", "ton")


def content_peers(count: int) -> tuple[SyntheticPeer, ...]:
    """bench_peers(count) with the content of the module's docstring."""
    return tuple(
        replace(
            peer,
            zoom_graphs=ZOOM_GRAPHS[peer.broadcast],
            posts=POSTS if peer.broadcast else 0,
            stories=STORIES if peer.broadcast else 0,
            revenue=peer.broadcast,
        )
        for peer in bench_peers(count)
    )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _published(item: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(item["date"].replace("Z", "+00:00"))


def new_day(folder: Path, peers: Iterable[SyntheticPeer], day: date, rng: random.Random) -> None:
    """What ``day`` adds to each channel's content (see the module): a post, maybe a story."""
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=timezone.utc)
    for peer in peers:
        if not (peer.broadcast and peer.posts):
            continue
        story = peer.stories and day.toordinal() % STORY_EVERY == 0
        for kind in ("posts", "stories") if story else ("posts",):
            path = folder / peer.key / kind / f"{kind}.json"
            items = json.loads(path.read_text(encoding="utf-8"))
            recent = [i["views"] for i in items[-5:]]
            views = round(sum(recent) / len(recent) * rng.uniform(0.8, 1.2))
            moment = datetime.combine(
                day, time(rng.randint(7, 20), rng.randint(0, 59)), tzinfo=timezone.utc
            )
            item: dict[str, Any] = {
                "id": max(i["id"] for i in items) + (rng.randint(1, 3) if kind == "posts" else 1),
                "date": _iso(moment),
                "views": views,
                "reactions": content._reactions(rng, round(views * 0.02), paid=False),
            }
            if kind == "posts":
                item |= {
                    "message": f"Soak post of {day}",
                    "forwards": round(views * 0.015),
                    "replies": rng.randint(0, 12),
                }
            else:
                item |= {"caption": f"Soak story of {day}", "forwards": 0}
            items.append(item)
            content._write_json(path, items)
            own = path.parent / str(item["id"])
            content._post_graphs(own, item, end, rng)
            forwards = content._forwards(rng, moment, end, 2, story_repost=kind == "stories")
            content._write_json(own / "public_forwards.json", forwards)


# ----- checks ------------------------------------------------------------------------------


def content_keys(url: str) -> dict[str, set[tuple]]:
    """The primary keys of every row of the content tables."""
    out: dict[str, set[tuple]] = {}
    for name in CONTENT_TABLES:
        keys = ", ".join(c.name for c in TABLES[name].primary_key.columns)
        out[name] = set(query_or_none(url, f"SELECT {keys} FROM {name}") or ())
    return out


def content_gone(before: dict[str, set[tuple]], now: dict[str, set[tuple]]) -> list[str]:
    """One finding per content table that lost rows since ``before``."""
    findings = []
    for name in CONTENT_TABLES:
        gone = before.get(name, set()) - now[name]
        if gone:
            findings.append(
                f"{name}: {len(gone)} row(s) gone since the last cycle, e.g. {sorted(gone)[:3]}"
            )
    return findings


def expected_posts(
    folder: Path, peer: SyntheticPeer, first: date, last: date
) -> dict[tuple[str, int], tuple]:
    """(kind, id) -> (published_at, views, forwards, replies, reactions, by emoji) of the
    posts and stories of ``peer``'s files published from ``first`` to ``last``."""
    out = {}
    for kind, name in (("message", "posts"), ("story", "stories")):
        path = folder / peer.key / name / f"{name}.json"
        if not path.exists():
            continue
        for item in json.loads(path.read_text(encoding="utf-8")):
            published = _published(item)
            if first <= published.date() <= last:
                reactions = item.get("reactions") or {}
                out[(kind, item["id"])] = (
                    published,
                    item.get("views"),
                    item.get("forwards"),
                    item.get("replies"),
                    sum(reactions.values()) if reactions else None,
                    reactions,
                )
    return out


def check_content_final(
    url: str, folder: Path, peers: Iterable[SyntheticPeer], first: date, last: date
) -> tuple[list[str], int]:
    """After the last clean cycle, for the days served (``first`` to ``last``): ``posts``
    holds every post and story with its counters, each with a complete ``post_stats`` row;
    ``channel_hourly`` holds the 24 hours of every day with a zoom file, for each zoomable
    graph; ``revenue_status`` has rows of both currencies for each monetized channel.
    (findings, rows missing or wrong, what was checked: posts, zoomed days)"""
    findings: list[str] = []
    lost = 0
    checked: Counter[str] = Counter()
    for peer in peers:
        channel = peer.channel_id
        wanted = expected_posts(folder, peer, first, last)
        checked["checked_posts"] += len(wanted)
        rows = query_or_none(
            url,
            "SELECT kind, post_id, published_at, views, forwards, replies, reactions, "
            "reactions_by_emoji FROM posts WHERE channel_id = %s",
            channel,
        )
        stored = {(k, i): (p, v, f, r, n, e or {}) for k, i, p, v, f, r, n, e in rows or ()}
        missing = sorted(set(wanted) - set(stored))
        wrong = sorted(k for k in set(wanted) & set(stored) if stored[k] != wanted[k])
        if missing or wrong:
            findings.append(
                f"posts of {peer.key}: {len(missing)} missing (e.g. {missing[:3]}), "
                f"{len(wrong)} wrong (e.g. {[(k, stored[k], wanted[k]) for k in wrong[:2]]})"
            )
            lost += len(missing) + len(wrong)
        stats = query_or_none(
            url, "SELECT kind, post_id, complete FROM post_stats WHERE channel_id = %s", channel
        )
        complete = {(k, i) for k, i, done in stats or () if done}
        incomplete = sorted(set(wanted) - complete)
        if incomplete:
            findings.append(
                f"post_stats of {peer.key}: {len(incomplete)} post(s) without complete "
                f"statistics, e.g. {incomplete[:5]}"
            )
            lost += len(incomplete)
        for field in peer.zoom_graphs:
            prefix = field.removesuffix("_graph") + "."
            days = sorted(
                day
                for p in (folder / peer.key / "graphs" / f"{field}.zoom").glob("*.json")
                if first <= (day := date.fromisoformat(p.stem)) <= last
            )
            hours = dict(
                query_or_none(
                    url,
                    "SELECT (hour AT TIME ZONE 'UTC')::date, count(DISTINCT hour) "
                    "FROM channel_hourly WHERE channel_id = %s AND left(metric, length(%s)) = %s "
                    "GROUP BY 1",
                    channel,
                    prefix,
                    prefix,
                )
                or ()
            )
            checked["checked_zoomed_days"] += len(days)
            short = [(d, hours.get(d, 0)) for d in days if hours.get(d, 0) != 24]
            if short:
                findings.append(
                    f"channel_hourly of {peer.key} {field}: {len(short)} of {len(days)} zoomed "
                    f"day(s) without their 24 hours, e.g. {short[:3]}"
                )
                lost += len(short)
        if peer.revenue:
            sql = "SELECT DISTINCT currency FROM revenue_status WHERE channel_id = %s"
            currencies = {c for (c,) in query_or_none(url, sql, channel) or ()}
            absent = [c for c in CURRENCIES if c not in currencies]
            if absent:
                findings.append(f"revenue_status of {peer.key}: no rows of {absent}")
                lost += len(absent)
            checked["checked_monetized"] += 1
    return findings, lost, checked


def revenue_differs(
    stored: dict[tuple[str, date, str], Decimal], model: dict[tuple[str, date, str], Decimal]
) -> int:
    """channel_daily's revenue_* rows missing or wrong (already counted among its rows)."""
    keys = {k for k in model if k[2].startswith("revenue_")}
    return sum(k not in stored or stored[k] != model[k] for k in keys)
