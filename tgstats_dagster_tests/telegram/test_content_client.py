"""The production client beyond the channel's stats, against the offline Telegram: zooms,
posts and stories, their statistics and public forwards, revenue.

Each test checks what came back and what it cost: the requests, and the DC each went to,
as the offline Telegram logged them.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tgstats_dagster.settings import load_settings
from tgstats_dagster.telegram.connect import open_client
from tgstats_dagster.telegram.content_models import NoRevenue, RevenueStats
from tgstats_dagster.telegram.errors import (
    FloodWaitTooLong,
    NoStatsRights,
    PostNotFound,
)
from tgstats_dagster.telegram.graphs import parse_graph
from tgstats_dagster.telegram.replay import Fault
from tgstats_dagster.telegram.stats import StatsClient
from tgstats_dagster.telegram.zooms import uncovered, zoom_days, zoom_tokens
from tgstats_dagster_tests.telegram.scenarios import (
    POSTS_START,
    POSTS_STEP,
    RecordingSleep,
    content_scenario,
    contest,
    entries,
    replay_session,
    write_peer,
    write_scenario,
    zoom_payload,
)

APRIL = [date(2018, 4, d) for d in range(1, 31)]


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return content_scenario(tmp_path / "scenario")


def run(root: Path, work: Any, **session: Any) -> Any:
    """``await work(telegram, stats)`` on a StatsClient over the offline Telegram."""

    async def main():
        async with replay_session(root, **session) as (telegram, _client, stats):
            return telegram, await work(telegram, stats)

    return asyncio.run(main())


def asked(telegram, request: str) -> list[tuple[int, str]]:
    """(dc, outcome) of every request of that name the offline Telegram answered."""
    return [(e["dc"], e["outcome"]) for e in entries(telegram, request=request)]


async def snapshot_tokens(stats, key: str = "news"):
    peer = await stats.resolve(key)
    snapshot = await stats.fetch(peer)
    return peer, zoom_tokens(snapshot.graphs)


# -- zooms ---------------------------------------------------------------------------------


def test_zooms_cover_a_month_with_one_request_a_week(scenario: Path) -> None:
    async def work(telegram, stats):
        peer, tokens = await snapshot_tokens(stats)
        telegram.entries.clear()
        counter: Counter[str] = Counter()
        zooms = await stats.content.zooms(peer, tokens, APRIL, counter=counter)
        return tokens, zooms, counter

    telegram, (tokens, zooms, counter) = run(scenario, work)
    assert sorted(tokens) == ["followers_graph", "interactions_graph"]
    followers = [z for z in zooms if z.field == "followers_graph"]
    # The middle of each week asked: 04-04 covers 04-01..07, 04-11 covers 08..14, and so on.
    assert [z.day.day for z in followers] == [4, 11, 18, 25, 30]
    assert all(z.graph.kind == "inline" for z in followers)
    assert followers[1].graph.data == zoom_payload(date(2018, 4, 11))  # exactly as sent
    assert zoom_days("followers_graph", followers[0].graph.data) == frozenset(
        date(2018, 4, d) for d in range(1, 8)
    )
    assert all(z.fetched_at.tzinfo is not None for z in zooms)
    # interactions_graph has the zoom of 04-11 only: one request a week all the same.
    interactions = [z for z in zooms if z.field == "interactions_graph"]
    assert [(z.day.day, z.graph.kind) for z in interactions] == [
        (4, "error"),
        (11, "inline"),
        (18, "error"),
        (25, "error"),
        (30, "error"),
    ]
    assert interactions[0].graph.error == "NOT_ENOUGH_DATA"
    assert counter == {"LoadAsyncGraphRequest@dc4": 10}
    assert asked(telegram, "LoadAsyncGraphRequest") == [(4, "ok")] * 10
    left = uncovered(tokens, APRIL, {}, zooms)
    assert "followers_graph" not in left  # complete
    settled = {4, 18, 25, 30} | set(range(8, 15))
    assert left["interactions_graph"] == tuple(d for d in APRIL if d.day not in settled)


def test_days_already_kept_are_not_asked_again(scenario: Path) -> None:
    kept = {"followers_graph": set(APRIL[:14]), "interactions_graph": set(APRIL)}

    async def work(telegram, stats):
        peer, tokens = await snapshot_tokens(stats)
        telegram.entries.clear()
        return await stats.content.zooms(peer, tokens, APRIL, kept)

    telegram, zooms = run(scenario, work)
    assert [(z.field, z.day.day) for z in zooms] == [
        ("followers_graph", 18),
        ("followers_graph", 25),
        ("followers_graph", 30),
    ]
    assert len(asked(telegram, "LoadAsyncGraphRequest")) == 3


def test_sparse_days_ask_no_day_outside_the_range(scenario: Path) -> None:
    async def work(_telegram, stats):
        peer, tokens = await snapshot_tokens(stats)
        days = [date(2018, 4, 2), date(2018, 4, 20)]
        return await stats.content.zooms(peer, {"followers_graph": tokens["followers_graph"]}, days)

    _, zooms = run(scenario, work)
    assert [z.day.day for z in zooms] == [5, 20]


def test_a_zoom_shorter_than_a_week_is_completed_day_by_day(tmp_path: Path) -> None:
    """Zooms that cover only their own day: what the answers covered decides, not the rule."""
    root = write_scenario(tmp_path / "s")
    folder = write_peer(root, "daily", channel_id=21, stats_dc=2)
    zoom_dir = folder / "graphs" / "growth_graph.zoom"
    zoom_dir.mkdir()
    for day in APRIL[:3]:
        doc = json.loads(zoom_payload(day))
        # The 24 hours of that day only: points 72 .. 95 of the 7 days around it.
        doc["columns"] = [[c[0], *c[73:97]] for c in doc["columns"]]
        (zoom_dir / f"{day}.json").write_text(json.dumps(doc))

    async def work(telegram, stats):
        peer, tokens = await snapshot_tokens(stats, "daily")
        telegram.entries.clear()
        return await stats.content.zooms(peer, tokens, APRIL[:3])

    telegram, zooms = run(root, work)
    assert [z.day.day for z in zooms] == [3, 2, 1]
    assert [len(parse_graph(z.field, z.graph.data).x) for z in zooms] == [24, 24, 24]
    assert asked(telegram, "LoadAsyncGraphRequest") == [(2, "ok")] * 3  # stats DC = home


def test_a_day_kept_is_never_the_day_asked_again(tmp_path: Path) -> None:
    """A day Telegram answered NOT_ENOUGH_DATA is kept: the week around it is asked by
    another day, so no refresh pays for that day again."""
    root = write_scenario(tmp_path / "s")
    folder = write_peer(root, "sparse", channel_id=22, stats_dc=2)
    zoom_dir = folder / "graphs" / "growth_graph.zoom"
    zoom_dir.mkdir()
    for day in APRIL[:7]:
        if day != APRIL[3]:  # no detail for April 4: Telegram answers NOT_ENOUGH_DATA
            (zoom_dir / f"{day}.json").write_text(zoom_payload(day))

    async def work(telegram, stats):
        peer, tokens = await snapshot_tokens(stats, "sparse")
        telegram.entries.clear()
        kept = {"growth_graph": {APRIL[3]}}
        return await stats.content.zooms(peer, tokens, APRIL[:7], kept)

    telegram, zooms = run(root, work)
    assert APRIL[3] not in [z.day for z in zooms]
    assert [z.graph.kind for z in zooms] == ["inline"] * len(zooms)
    assert not uncovered(["growth_graph"], APRIL[:7], {"growth_graph": {APRIL[3]}}, zooms)
    assert len(asked(telegram, "LoadAsyncGraphRequest")) == len(zooms) <= 2


def test_a_short_flood_wait_on_a_zoom_is_slept_and_retried(scenario: Path) -> None:
    sleep = RecordingSleep()

    async def work(telegram, stats):
        peer, tokens = await snapshot_tokens(stats)
        telegram.add_fault(Fault("LoadAsyncGraphRequest", "FLOOD_WAIT_3", dc=4))
        return await stats.content.zooms(peer, tokens, APRIL[:7])

    _, zooms = run(scenario, work, sleep=sleep)
    assert sleep.calls == [3]
    assert [(z.field, z.graph.kind) for z in zooms] == [
        ("followers_graph", "inline"),
        ("interactions_graph", "error"),
    ]


def test_a_stale_zoom_token_ends_that_graphs_zooms_only(scenario: Path) -> None:
    async def work(telegram, stats):
        peer, tokens = await snapshot_tokens(stats)
        telegram.add_fault(Fault("LoadAsyncGraphRequest", "GRAPH_EXPIRED_RELOAD", dc=4))
        zooms = await stats.content.zooms(peer, tokens, APRIL[:14])
        return tokens, zooms

    _, (tokens, zooms) = run(scenario, work)
    first, *rest = zooms
    assert (first.field, first.graph.kind, first.graph.error) == (
        "followers_graph",
        "missing",
        "GRAPH_EXPIRED_RELOAD",
    )
    assert {z.field for z in rest} == {"interactions_graph"}
    assert uncovered(tokens, APRIL[:14], {}, zooms)["followers_graph"] == tuple(APRIL[:14])


def test_a_long_flood_wait_ends_all_zooms_and_says_what_is_left(scenario: Path) -> None:
    async def work(telegram, stats):
        peer, tokens = await snapshot_tokens(stats)
        telegram.entries.clear()
        zooms = await stats.content.zooms(peer, tokens, APRIL[:7])
        telegram.add_fault(Fault("LoadAsyncGraphRequest", "FLOOD_WAIT_3600"))
        more = await stats.content.zooms(peer, tokens, APRIL[7:21])
        return tokens, zooms, more

    telegram, (tokens, zooms, more) = run(scenario, work)
    assert [z.graph.kind for z in zooms] == ["inline", "error"]
    (stopped,) = more  # nothing asked after Telegram said to wait
    assert stopped.graph.kind == "missing" and stopped.graph.error.startswith("FLOOD_WAIT_3600")
    left = uncovered(tokens, APRIL[7:21], {}, more)
    assert left == {f: tuple(APRIL[7:21]) for f in tokens}
    assert len(asked(telegram, "LoadAsyncGraphRequest")) == 3


# -- posts and stories ---------------------------------------------------------------------


def test_posts_of_a_day_range_in_one_page(scenario: Path) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve("news")
        telegram.entries.clear()
        counter: Counter[str] = Counter()
        posts = await stats.content.posts(peer, date(2018, 4, 2), date(2018, 4, 10), counter)
        return posts, counter

    telegram, (posts, counter) = run(scenario, work)
    # Four posts a day from 04-01 00:00: April 2nd .. 10th are posts 5 .. 40.
    assert [p.post_id for p in posts] == list(range(5, 41))
    four = next(p for p in posts if p.post_id == 8)
    assert four.kind == "message"
    assert four.published_at == POSTS_START + 7 * POSTS_STEP
    assert (four.views, four.forwards, four.replies) == (107, 2, 1)
    assert four.reactions == 1 and four.reactions_by_emoji == {"👍": 0, "❤": 1}
    assert four.text == "post 8 ✓"
    nine = next(p for p in posts if p.post_id == 9)
    assert nine.reactions is None and nine.reactions_by_emoji == {}
    assert counter == {"GetHistoryRequest@dc2": 1}
    assert asked(telegram, "GetHistoryRequest") == [(2, "ok")]


def test_post_reactions_are_counted_by_emoji(scenario: Path) -> None:
    async def work(_telegram, stats):
        peer = await stats.resolve("news")
        return await stats.content.posts(peer, date(2018, 4, 1), date(2018, 4, 1))

    _, posts = run(scenario, work)
    by_id = {p.post_id: p for p in posts}
    assert sorted(by_id) == [1, 2, 3, 4]
    # make_posts: post i+1 has {"👍": i % 7, "❤": 1} when i is odd.
    assert by_id[2].reactions_by_emoji == {"👍": 1, "❤": 1} and by_id[2].reactions == 2
    assert by_id[4].reactions_by_emoji == {"👍": 3, "❤": 1} and by_id[4].reactions == 4


def test_posts_page_through_the_whole_history(scenario: Path) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve("news")
        telegram.entries.clear()
        return await stats.content.posts(peer, date(2018, 3, 1), date(2018, 6, 30))

    telegram, posts = run(scenario, work)
    assert [p.post_id for p in posts] == list(range(1, 251))
    assert asked(telegram, "GetHistoryRequest") == [(2, "ok")] * 3  # 100 + 100 + 50


def test_posts_stop_at_the_first_post_before_the_range(scenario: Path) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve("news")
        telegram.entries.clear()
        return await stats.content.posts(peer, date(2018, 4, 20), date(2018, 4, 25))

    telegram, posts = run(scenario, work)
    assert [p.post_id for p in posts] == list(range(77, 101))
    assert len(asked(telegram, "GetHistoryRequest")) == 1  # a full page reaching before 04-20


def test_stories_archive(scenario: Path) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve("news")
        telegram.entries.clear()
        every = await stats.content.stories(peer)
        some = await stats.content.stories(peer, date(2018, 4, 3), date(2018, 4, 4))
        return every, some

    telegram, (every, some) = run(scenario, work)
    assert [s.post_id for s in every] == [1, 2, 3]
    three = every[2]
    assert (three.kind, three.text, three.views, three.forwards) == ("story", "story 3", 43, 3)
    assert three.reactions == 3 and three.reactions_by_emoji == {"🔥": 3}
    assert three.replies is None
    assert [s.post_id for s in some] == [2, 3]
    assert asked(telegram, "GetStoriesArchiveRequest") == [(2, "ok")] * 2


# -- post and story statistics -------------------------------------------------------------


def test_post_stats_load_graphs_and_forwards_on_the_stats_dc(scenario: Path) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve("news")
        telegram.entries.clear()
        counter: Counter[str] = Counter()
        three = await stats.content.post_stats(peer, "message", 3, counter)
        last = await stats.content.post_stats(peer, "message", 250)
        return three, last, counter

    telegram, (three, last, counter) = run(scenario, work)
    assert three.complete and three.kind == "message" and three.post_id == 3
    views, reactions = three.graphs
    assert (views.field, views.kind, views.data) == (
        "views_graph",
        "async",
        contest("overview_4.json"),
    )
    assert reactions.field == "reactions_by_emotion_graph" and reactions.kind == "async"
    assert three.forwards == ()
    assert counter == {
        "GetMessageStatsRequest@dc4": 1,
        "LoadAsyncGraphRequest@dc4": 2,
        "GetMessagePublicForwardsRequest@dc4": 1,
    }
    assert last.complete
    assert [(g.kind, g.error) for g in last.graphs] == [
        ("async", None),
        ("error", "NOT_ENOUGH_DATA_YET"),
    ]
    assert len(last.forwards) == 250
    assert len({(f.source_channel_id, f.source_message_id) for f in last.forwards}) == 250
    first, second = last.forwards[:2]
    assert (first.source_kind, first.source_channel_id, first.source_message_id) == (
        "message",
        9000,
        50,
    )
    assert first.forwarded_at == POSTS_START + 250 * POSTS_STEP
    assert (first.views, first.title, first.username) == (None, "Forwarder 0", None)
    assert (second.views, second.username) == (10, "fwd1")
    forwards_pages = asked(telegram, "GetMessagePublicForwardsRequest")
    assert forwards_pages == [(4, "ok")] * 4  # one for post 3, three for post 250
    assert {dc for dc, _ in asked(telegram, "LoadAsyncGraphRequest")} == {4}


def test_story_stats_and_reposting_stories(scenario: Path) -> None:
    async def work(_telegram, stats):
        peer = await stats.resolve("news")
        counter: Counter[str] = Counter()
        return await stats.content.post_stats(peer, "story", 2, counter), counter

    _, (story, counter) = run(scenario, work)
    assert story.complete and story.kind == "story"
    assert [g.kind for g in story.graphs] == ["async", "async"]
    assert [f.source_kind for f in story.forwards] == ["message", "message", "story"]
    repost = story.forwards[2]
    assert (repost.source_channel_id, repost.source_message_id, repost.title) == (
        9000,
        50,
        "Forwarder 0",
    )
    assert counter == {
        "GetStoryStatsRequest@dc4": 1,
        "LoadAsyncGraphRequest@dc4": 2,
        "GetStoryPublicForwardsRequest@dc4": 1,
    }


def test_an_unknown_stats_dc_is_learnt_once_for_every_post(scenario: Path) -> None:
    async def work(telegram, stats):
        peer = replace(await stats.resolve("news"), stats_dc=None)
        telegram.entries.clear()
        first = await stats.content.post_stats(peer, "message", 3)
        second = await stats.content.post_stats(peer, "message", 250)
        return first, second, await stats.resolve("news")

    telegram, (first, second, again) = run(scenario, work)
    assert first.complete and second.complete
    assert asked(telegram, "GetMessageStatsRequest") == [
        (2, "STATS_MIGRATE_4"),
        (4, "ok"),
        (4, "ok"),
    ]
    assert {dc for dc, _ in asked(telegram, "LoadAsyncGraphRequest")} == {4}
    assert {dc for dc, _ in asked(telegram, "GetMessagePublicForwardsRequest")} == {4}
    assert again.stats_dc == 4


def test_a_stale_post_graph_token_refetches_that_posts_stats_once(scenario: Path) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve("news")
        telegram.entries.clear()
        telegram.add_fault(Fault("LoadAsyncGraphRequest", "GRAPH_EXPIRED_RELOAD"))
        return await stats.content.post_stats(peer, "message", 3)

    telegram, post = run(scenario, work)
    assert post.complete and [g.kind for g in post.graphs] == ["async", "async"]
    assert asked(telegram, "GetMessageStatsRequest") == [(4, "ok"), (4, "ok")]
    assert [o for _, o in asked(telegram, "LoadAsyncGraphRequest")] == [
        "GRAPH_EXPIRED_RELOAD",
        "ok",
        "ok",
    ]


def test_forwards_that_keep_failing_make_the_post_incomplete(scenario: Path) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve("news")
        telegram.add_fault(Fault("GetMessagePublicForwardsRequest", "CHP_CALL_FAIL", times=2))
        return await stats.content.post_stats(peer, "message", 250)

    telegram, post = run(scenario, work, retries=1)
    assert not post.complete and post.missing == ("public_forwards",)
    assert post.forwards == ()
    assert [g.kind for g in post.graphs] == ["async", "error"]  # the graphs still loaded
    assert asked(telegram, "GetMessagePublicForwardsRequest") == [(4, "CHP_CALL_FAIL")] * 2


def test_a_graph_that_keeps_failing_is_named_missing(scenario: Path) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve("news")
        telegram.add_fault(Fault("LoadAsyncGraphRequest", "CHP_CALL_FAIL", times=2))
        return await stats.content.post_stats(peer, "message", 3)

    _, post = run(scenario, work, retries=1)
    assert post.missing == ("views_graph",)
    views = post.graphs[0]
    assert (views.kind, views.error, views.data) == ("missing", "CHP_CALL_FAIL", None)
    assert post.graphs[1].kind == "async"


@pytest.mark.parametrize(
    ("key", "kind", "post_id", "error"),
    [
        ("news", "message", 999, PostNotFound),
        ("news", "story", 9, PostNotFound),
        ("norights", "message", 1, NoStatsRights),
    ],
)
def test_post_stats_refusals_are_raised(scenario: Path, key, kind, post_id, error) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve(key)
        telegram.entries.clear()
        with pytest.raises(error) as raised:
            await stats.content.post_stats(peer, kind, post_id)
        return raised.value

    telegram, exc = run(scenario, work)
    assert key in str(exc)
    assert len([e for e in telegram.entries if e["request"].endswith("StatsRequest")]) == 1
    assert not entries(telegram, request="GetMessagePublicForwardsRequest")


def test_a_long_flood_wait_on_post_stats_is_raised(scenario: Path) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve("news")
        telegram.add_fault(Fault("GetMessageStatsRequest", "FLOOD_WAIT_600"))
        with pytest.raises(FloodWaitTooLong) as raised:
            await stats.content.post_stats(peer, "message", 3)
        return raised.value

    _, exc = run(scenario, work)
    assert exc.seconds == 600 and exc.peer == "news"


# -- revenue ---------------------------------------------------------------------------------


def test_revenue_in_stars_and_ton(scenario: Path) -> None:
    async def work(telegram, stats):
        peer = await stats.resolve("news")
        telegram.entries.clear()
        counter: Counter[str] = Counter()
        return await stats.content.revenue(peer, counter), counter

    telegram, (revenue, counter) = run(scenario, work)
    assert isinstance(revenue, RevenueStats) and revenue.fetched_at.tzinfo is not None
    stars, ton = revenue.currencies
    assert stars.currency == "stars"
    assert stars.current_balance == Decimal("1234.5")
    assert stars.available_balance == Decimal(1000)
    assert stars.overall_revenue == Decimal("5000.25")
    assert stars.usd_rate == Decimal("0.013") and stars.withdrawal_enabled is True
    assert stars.next_withdrawal_at is not None
    assert stars.next_withdrawal_at.isoformat() == "2026-01-01T00:00:00+00:00"
    assert [(g.field, g.kind) for g in stars.graphs] == [
        ("revenue_graph", "inline"),
        ("top_hours_graph", "inline"),
    ]
    assert stars.graphs[0].data == contest("overview_4.json")
    assert ton.currency == "ton" and ton.current_balance == Decimal(2_500_000_000)
    assert ton.withdrawal_enabled is False and ton.next_withdrawal_at is None
    assert [g.field for g in ton.graphs] == ["revenue_graph"]
    assert counter == {"GetStarsRevenueStatsRequest@dc2": 2}
    assert asked(telegram, "GetStarsRevenueStatsRequest") == [(2, "ok"), (2, "ok")]


def test_revenue_refused_is_a_state(scenario: Path) -> None:
    async def work(_telegram, stats):
        local = await stats.content.revenue(await stats.resolve("local"))
        none = await stats.content.revenue(await stats.resolve("norights"))
        return local, none

    telegram, (local, none) = run(scenario, work)
    assert isinstance(local, RevenueStats)
    assert [c.currency for c in local.currencies] == ["stars"]  # TON refused: left out
    assert isinstance(none, NoRevenue) and "CHAT_ADMIN_REQUIRED" in none.reason
    assert [o for _, o in asked(telegram, "GetStarsRevenueStatsRequest")] == [
        "ok",
        "CHAT_ADMIN_REQUIRED",
        "CHAT_ADMIN_REQUIRED",
        "CHAT_ADMIN_REQUIRED",
    ]


def test_a_short_flood_wait_on_revenue_is_slept(scenario: Path) -> None:
    sleep = RecordingSleep()

    async def work(telegram, stats):
        peer = await stats.resolve("news")
        telegram.add_fault(Fault("GetStarsRevenueStatsRequest", "FLOOD_WAIT_2"))
        return await stats.content.revenue(peer)

    _, revenue = run(scenario, work, sleep=sleep)
    assert sleep.calls == [2]
    assert [c.currency for c in revenue.currencies] == ["stars", "ton"]


def test_requests_reach_the_shared_count(scenario: Path) -> None:
    async def work(_telegram, stats):
        peer = await stats.resolve("news")
        await stats.content.posts(peer, date(2018, 4, 1), date(2018, 4, 1))
        return dict(stats.requests), dict(stats.content.requests)

    _, (through_stats, through_content) = run(scenario, work)
    assert through_stats == through_content
    assert through_stats["GetHistoryRequest@dc2"] == 1


def test_no_day_before_the_range_is_returned(scenario: Path) -> None:
    async def work(_telegram, stats):
        peer = await stats.resolve("news")
        return await stats.content.posts(peer, date(2018, 4, 3), date(2018, 4, 3))

    _, posts = run(scenario, work)
    assert {p.published_at.date() for p in posts} == {date(2018, 4, 3)}
    assert [p.post_id for p in posts] == [9, 10, 11, 12]


def test_a_peers_content_costs_its_request_budget(scenario: Path, tmp_path: Path) -> None:
    """Through the production connection (open_client on TGSTATS_TELEGRAM_REPLAY), a peer's
    month of zooms, a day of posts with their statistics, stories and revenue: the request
    log (TGSTATS_REPLAY_LOG) holds exactly the requests the budget allows, each on its DC."""
    log = tmp_path / "replay.jsonl"
    settings = load_settings(
        {"TGSTATS_TELEGRAM_REPLAY": str(scenario), "TGSTATS_REPLAY_LOG": str(log)}
    )

    async def main():
        async with open_client(settings) as client:
            stats = StatsClient(client)
            peer = await stats.resolve("news")
            snapshot = await stats.fetch(peer)
            start = len(log.read_text(encoding="utf-8").splitlines())
            content = stats.content
            zooms = await content.zooms(peer, zoom_tokens(snapshot.graphs), APRIL)
            posts = await content.posts(peer, date(2018, 4, 1), date(2018, 4, 1))
            post_stats = [await content.post_stats(peer, "message", p.post_id) for p in posts]
            stories = await content.stories(peer)
            story_stats = [await content.post_stats(peer, "story", s.post_id) for s in stories]
            revenue = await content.revenue(peer)
            return start, zooms, post_stats, story_stats, revenue

    start, zooms, post_stats, story_stats, revenue = asyncio.run(main())
    lines = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()][start:]
    assert all(e["outcome"] == "ok" and e["peer"] == "news" for e in lines)
    budget = Counter(f"{e['request']}@dc{e['dc']}" for e in lines)
    # Posts 1..4 and stories 1..3: their graphs (post 3's two, story 2's two) on DC 4.
    assert budget == {
        "LoadAsyncGraphRequest@dc4": len(zooms) + 2 + 2,
        "GetHistoryRequest@dc2": 1,
        "GetMessageStatsRequest@dc4": 4,
        "GetMessagePublicForwardsRequest@dc4": 4,
        "GetStoriesArchiveRequest@dc2": 1,
        "GetStoryStatsRequest@dc4": 3,
        "GetStoryPublicForwardsRequest@dc4": 3,
        "GetStarsRevenueStatsRequest@dc2": 2,
    }
    assert len(zooms) == 10  # 30 days of two graphs, one zoom a week each
    assert all(p.complete for p in (*post_stats, *story_stats))
    assert isinstance(revenue, RevenueStats)


def test_the_stats_dc_a_snapshot_learnt_serves_the_content(scenario: Path) -> None:
    async def work(telegram, stats):
        peer = replace(await stats.resolve("news"), stats_dc=None)
        await stats.fetch(peer)  # STATS_MIGRATE_4 once
        telegram.entries.clear()
        return await stats.content.post_stats(peer, "message", 3)

    telegram, post = run(scenario, work)
    assert post.complete
    assert {e["dc"] for e in telegram.entries} == {4}
    assert asked(telegram, "GetMessageStatsRequest") == [(4, "ok")]
