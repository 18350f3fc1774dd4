"""The content tables: their write rules, the frame builders, and what is read back."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import psycopg
import pytest
import sqlalchemy as sa

from tgstats_dagster.telegram.content_models import CurrencyRevenue, Post, PostStats, PublicForward
from tgstats_dagster.telegram.models import RawGraph
from tgstats_dagster.warehouse.content import (
    ContentStore,
    HourlyPoint,
    RawPayload,
    TimelinePoint,
    forwards_frame,
    hourly_frame,
    is_settled,
    post_source,
    post_stats_frame,
    posts_frame,
    raw_frame,
    revenue_frame,
    revenue_source,
    timeline_frame,
    zoom_source,
)
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.errors import WarehouseDataError
from tgstats_dagster.warehouse.migrations import ensure_schema
from tgstats_dagster.warehouse.server import libpq_url
from tgstats_dagster.warehouse.snapshots import StoredGraph
from tgstats_dagster.warehouse.tables import TABLES
from tgstats_dagster.warehouse.upsert import RULES, WriteCounts
from tgstats_dagster_tests.warehouse.helpers import table_rows

pytestmark = pytest.mark.storage

CHANNEL = 1001
FETCH = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
LATER = FETCH + timedelta(hours=6)
DAY = date(2026, 3, 1)
SETTLE = timedelta(days=7)


def _hour(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


@pytest.fixture
def url(database_url: str) -> str:
    ensure_schema(database_url)
    return database_url


@pytest.fixture
def engine(url: str) -> sa.Engine:
    return make_engine(url)


@pytest.fixture
def store(engine: sa.Engine) -> ContentStore:
    return ContentStore(engine)


def _xmins(url: str, table: str) -> list[str]:
    with psycopg.connect(libpq_url(url)) as conn:
        return [r[0] for r in conn.execute(f"SELECT xmin::text FROM {table} ORDER BY 1")]


def _post(post_id: int, views: int | None, fetched_at: datetime = FETCH, **extra: object) -> dict:
    return {
        "kind": "message",
        "post_id": post_id,
        "published_at": _hour(DAY, 9) + timedelta(days=post_id),
        "views": views,
        "forwards": 3,
        "replies": None,
        "reactions": 5,
        "reactions_by_emoji": {"👍": 4, "🔥": 1},
        "text": f"post {post_id}",
        "fetched_at": fetched_at,
        **extra,
    }


def test_every_table_has_a_write_rule() -> None:
    assert set(RULES) == set(TABLES)
    assert RULES["content_raw"].once and RULES["revenue_status"].once
    for table in ("channel_hourly", "posts", "post_stats", "post_timeline", "post_forwards"):
        assert RULES[table].newer == "fetched_at" and not RULES[table].once


def test_hourly_points_are_inserted_kept_when_unchanged_and_the_newest_fetch_wins(
    url: str, store: ContentStore
) -> None:
    points = [
        HourlyPoint(_hour(DAY, h), metric, h * 10 + i, FETCH)
        for h in range(24)
        for i, metric in enumerate(("interactions.views", "interactions.shares"))
    ]
    assert store.put({"channel_hourly": hourly_frame(CHANNEL, points)}) == {
        "channel_hourly": WriteCounts(inserted=48)
    }
    before = _xmins(url, "channel_hourly")
    assert store.put({"channel_hourly": hourly_frame(CHANNEL, points)}) == {
        "channel_hourly": WriteCounts(unchanged=48)
    }
    assert _xmins(url, "channel_hourly") == before

    revised = [
        HourlyPoint(_hour(DAY, 5), "interactions.views", 999, LATER),
        HourlyPoint(_hour(DAY, 6), "interactions.views", 60, LATER),  # same value
        HourlyPoint(_hour(DAY, 7), "interactions.views", None, LATER),
    ]
    older = [HourlyPoint(_hour(DAY, 8), "interactions.views", -1, FETCH - timedelta(days=1))]
    counts = store.put({"channel_hourly": hourly_frame(CHANNEL, revised + older)})
    assert counts["channel_hourly"] == WriteCounts(updated=2, unchanged=2)
    rows = {(r[1].hour, r[2]): (r[3], r[4]) for r in table_rows(url, "channel_hourly", "2, 3")}
    assert rows[5, "interactions.views"] == (Decimal(999), LATER)
    assert rows[6, "interactions.views"] == (Decimal(60), FETCH)  # not rewritten
    assert rows[7, "interactions.views"] == (None, LATER)
    assert rows[8, "interactions.views"] == (Decimal(80), FETCH)  # an older fetch never wins


def test_overlapping_zooms_in_one_batch_keep_the_newest_point() -> None:
    hour = _hour(DAY, 3)
    frame = hourly_frame(
        CHANNEL,
        [
            HourlyPoint(hour, "growth.total_followers", 7, LATER),
            HourlyPoint(hour, "growth.total_followers", 5, FETCH),
            HourlyPoint(hour + timedelta(hours=1), "growth.total_followers", 2**60, FETCH),
        ],
    )
    assert frame["value"].tolist() == [7, 2**60]
    assert frame["fetched_at"].tolist() == [LATER, FETCH]


@pytest.mark.parametrize(
    ("hour", "problem"),
    [
        (datetime(2026, 3, 1, 3, 30, tzinfo=timezone.utc), "is not on the hour"),
        (datetime(2026, 3, 1, 3), "has no time zone"),
    ],
)
def test_hourly_points_must_be_aware_and_on_the_hour(hour: datetime, problem: str) -> None:
    with pytest.raises(WarehouseDataError, match=problem):
        hourly_frame(CHANNEL, [HourlyPoint(hour, "growth.total_followers", 1, FETCH)])


def test_posts_are_upserted_by_their_newest_counters(url: str, store: ContentStore) -> None:
    posts = [_post(1, 100), _post(2, None), _post(3, 2**62)]
    assert store.put({"posts": posts_frame(CHANNEL, posts)})["posts"] == WriteCounts(inserted=3)
    before = _xmins(url, "posts")
    # the same counters, the reactions listed in another order: nothing is rewritten
    same = [{**p, "reactions_by_emoji": {"🔥": 1, "👍": 4}, "extra": "ignored"} for p in posts]
    assert store.put({"posts": posts_frame(CHANNEL, same)})["posts"] == WriteCounts(unchanged=3)
    assert _xmins(url, "posts") == before

    newer = [_post(1, 150, LATER), _post(2, 7, LATER), _post(3, 1, FETCH - timedelta(hours=1))]
    assert store.put({"posts": posts_frame(CHANNEL, newer)})["posts"] == WriteCounts(
        updated=2, unchanged=1
    )
    rows = {r[2]: r for r in table_rows(url, "posts", "3")}
    assert (rows[1][4], rows[1][10]) == (150, LATER)
    assert (rows[2][4], rows[2][10]) == (7, LATER)
    assert rows[3][4] == 2**62  # the older fetch lost
    assert rows[1][8] == {"👍": 4, "🔥": 1}


def test_a_post_listed_twice_in_one_batch_keeps_its_newest_counters() -> None:
    frame = posts_frame(CHANNEL, [_post(1, 9, LATER), _post(1, 5, FETCH)])
    assert frame[["post_id", "views", "fetched_at"]].values.tolist() == [[1, 9, LATER]]


def test_text_postgresql_cannot_hold_is_refused_naming_the_post() -> None:
    with pytest.raises(WarehouseDataError, match=r"posts \(channel_id=1001, kind=message, "):
        posts_frame(CHANNEL, [_post(4, 1, text="a\x00b")])
    forward = _forward(1, 2001, 10, title="\udc80")
    with pytest.raises(WarehouseDataError, match="title holds a NUL or a lone surrogate"):
        forwards_frame(CHANNEL, [forward])


def test_a_record_without_a_column_is_refused_naming_it() -> None:
    post = _post(1, 1)
    del post["published_at"]
    with pytest.raises(WarehouseDataError, match="lacks published_at"):
        posts_frame(CHANNEL, [post])


def test_settled_means_fetched_complete_once_old_enough() -> None:
    published = _hour(DAY, 0)
    assert is_settled(True, published, published + SETTLE, SETTLE)
    assert not is_settled(True, published, published + SETTLE - timedelta(seconds=1), SETTLE)
    assert not is_settled(False, published + SETTLE * 2, published, SETTLE)


def _stats(post_id: int, fetched_at: datetime, missing: tuple[str, ...] = ()) -> dict:
    published = _hour(DAY, 9) + timedelta(days=post_id)
    return {
        "kind": "message",
        "post_id": post_id,
        "published_at": published,
        "fetched_at": fetched_at,
        "missing": missing,
    }


def test_post_stats_states_and_which_posts_still_need_their_statistics(
    url: str, store: ContentStore
) -> None:
    # posts 1..5 published on days 2..6 of March; a story published on day 2
    posts = [_post(i, 10 * i) for i in range(1, 6)]
    posts.append({**_post(1, 3), "kind": "story"})
    store.put({"posts": posts_frame(CHANNEL, posts)})
    at_day_9 = datetime(2026, 3, 9, 12, tzinfo=timezone.utc)
    stats = [
        _stats(1, at_day_9),  # 7 days and 3 hours old: settled
        _stats(2, at_day_9, ("views_graph",)),  # old enough but incomplete
        _stats(3, at_day_9),  # 5 days old: complete, not settled
    ]
    assert store.put({"post_stats": post_stats_frame(CHANNEL, stats, SETTLE)}) == {
        "post_stats": WriteCounts(inserted=3)
    }
    rows = {r[2]: r[3:6] for r in table_rows(url, "post_stats", "3")}
    assert rows == {1: (True, True, []), 2: (False, False, ["views_graph"]), 3: (True, False, [])}

    whole_month = (
        datetime(2026, 3, 1, tzinfo=timezone.utc),
        datetime(2026, 4, 1, tzinfo=timezone.utc),
    )
    needed = store.posts_needing_stats(CHANNEL, *whole_month)
    assert [(kind, post_id) for kind, post_id, _ in needed] == [
        ("story", 1),
        ("message", 2),
        ("message", 3),
        ("message", 4),
        ("message", 5),
    ]
    assert needed[0][2] == _hour(DAY, 9) + timedelta(days=1)
    # the published range bounds the answer: [day 3, day 5) holds posts 2 and 3
    some = store.posts_needing_stats(
        CHANNEL,
        datetime(2026, 3, 3, tzinfo=timezone.utc),
        datetime(2026, 3, 5, tzinfo=timezone.utc),
    )
    assert [post_id for _, post_id, _ in some] == [2, 3]

    # a later run: post 2 loads complete, post 3 is old enough now and settles
    at_day_12 = datetime(2026, 3, 12, 12, tzinfo=timezone.utc)
    counts = store.put(
        {
            "post_stats": post_stats_frame(
                CHANNEL, [_stats(2, at_day_12), _stats(3, at_day_12)], SETTLE
            )
        }
    )
    assert counts["post_stats"] == WriteCounts(updated=2)
    rows = {r[2]: r[3:7] for r in table_rows(url, "post_stats", "3")}
    assert rows[2] == (True, True, [], at_day_12)
    assert rows[3] == (True, True, [], at_day_12)
    still = store.posts_needing_stats(CHANNEL, *whole_month)
    assert [(kind, post_id) for kind, post_id, _ in still] == [
        ("story", 1),
        ("message", 4),
        ("message", 5),
    ]
    # the same states again: unchanged, the stored fetch time stays
    again = post_stats_frame(CHANNEL, [_stats(2, at_day_12 + timedelta(days=1))], SETTLE)
    assert store.put({"post_stats": again})["post_stats"] == WriteCounts(unchanged=1)


def _forward(post_id: int, source: int, views: int | None, **extra: object) -> dict:
    return {
        "kind": "message",
        "post_id": post_id,
        "source_kind": "message",
        "source_channel_id": source,
        "source_message_id": 77,
        "forwarded_at": _hour(DAY, 12),
        "views": views,
        "title": f"Channel {source}",
        "username": None,
        "fetched_at": FETCH,
        **extra,
    }


def test_a_posts_statistics_land_in_one_transaction_and_rewrite_only_what_changed(
    url: str, store: ContentStore
) -> None:
    graph = StoredGraph("views_graph", "inline", '{"columns": [["x", 1], ["y0", 2]]}', None, None)
    points = [
        TimelinePoint("message", 1, _hour(DAY, h), "views.views", h * 100, FETCH) for h in range(3)
    ]
    frames = {
        "content_raw": raw_frame(CHANNEL, [RawPayload(post_source("message", 1), FETCH, graph)]),
        "post_timeline": timeline_frame(CHANNEL, points),
        "post_forwards": forwards_frame(CHANNEL, [_forward(1, 2001, 10), _forward(1, 2002, None)]),
        "post_stats": post_stats_frame(CHANNEL, [_stats(1, FETCH)], SETTLE),
    }
    assert {t: c.inserted for t, c in store.put(frames).items()} == {
        "content_raw": 1,
        "post_timeline": 3,
        "post_forwards": 2,
        "post_stats": 1,
    }
    before = {t: _xmins(url, t) for t in frames}
    counts = store.put(frames)
    assert all(c == WriteCounts(unchanged=len(frames[t])) for t, c in counts.items())
    assert {t: _xmins(url, t) for t in frames} == before

    later_points = [TimelinePoint("message", 1, _hour(DAY, 1), "views.views", 150, LATER)]
    later_forwards = [_forward(1, 2002, 40, fetched_at=LATER, username="two")]
    counts = store.put(
        {
            "post_timeline": timeline_frame(CHANNEL, later_points),
            "post_forwards": forwards_frame(CHANNEL, later_forwards),
        }
    )
    assert counts == {
        "post_timeline": WriteCounts(updated=1),
        "post_forwards": WriteCounts(updated=1),
    }
    timeline = [(r[3].hour, r[5]) for r in table_rows(url, "post_timeline", "4")]
    assert timeline == [(0, 0), (1, 150), (2, 200)]
    forwards = [(r[3], r[7], r[9], r[10]) for r in table_rows(url, "post_forwards", "4")]
    assert forwards == [(2001, 10, None, FETCH), (2002, 40, "two", LATER)]


def test_a_failing_table_leaves_the_whole_fetch_unwritten(url: str, store: ContentStore) -> None:
    graph = StoredGraph("views_graph", "inline", "{}", None, None)
    payload = RawPayload(post_source("message", 1), FETCH, graph)
    frames = {
        "post_stats": post_stats_frame(CHANNEL, [_stats(1, FETCH)], SETTLE),
        "content_raw": raw_frame(CHANNEL, [payload, payload]),  # one key twice
    }
    with pytest.raises(WarehouseDataError, match="content_raw: the batch holds 2 rows"):
        store.put(frames)
    assert table_rows(url, "post_stats", "1") == []


PAYLOADS = {
    "nul_escape": '{"names": {"y0": "a\\u0000b"}}',
    "raw_nul": '{"names": {"y0": "a\x00b"}}',
    "lone_surrogate": '{"names": {"y0": "\udc80"}}',
    "plain": '{"names": {"y0": "Views"}}',
}


def test_raw_payloads_are_written_once_and_kept_byte_for_byte(
    url: str, store: ContentStore
) -> None:
    source = zoom_source(DAY)
    payloads = [
        RawPayload(source, FETCH, StoredGraph(f"{name}_graph", "inline", data, None, "tok"))
        for name, data in PAYLOADS.items()
    ]
    payloads.append(
        RawPayload(source, FETCH, StoredGraph("mute_graph", "error", None, "NOT_ENOUGH_DATA", None))
    )
    assert store.put({"content_raw": raw_frame(CHANNEL, payloads)})["content_raw"] == WriteCounts(
        inserted=5
    )
    stored = {r[2]: (r[5] is not None, r[6]) for r in table_rows(url, "content_raw", "3")}
    assert stored["plain_graph"] == (True, None)
    for name in ("nul_escape", "raw_nul", "lone_surrogate"):
        assert stored[f"{name}_graph"] == (False, PAYLOADS[name].encode("utf-8", "surrogatepass"))
    back = {p.graph.graph: p.graph for p in store.raw(CHANNEL, source)}
    for name, data in PAYLOADS.items():
        if name != "plain":
            assert back[f"{name}_graph"].data == data
    assert back["mute_graph"] == StoredGraph("mute_graph", "error", None, "NOT_ENOUGH_DATA", None)

    # the same key again, with another payload: written once, never overwritten
    changed = [
        p._replace(graph=StoredGraph(p.graph.graph, "inline", "[]", None, None)) for p in payloads
    ]
    assert store.put({"content_raw": raw_frame(CHANNEL, changed)})["content_raw"] == WriteCounts(
        unchanged=5
    )
    assert {p.graph.graph: p.graph for p in store.raw(CHANNEL, source)} == back


def test_revenue_is_one_row_set_per_fetch(url: str, store: ContentStore) -> None:
    stars = {
        "currency": "stars",
        "current_balance": Decimal("12.5"),
        "available_balance": Decimal("10.000000001"),
        "overall_revenue": Decimal(300),
        "usd_rate": Decimal("0.013"),
        "withdrawal_enabled": True,
        "next_withdrawal_at": None,
        "graphs": (),
    }
    ton = {**stars, "currency": "ton", "current_balance": 10**18, "usd_rate": None}
    graph = StoredGraph("revenue_graph", "inline", '{"columns": []}', None, None)
    frames = {
        "revenue_status": revenue_frame(CHANNEL, FETCH, [stars, ton]),
        "content_raw": raw_frame(CHANNEL, [RawPayload(revenue_source("stars"), FETCH, graph)]),
    }
    assert store.put(frames)["revenue_status"] == WriteCounts(inserted=2)
    assert store.put(frames)["revenue_status"] == WriteCounts(unchanged=2)
    later = revenue_frame(CHANNEL, LATER, [{**stars, "current_balance": 1}])
    assert store.put({"revenue_status": later})["revenue_status"] == WriteCounts(inserted=1)
    rows = [(r[1], r[2], r[3], r[4], r[6]) for r in table_rows(url, "revenue_status", "2, 3")]
    assert rows == [
        (FETCH, "stars", Decimal("12.5"), Decimal("10.000000001"), Decimal("0.013")),
        (FETCH, "ton", Decimal(10**18), Decimal("10.000000001"), None),
        (LATER, "stars", Decimal(1), Decimal("10.000000001"), Decimal("0.013")),
    ]


def test_zoom_days_kept_are_whole_days_fetched_after_they_ended(store: ContentStore) -> None:
    day_end = datetime(2026, 3, 4, tzinfo=timezone.utc)  # the end of March 3
    points = []
    # March 1 and 2: all 24 hours, fetched after both ended
    for offset in range(48):
        points.append(
            HourlyPoint(
                _hour(DAY, 0) + timedelta(hours=offset), "growth.total_followers", 1, day_end
            )
        )
    # March 3: all 24 hours, but fetched before it ended
    for hour in range(24):
        points.append(
            HourlyPoint(
                _hour(date(2026, 3, 3), hour),
                "growth.total_followers",
                1,
                day_end - timedelta(minutes=1),
            )
        )
    # March 4: 23 hours only
    for hour in range(23):
        points.append(
            HourlyPoint(_hour(date(2026, 3, 4), hour), "growth.total_followers", 1, LATER)
        )
    # March 5: all 24 hours, of another graph
    for hour in range(24):
        points.append(HourlyPoint(_hour(date(2026, 3, 5), hour), "followers.joined", 1, LATER))
    store.put({"channel_hourly": hourly_frame(CHANNEL, points)})
    answers = [
        # March 6: Telegram has no detail for it (an answer for good)
        RawPayload(
            zoom_source(date(2026, 3, 6)),
            LATER,
            StoredGraph("growth_graph", "error", None, "NOT_ENOUGH_DATA", None),
        ),
        # March 7: the zoom could not be loaded; March 8: zoomed before the day ended
        RawPayload(
            zoom_source(date(2026, 3, 7)),
            LATER,
            StoredGraph("growth_graph", "missing", None, "timeout", None),
        ),
        RawPayload(
            zoom_source(date(2026, 3, 8)),
            FETCH - timedelta(days=3),
            StoredGraph("growth_graph", "error", None, "NOT_ENOUGH_DATA", None),
        ),
        # March 9 on another graph
        RawPayload(
            zoom_source(date(2026, 3, 9)),
            LATER,
            StoredGraph("followers_graph", "error", None, "NOT_ENOUGH_DATA", None),
        ),
    ]
    store.put({"content_raw": raw_frame(CHANNEL, answers)})

    kept = store.zoom_days_kept(CHANNEL, "growth_graph", DAY, date(2026, 3, 31))
    assert kept == {DAY, date(2026, 3, 2), date(2026, 3, 6)}
    assert store.zoom_days_kept(CHANNEL, "growth_graph", date(2026, 3, 2), date(2026, 3, 5)) == {
        date(2026, 3, 2)
    }
    assert store.zoom_days_kept(CHANNEL, "followers_graph", DAY, date(2026, 3, 31)) == {
        date(2026, 3, 5),
        date(2026, 3, 9),
    }
    assert store.zoom_days_kept(CHANNEL + 1, "growth_graph", DAY, date(2026, 3, 31)) == set()


def test_the_telegram_sides_values_make_the_frames_through_asdict(
    url: str, store: ContentStore
) -> None:
    """The mappings the builders take are ``asdict`` of the content models, plus context."""
    post = Post(
        kind="message",
        post_id=9,
        published_at=_hour(DAY, 8),
        views=40,
        forwards=2,
        replies=1,
        reactions=3,
        reactions_by_emoji={"❤": 3},
        text="hello",
        fetched_at=FETCH,
    )
    forward = PublicForward("story", 2001, 5, _hour(DAY, 9), 12, "Other", "other")
    stats = PostStats(
        kind="message",
        post_id=9,
        graphs=(RawGraph("views_graph", "inline", '{"columns": []}', None),),
        forwards=(forward,),
        fetched_at=FETCH,
        missing=("reactions_by_emotion_graph",),
    )
    stars = CurrencyRevenue(
        "stars", Decimal("1.5"), Decimal(1), Decimal(2), None, False, _hour(DAY, 0), ()
    )
    context = {"kind": stats.kind, "post_id": stats.post_id, "fetched_at": stats.fetched_at}
    counts = store.put(
        {
            "posts": posts_frame(CHANNEL, [asdict(post)]),
            "post_forwards": forwards_frame(CHANNEL, [{**asdict(forward), **context}]),
            "post_stats": post_stats_frame(
                CHANNEL, [{**asdict(stats), "published_at": post.published_at}], SETTLE
            ),
            "revenue_status": revenue_frame(CHANNEL, FETCH, [asdict(stars)]),
        }
    )
    assert {table: c.inserted for table, c in counts.items()} == {
        "posts": 1,
        "post_forwards": 1,
        "post_stats": 1,
        "revenue_status": 1,
    }
    assert table_rows(url, "post_forwards", "1")[0][3:10] == (
        2001,
        5,
        "story",
        _hour(DAY, 9),
        12,
        "Other",
        "other",
    )
    assert table_rows(url, "post_stats", "1")[0][3:6] == (
        False,
        False,
        ["reactions_by_emotion_graph"],
    )
    assert table_rows(url, "revenue_status", "1")[0][7:] == (False, _hour(DAY, 0))


def test_changed_tells_which_rows_a_write_would_insert_or_rewrite(store: ContentStore) -> None:
    views = "interactions.views"
    stored = [HourlyPoint(_hour(DAY, h), views, h, FETCH) for h in range(3)]
    store.put({"channel_hourly": hourly_frame(CHANNEL, stored)})
    frame = hourly_frame(
        CHANNEL,
        [
            HourlyPoint(_hour(DAY, 0), views, 0, LATER),  # the same value
            HourlyPoint(_hour(DAY, 1), views, 10, LATER),  # revised
            HourlyPoint(_hour(DAY, 2), views, 20, FETCH - timedelta(hours=1)),  # an older fetch
            HourlyPoint(_hour(DAY, 3), views, None, LATER),  # new
        ],
    )
    changed = store.changed("channel_hourly", frame)
    assert changed.tolist() == [False, True, False, True]
    counts = store.put({"channel_hourly": frame})["channel_hourly"]
    assert counts.inserted + counts.updated == changed.sum() == 2
    assert not store.changed("channel_hourly", frame).any()

    posts = posts_frame(CHANNEL, [_post(1, 5)])
    store.put({"posts": posts})
    reordered = posts_frame(CHANNEL, [_post(1, 5, reactions_by_emoji={"🔥": 1, "👍": 4})])
    assert store.changed("posts", reordered).tolist() == [False]
    assert store.changed("posts", posts_frame(CHANNEL, [_post(1, 6, LATER)])).tolist() == [True]

    status = {
        "currency": "stars",
        "current_balance": 1,
        "available_balance": 1,
        "overall_revenue": 1,
        "usd_rate": None,
        "withdrawal_enabled": False,
        "next_withdrawal_at": None,
    }
    store.put({"revenue_status": revenue_frame(CHANNEL, FETCH, [status])})
    again = revenue_frame(CHANNEL, FETCH, [{**status, "current_balance": 2}])
    assert store.changed("revenue_status", again).tolist() == [False]  # written once
    assert store.changed("revenue_status", revenue_frame(CHANNEL, LATER, [status])).tolist() == [
        True
    ]
    assert store.changed("posts", posts.iloc[:0]).empty


def test_forwards_listed_twice_keep_the_newest_and_a_message_story_clash_is_refused() -> None:
    twice = [_forward(1, 2001, 10), _forward(1, 2001, 12, fetched_at=LATER)]
    assert forwards_frame(CHANNEL, twice)["views"].tolist() == [12]
    clash = [_forward(1, 2001, 10), _forward(1, 2001, 3, source_kind="story")]
    with pytest.raises(
        WarehouseDataError, match="a message and a story of channel 2001 with id 77"
    ):
        forwards_frame(CHANNEL, clash)


def test_nothing_fetched_writes_nothing(url: str, store: ContentStore) -> None:
    frames = {
        "content_raw": raw_frame(CHANNEL, []),
        "channel_hourly": hourly_frame(CHANNEL, []),
        "posts": posts_frame(CHANNEL, []),
        "post_stats": post_stats_frame(CHANNEL, [], SETTLE),
        "post_timeline": timeline_frame(CHANNEL, []),
        "post_forwards": forwards_frame(CHANNEL, []),
        "revenue_status": revenue_frame(CHANNEL, FETCH, []),
    }
    assert store.put(frames) == dict.fromkeys(frames, WriteCounts())
    assert all(not store.changed(table, frame).any() for table, frame in frames.items())
