"""Every example query of docs/tables.md runs, on rows written here, and answers right."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pandas as pd
import psycopg
import pytest

from tgstats_dagster.warehouse.content import (
    ContentStore,
    HourlyPoint,
    forwards_frame,
    hourly_frame,
    posts_frame,
    revenue_frame,
)
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.migrations import ensure_schema
from tgstats_dagster.warehouse.server import libpq_url
from tgstats_dagster.warehouse.tables import TABLES
from tgstats_dagster.warehouse.upsert import write, write_transaction

pytestmark = pytest.mark.storage

DOC = Path(__file__).parents[2] / "docs" / "tables.md"
DEMO, OTHER = 1001, 1002
FETCH = datetime(2026, 4, 2, 8, tzinfo=timezone.utc)
LATER = FETCH + timedelta(days=1)


def _at(day: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=timezone.utc)


def _queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def _peers() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "channel_id": channel_id,
                "peer_key": username,
                "access_hash": 1,
                "title": username,
                "username": username,
                "kind": "broadcast",
                "can_view_stats": True,
                "stats_dc": 2,
                "participants_count": 10,
                "updated_at": FETCH,
            }
            for channel_id, username in ((DEMO, "tgstats_demo_channel"), (OTHER, "other"))
        ]
    )


def _post(kind: str, post_id: int, day: str, views: int | None, forwards: int | None) -> dict:
    return {
        "kind": kind,
        "post_id": post_id,
        "published_at": _at(day),
        "views": views,
        "forwards": forwards,
        "replies": 0,
        "reactions": 1,
        "reactions_by_emoji": {"👍": 1},
        "text": f"{kind} {post_id}",
        "fetched_at": FETCH,
    }


def _forward(
    kind: str,
    post_id: int,
    source: int,
    views: int | None,
    title: str,
    username: str | None,
    fetched_at: datetime = FETCH,
) -> dict:
    return {
        "kind": kind,
        "post_id": post_id,
        "source_kind": "message",
        "source_channel_id": source,
        "source_message_id": post_id * 10,
        "forwarded_at": _at("2026-03-20"),
        "views": views,
        "title": title,
        "username": username,
        "fetched_at": fetched_at,
    }


def _daily(rows: list[tuple[str, str, object]]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "channel_id": DEMO,
                "peer_key": "tgstats_demo_channel",
                "day": date.fromisoformat(day),
                "metric": metric,
                "value": value,
                "fetched_at": FETCH,
            }
            for day, metric, value in rows
        ],
        dtype=object,
    )


def _status(currency: str, current: object, available: object, overall: object) -> dict:
    return {
        "currency": currency,
        "current_balance": current,
        "available_balance": available,
        "overall_revenue": overall,
        "usd_rate": Decimal("0.013") if currency == "stars" else Decimal("3.2"),
        "withdrawal_enabled": True,
        "next_withdrawal_at": None,
    }


@pytest.fixture
def url(database_url: str) -> str:
    """A warehouse holding two channels' content; only the demo channel's is asked for."""
    ensure_schema(database_url)
    engine = make_engine(database_url)
    with write_transaction(engine) as connection:
        write(connection, "telegram_peers", _peers())
        write(
            connection,
            "channel_daily",
            _daily(
                [
                    ("2026-02-27", "revenue_stars.revenue", 5),
                    ("2026-03-01", "revenue_stars.revenue", 10),
                    ("2026-03-02", "revenue_stars.revenue", Decimal("2.5")),
                    ("2026-03-01", "revenue_ton.revenue", 10**9),
                    ("2026-03-01", "interactions.views", 777),
                ]
            ),
        )
    store = ContentStore(engine)
    posts = [
        _post("message", 1, "2026-03-03", 500, 10),
        _post("message", 2, "2026-03-10", 900, 2),
        _post("story", 1, "2026-03-12", 700, 30),
        _post("message", 3, "2026-02-27", 5000, 50),  # the month before
        _post("message", 4, "2026-03-20", None, None),
    ]
    forwards = [
        _forward("message", 1, 3001, 100, "Alpha", "alpha"),
        _forward("message", 2, 3001, 50, "Alpha", "alpha"),
        _forward("story", 1, 3002, 400, "Beta old", "beta_old"),
        _forward("message", 1, 3002, None, "Beta", None, LATER),
        _forward("message", 2, 3003, 9999, "Gamma", "gamma"),
    ]
    views = "interactions.views"
    hourly = [
        HourlyPoint(_at("2026-03-02", 14), views, 100, FETCH),  # Monday
        HourlyPoint(_at("2026-03-09", 14), views, 200, FETCH),  # Monday
        HourlyPoint(_at("2026-03-03", 9), views, 120, FETCH),  # Tuesday
        HourlyPoint(_at("2026-03-08", 23), views, 10, FETCH),  # Sunday
        HourlyPoint(_at("2026-03-04", 14), "interactions.shares", 99_999, FETCH),
    ]
    store.put(
        {
            "posts": posts_frame(DEMO, posts),
            "post_forwards": forwards_frame(DEMO, forwards),
            "channel_hourly": hourly_frame(DEMO, hourly),
        }
    )
    store.put(
        {
            "posts": posts_frame(OTHER, [_post("message", 1, "2026-03-05", 10**6, 10**6)]),
            "post_forwards": forwards_frame(OTHER, [_forward("message", 1, 3009, 1, "X", "x")]),
            "channel_hourly": hourly_frame(
                OTHER, [HourlyPoint(_at("2026-03-02"), views, 10**6, FETCH)]
            ),
        }
    )
    for channel_id, fetched_at, currencies in [
        (DEMO, _at("2026-02-20"), [_status("stars", 10, 5, 100)]),
        (DEMO, _at("2026-02-28"), [_status("stars", 20, 15, 150)]),
        (DEMO, _at("2026-03-15"), [_status("stars", 30, 25, 260)]),
        (DEMO, _at("2026-03-31", 23), [_status("ton", 2 * 10**9, 10**9, 5 * 10**9)]),
        (OTHER, _at("2026-03-15"), [_status("stars", 1, 1, 10**6)]),
    ]:
        store.put({"revenue_status": revenue_frame(channel_id, fetched_at, currencies)})
    return database_url


def _answer(url: str, query: str) -> list[tuple]:
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("SET TIME ZONE 'Asia/Tokyo'")  # the queries must not lean on the session's
        return conn.execute(query).fetchall()


def test_the_doc_lists_every_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `(\w+)` \|", text, re.MULTILINE))
    assert listed == set(TABLES)


def test_the_best_posts_of_the_month(url: str) -> None:
    rows = _answer(url, _queries()[0])
    assert [(r[0], r[1], r[3], r[4], r[6]) for r in rows] == [
        ("message", 2, 900, 2, 3),
        ("story", 1, 700, 30, 1),
        ("message", 1, 500, 10, 2),
        ("message", 4, None, None, 4),
    ]
    assert rows[0][7] == "message 2"


def test_the_channels_that_forwarded_the_posts_most(url: str) -> None:
    rows = _answer(url, _queries()[1])
    assert [r[:5] for r in rows] == [
        (3002, "Beta", 2, 2, 400),
        (3001, "@alpha", 2, 2, 150),
        (3003, "@gamma", 1, 1, 9999),
    ]
    assert rows[0][5] == _at("2026-03-20")


def test_the_busiest_hours_of_the_week(url: str) -> None:
    rows = _answer(url, _queries()[2])
    assert [(int(r[0]), r[1], int(r[2]), r[3], r[4]) for r in rows] == [
        (1, "Mon", 14, Decimal("150.0"), 2),
        (2, "Tue", 9, Decimal("120.0"), 1),
        (7, "Sun", 23, Decimal("10.0"), 1),
    ]


def test_revenue_by_month_from_the_daily_graphs(url: str) -> None:
    rows = _answer(url, _queries()[3])
    assert rows == [
        (date(2026, 2, 1), "revenue_stars.revenue", Decimal(5)),
        (date(2026, 3, 1), "revenue_stars.revenue", Decimal("12.5")),
        (date(2026, 3, 1), "revenue_ton.revenue", Decimal(10**9)),
    ]


def test_balances_at_each_months_last_fetch(url: str) -> None:
    rows = _answer(url, _queries()[4])
    assert [(r[0], r[1], r[2]) for r in rows] == [
        (date(2026, 2, 1), "stars", _at("2026-02-28")),
        (date(2026, 3, 1), "stars", _at("2026-03-15")),
        (date(2026, 3, 1), "ton", _at("2026-03-31", 23)),
    ]
    assert [tuple(map(Decimal, r[3:6])) for r in rows] == [
        (20, 15, 150),
        (30, 25, 260),
        (2, 1, 5),
    ]
    assert [r[6] for r in rows] == [None, Decimal(110), None]
    assert [r[7] for r in rows] == [Decimal("0.013"), Decimal("0.013"), Decimal("3.2")]


def test_every_query_of_the_doc_is_checked() -> None:
    assert len(_queries()) == 5
