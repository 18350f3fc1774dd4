"""The hard cases of the content client, each through the production client over the offline
Telegram: history paging across days and pages, more than 100 forwards of a story,
STATS_MIGRATE on a story's stats, GRAPH_INVALID_RELOAD for a zoom sent to the wrong DC,
MESSAGE_ID_INVALID between a post's requests, a channel without revenue, post graphs that
are NOT_ENOUGH_DATA, and flood waits in the middle of a channel's posts.

Expected values are computed here from the scenario's own numbers, not from the client.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tgstats_dagster.telegram.content_models import NoRevenue
from tgstats_dagster.telegram.errors import FloodWaitTooLong, PostNotFound
from tgstats_dagster.telegram.replay import Fault
from tgstats_dagster.telegram.replay.telegram import innermost
from tgstats_dagster.telegram.zooms import uncovered, zoom_tokens
from tgstats_dagster_tests.telegram.scenarios import (
    POSTS_START,
    RecordingSleep,
    content_scenario,
    contest,
    entries,
    graph_json,
    make_forwards,
    make_posts,
    replay_session,
    write_peer,
    write_posts,
    write_scenario,
    write_zooms,
)

APRIL = [date(2018, 4, d) for d in range(1, 31)]
#: The ``paged`` channel: a post every 5 hours, so that days and pages of 100 never align.
PAGED_STEP = timedelta(hours=5)
PAGED_COUNT = 330


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return content_scenario(tmp_path / "scenario")


@pytest.fixture
def paged(tmp_path: Path) -> Path:
    """``paged`` (stats on DC 4): 330 posts, one every 5 hours from 2018-04-01 00:00 (a post
    at 00:00 every 5th day), posts 1..5 with graphs; story 1 with 150 public forwards (the
    last a story reposting it); no revenue."""
    root = write_scenario(tmp_path / "paged")
    folder = write_peer(root, "paged", channel_id=3001, stats_dc=4)
    graphs = {
        "views_graph": contest("overview_4.json"),
        "reactions_by_emotion_graph": graph_json("Reactions", {"y0": "👍"}),
    }
    write_posts(
        folder,
        make_posts(PAGED_COUNT, POSTS_START, PAGED_STEP),
        graphs={i: graphs for i in range(1, 6)},
        forwards={i: make_forwards(3, POSTS_START) for i in range(1, 6)},
    )
    story = {"id": 1, "date": POSTS_START.isoformat(), "caption": "s", "views": 9}
    forwards = [
        *make_forwards(149, POSTS_START),
        {**make_forwards(1, POSTS_START, kind="story")[0], "channel_id": 8000},
    ]
    write_posts(folder, [story], kind="stories", forwards={1: forwards})
    return root


def run(root: Path, work: Any, **session: Any) -> Any:
    """``await work(telegram, stats)`` on a StatsClient over the offline Telegram."""

    async def main():
        async with replay_session(root, **session) as (telegram, _client, stats):
            return telegram, await work(telegram, stats)

    return asyncio.run(main())


def asked(telegram, request: str) -> list[tuple[int, str]]:
    return [(e["dc"], e["outcome"]) for e in entries(telegram, request=request)]


def paged_ids(first: date, last: date) -> list[int]:
    """The ids of the ``paged`` posts published on ``first`` .. ``last`` (UTC)."""
    start = datetime(first.year, first.month, first.day, tzinfo=timezone.utc)
    end = datetime(last.year, last.month, last.day, tzinfo=timezone.utc) + timedelta(days=1)
    return [i + 1 for i in range(PAGED_COUNT) if start <= POSTS_START + i * PAGED_STEP < end]


# -- history paging across days and pages ----------------------------------------------------


@pytest.mark.parametrize(
    ("first", "last", "pages"),
    [
        # Starts on a post at 00:00 (04-06: post 25), ends before one (05-01: post 145).
        (date(2018, 4, 6), date(2018, 4, 30), 2),
        # Three pages; the first two end inside a day (05-18 17:00 | 22:00 ...).
        (date(2018, 4, 20), date(2018, 6, 30), 3),
        # Exactly 100 posts (93 .. 192): a second page only to see the post before them.
        (date(2018, 4, 20), date(2018, 5, 10), 2),
        # The whole history: 330 posts, the last page short.
        (date(2018, 3, 1), date(2018, 6, 30), 4),
        # One day starting with a post at 00:00 (05-01: posts 145 .. 149).
        (date(2018, 5, 1), date(2018, 5, 1), 1),
    ],
)
def test_history_pages_across_days_and_pages(
    paged: Path, first: date, last: date, pages: int
) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve("paged")
        telegram.entries.clear()
        counter: Counter[str] = Counter()
        return await stats.content.posts(peer, first, last, counter), counter

    telegram, (posts, counter) = run(paged, work)
    expected = paged_ids(first, last)
    assert [p.post_id for p in posts] == expected
    assert all(first <= p.published_at.date() <= last for p in posts)
    assert [p.published_at for p in posts] == [POSTS_START + (i - 1) * PAGED_STEP for i in expected]
    assert [p.text for p in posts] == [f"post {i} ✓" for i in expected]
    # Pages of 100 from the newest post before the end down to the one before the start.
    assert counter == {"GetHistoryRequest@dc2": pages}
    assert asked(telegram, "GetHistoryRequest") == [(2, "ok")] * pages


def fault_after(telegram, request: str, answered: int, fault: Fault) -> None:
    """``fault`` applies from the request after the first ``answered`` ones of that name."""
    original = telegram.answer
    seen = 0

    def answer(dc, wire_request):
        nonlocal seen
        if type(innermost(wire_request)).__name__ == request:
            if seen == answered:
                telegram.add_fault(fault)
            seen += 1
        return original(dc, wire_request)

    telegram.answer = answer


def test_a_flood_wait_on_the_second_history_page_is_slept(paged: Path) -> None:
    sleep = RecordingSleep()
    first, last = date(2018, 4, 6), date(2018, 5, 20)

    async def work(telegram, stats):
        peer = await stats.resolve("paged")
        telegram.entries.clear()
        fault_after(telegram, "GetHistoryRequest", 1, Fault("GetHistoryRequest", "FLOOD_WAIT_4"))
        return await stats.content.posts(peer, first, last)

    telegram, posts = run(paged, work, sleep=sleep)
    assert [p.post_id for p in posts] == paged_ids(first, last)
    assert len(posts) == 240 - 25 + 1  # 04-06 00:00 (post 25) .. 05-20 19:00 (post 240)
    assert sleep.calls == [4]
    assert asked(telegram, "GetHistoryRequest") == [
        (2, "ok"),
        (2, "FLOOD_WAIT_4"),
        (2, "ok"),
        (2, "ok"),
    ]


def test_a_long_flood_wait_on_a_later_history_page_is_raised(paged: Path) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve("paged")
        telegram.entries.clear()
        fault_after(telegram, "GetHistoryRequest", 1, Fault("GetHistoryRequest", "FLOOD_WAIT_3600"))
        with pytest.raises(FloodWaitTooLong) as raised:
            await stats.content.posts(peer, date(2018, 4, 1), date(2018, 6, 30))
        return raised.value

    telegram, exc = run(paged, work)
    assert exc.seconds == 3600 and exc.peer == "paged"
    assert exc.request_name == "GetHistoryRequest"
    assert asked(telegram, "GetHistoryRequest") == [(2, "ok"), (2, "FLOOD_WAIT_3600")]


# -- more than 100 forwards of a story; STATS_MIGRATE on a story's stats ----------------------


def test_a_storys_150_forwards_in_two_pages_after_stats_migrate(paged: Path) -> None:
    async def work(telegram, stats):
        peer = replace(await stats.resolve("paged"), stats_dc=None)  # stats DC not known
        telegram.entries.clear()
        counter: Counter[str] = Counter()
        return await stats.content.post_stats(peer, "story", 1, counter), counter

    telegram, (story, counter) = run(paged, work)
    assert story.complete
    assert [(g.kind, g.error) for g in story.graphs] == [("error", "NOT_ENOUGH_DATA")] * 2
    assert len(story.forwards) == 150
    keys = {(f.source_kind, f.source_channel_id, f.source_message_id) for f in story.forwards}
    assert len(keys) == 150
    assert ("story", 8000, 50) in keys  # the reposting story on the second page
    assert [f.source_channel_id for f in story.forwards[:149]] == [9000 + i for i in range(149)]
    assert asked(telegram, "GetStoryStatsRequest") == [(2, "STATS_MIGRATE_4"), (4, "ok")]
    assert asked(telegram, "GetStoryPublicForwardsRequest") == [(4, "ok"), (4, "ok")]
    assert counter == {
        "GetStoryStatsRequest@dc2": 1,
        "GetStoryStatsRequest@dc4": 1,
        "GetStoryPublicForwardsRequest@dc4": 2,
    }


def test_a_long_flood_wait_on_the_second_forwards_page_keeps_the_first(paged: Path) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve("paged")
        first = await stats.content.post_stats(peer, "story", 1)
        telegram.entries.clear()
        fault_after(
            telegram,
            "GetStoryPublicForwardsRequest",
            1,
            Fault("GetStoryPublicForwardsRequest", "FLOOD_WAIT_900"),
        )
        return first, await stats.content.post_stats(peer, "story", 1)

    telegram, (first, story) = run(paged, work)
    assert first.complete and len(first.forwards) == 150
    assert not story.complete and story.missing == ("public_forwards",)
    assert story.forwards == first.forwards[:100]  # the page read before the wait is kept
    assert asked(telegram, "GetStoryPublicForwardsRequest") == [(4, "ok"), (4, "FLOOD_WAIT_900")]


# -- GRAPH_INVALID_RELOAD for a zoom on the wrong DC ------------------------------------------


def test_a_zoom_sent_to_the_wrong_dc_is_missing_then_loads_once_the_dc_is_learnt(
    scenario: Path,
) -> None:
    """Zoom tokens kept from an earlier snapshot, the stats DC not known (ChannelFull gave
    none): the zoom goes to the home DC, Telegram answers GRAPH_INVALID_RELOAD. One request a
    graph, nothing lost silently (missing, uncovered); once a stats request learnt the DC
    (STATS_MIGRATE_4), the same tokens zoom on DC 4."""

    async def work(telegram, stats):
        known = await stats.resolve("news")
        tokens = zoom_tokens((await stats.fetch(known)).graphs)
        async with replay_session(scenario) as (later, _client, fresh):
            peer = replace(await fresh.resolve("news"), stats_dc=None)
            later.entries.clear()
            wrong = await fresh.content.zooms(peer, tokens, APRIL[:14])
            wrong_log = asked(later, "LoadAsyncGraphRequest")
            await fresh.fetch(peer)  # GetBroadcastStats: STATS_MIGRATE_4, learnt
            later.entries.clear()
            right = await fresh.content.zooms(peer, tokens, APRIL[:14])
            right_log = asked(later, "LoadAsyncGraphRequest")
        return tokens, wrong, wrong_log, right, right_log

    _, (tokens, wrong, wrong_log, right, right_log) = run(scenario, work)
    assert sorted(tokens) == ["followers_graph", "interactions_graph"]
    assert [(z.field, z.graph.kind, z.graph.error) for z in wrong] == [
        ("followers_graph", "missing", "GRAPH_INVALID_RELOAD"),
        ("interactions_graph", "missing", "GRAPH_INVALID_RELOAD"),
    ]
    assert wrong_log == [(2, "GRAPH_INVALID_RELOAD")] * 2  # one try a graph, no hammering
    assert uncovered(tokens, APRIL[:14], {}, wrong) == {f: tuple(APRIL[:14]) for f in tokens}
    assert [(z.field, z.day.day, z.graph.kind) for z in right] == [
        ("followers_graph", 4, "inline"),
        ("followers_graph", 11, "inline"),
        ("interactions_graph", 4, "error"),
        ("interactions_graph", 11, "inline"),
    ]
    assert right_log == [(4, "ok")] * 4
    assert "followers_graph" not in uncovered(tokens, APRIL[:14], {}, right)


# -- MESSAGE_ID_INVALID ------------------------------------------------------------------------


def test_a_post_deleted_between_its_stats_and_its_forwards(scenario: Path) -> None:
    """MESSAGE_ID_INVALID on the forwards after the stats answered: the post is named not
    found, and the channel's next post loads as if nothing happened."""

    async def work(telegram, stats):
        peer = await stats.resolve("news")
        telegram.entries.clear()
        telegram.add_fault(Fault("GetMessagePublicForwardsRequest", "MESSAGE_ID_INVALID"))
        with pytest.raises(PostNotFound) as raised:
            await stats.content.post_stats(peer, "message", 3)
        after = await stats.content.post_stats(peer, "message", 250)
        return raised.value, after

    telegram, (exc, after) = run(scenario, work)
    assert (exc.peer, exc.kind, exc.post_id) == ("news", "message", 3)
    assert "MESSAGE_ID_INVALID" in str(exc)
    assert after.complete and len(after.forwards) == 250
    assert (
        asked(telegram, "GetMessagePublicForwardsRequest")
        == [(4, "MESSAGE_ID_INVALID")] + [(4, "ok")] * 3
    )


def test_an_unknown_message_among_known_ones_costs_one_request(scenario: Path) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve("news")
        telegram.entries.clear()
        out = []
        for post_id in (2, 9999, 3):
            try:
                out.append(await stats.content.post_stats(peer, "message", post_id))
            except PostNotFound as exc:
                out.append(exc)
        return out

    telegram, (two, gone, three) = run(scenario, work)
    assert two.complete and three.complete
    assert isinstance(gone, PostNotFound) and gone.post_id == 9999
    assert asked(telegram, "GetMessageStatsRequest") == [
        (4, "ok"),
        (4, "MESSAGE_ID_INVALID"),
        (4, "ok"),
    ]
    assert len(asked(telegram, "GetMessagePublicForwardsRequest")) == 2  # none for 9999


# -- a channel without revenue ---------------------------------------------------------------


def test_a_channel_with_stats_rights_and_no_revenue_is_a_state(paged: Path) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve("paged")
        telegram.entries.clear()
        counter: Counter[str] = Counter()
        return await stats.content.revenue(peer, counter), counter

    telegram, (revenue, counter) = run(paged, work)
    assert isinstance(revenue, NoRevenue)
    assert "CHAT_ADMIN_REQUIRED" in revenue.reason and "not monetized" in revenue.reason
    assert counter == {"GetStarsRevenueStatsRequest@dc2": 2}  # Stars and TON, once each
    assert asked(telegram, "GetStarsRevenueStatsRequest") == [(2, "CHAT_ADMIN_REQUIRED")] * 2


# -- post graphs that are NOT_ENOUGH_DATA ------------------------------------------------------


def test_post_graphs_without_data_are_complete_errors_with_no_load(scenario: Path) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve("news")
        telegram.entries.clear()
        counter: Counter[str] = Counter()
        bare = await stats.content.post_stats(peer, "message", 1, counter)
        half = await stats.content.post_stats(peer, "message", 250)
        return bare, half, counter

    _, (bare, half, counter) = run(scenario, work)
    assert bare.complete and bare.forwards == ()
    assert [(g.field, g.kind, g.error, g.data) for g in bare.graphs] == [
        ("views_graph", "error", "NOT_ENOUGH_DATA", None),
        ("reactions_by_emotion_graph", "error", "NOT_ENOUGH_DATA", None),
    ]
    assert counter == {
        "GetMessageStatsRequest@dc4": 1,
        "GetMessagePublicForwardsRequest@dc4": 1,
    }  # nothing to load
    assert half.complete
    assert [g.kind for g in half.graphs] == ["async", "error"]


def test_a_zoom_without_data_is_kept_as_telegrams_error(tmp_path: Path) -> None:
    """The zoom of a day without a file is NOT_ENOUGH_DATA: kept as Telegram's answer (the
    day is settled, not asked again), the week around it not asked day by day."""
    root = write_scenario(tmp_path / "s")
    folder = write_peer(root, "sparse", channel_id=31, stats_dc=4)
    write_zooms(folder, "growth_graph", [date(2018, 4, 18)])

    async def work(telegram, stats):
        peer = await stats.resolve("sparse")
        tokens = zoom_tokens((await stats.fetch(peer)).graphs)
        telegram.entries.clear()
        return tokens, await stats.content.zooms(peer, tokens, APRIL[:21])

    telegram, (tokens, zooms) = run(root, work)
    assert [(z.day.day, z.graph.kind, z.graph.error) for z in zooms] == [
        (4, "error", "NOT_ENOUGH_DATA"),
        (11, "error", "NOT_ENOUGH_DATA"),
        (18, "inline", None),
    ]
    assert asked(telegram, "LoadAsyncGraphRequest") == [(4, "ok")] * 3
    left = uncovered(tokens, APRIL[:21], {}, zooms)
    assert left == {"growth_graph": tuple(d for d in APRIL[:14] if d.day not in (4, 11))}


# -- flood waits in the middle of a channel's posts --------------------------------------------


def test_a_short_flood_wait_in_the_middle_of_a_channels_posts_is_slept(paged: Path) -> None:
    sleep = RecordingSleep()

    async def work(telegram, stats):
        peer = await stats.resolve("paged")
        posts = await stats.content.posts(peer, date(2018, 4, 1), date(2018, 4, 1))
        telegram.entries.clear()
        out = []
        for post in posts:
            if post.post_id == 3:
                telegram.add_fault(Fault("GetMessageStatsRequest", "FLOOD_WAIT_7"))
                telegram.add_fault(Fault("LoadAsyncGraphRequest", "FLOOD_WAIT_2"))
            out.append(await stats.content.post_stats(peer, "message", post.post_id))
        return posts, out

    telegram, (posts, out) = run(paged, work, sleep=sleep)
    assert [p.post_id for p in posts] == [1, 2, 3, 4, 5]  # 00:00, 05:00, ... 20:00
    assert all(s.complete for s in out)
    assert [len(s.forwards) for s in out] == [3] * 5
    assert sleep.calls == [7, 2]
    stats_log = asked(telegram, "GetMessageStatsRequest")
    assert stats_log == [(4, "ok")] * 2 + [(4, "FLOOD_WAIT_7")] + [(4, "ok")] * 3
    assert len(asked(telegram, "LoadAsyncGraphRequest")) == 2 * 5 + 1


def test_a_long_flood_wait_in_the_middle_of_a_channels_posts_stops_there(paged: Path) -> None:
    """The posts fetched before the wait are whole; the wait is raised with its length (the
    caller keeps what it has and retries after it); nothing more is sent for that post."""

    async def work(telegram, stats):
        peer = await stats.resolve("paged")
        telegram.entries.clear()
        done, stopped = [], None
        for post_id in (1, 2, 3, 4, 5):
            if post_id == 3:
                telegram.add_fault(Fault("GetMessageStatsRequest", "FLOOD_WAIT_1800"))
            try:
                done.append(await stats.content.post_stats(peer, "message", post_id))
            except FloodWaitTooLong as exc:
                stopped = exc
                break
        return done, stopped

    telegram, (done, stopped) = run(paged, work)
    assert [s.post_id for s in done] == [1, 2] and all(s.complete for s in done)
    assert stopped is not None and stopped.seconds == 1800 and stopped.peer == "paged"
    assert stopped.request_name == "GetMessageStatsRequest"
    assert asked(telegram, "GetMessageStatsRequest") == [
        (4, "ok"),
        (4, "ok"),
        (4, "FLOOD_WAIT_1800"),
    ]
    assert len(asked(telegram, "GetMessagePublicForwardsRequest")) == 2
