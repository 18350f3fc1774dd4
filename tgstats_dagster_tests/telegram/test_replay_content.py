"""The offline Telegram beyond the channel's stats: zooms, posts and stories, revenue.

Every request goes through a real, connected Telethon client (replay_session), so answers are
real TL objects decoded from their bytes, and errors the classes Telethon builds from them.
"""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from telethon import errors
from telethon.tl import functions, types

from tgstats_dagster.telegram import dc as dc_routing
from tgstats_dagster.telegram.errors import rpc_text
from tgstats_dagster.telegram.graphs import parse_graph, x_day
from tgstats_dagster.telegram.replay import Fault, ReplayTelegram, ScenarioError, load_scenario
from tgstats_dagster_tests.telegram.scenarios import (
    CONTEST_ZOOM_DAY,
    POSTS_START,
    content_scenario,
    contest,
    entries,
    replay_session,
    write_peer,
    write_scenario,
    write_zooms,
    zoom_payload,
)

DAY_MS = 86_400_000


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return content_scenario(tmp_path / "scenario")


def ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)


def run(root: Path, work: Any) -> Any:
    """``await work(telegram, client, peers)`` on a connected client; peers by key hold
    (InputChannel, InputPeerChannel)."""

    async def main():
        async with replay_session(root) as (telegram, client, _stats):
            peers = {
                p.key: (
                    types.InputChannel(p.channel_id, p.access_hash),
                    types.InputPeerChannel(p.channel_id, p.access_hash),
                )
                for p in telegram.scenario.peers
            }
            return telegram, await work(telegram, client, peers)

    return asyncio.run(main())


async def failure(call: Any) -> BaseException:
    try:
        await call
    except Exception as exc:
        return exc
    raise AssertionError("the request did not fail")


def test_the_loader_reads_zooms_posts_stories_and_revenue(scenario: Path) -> None:
    news = load_scenario(scenario).by_username("news")
    assert sorted(news.zooms) == ["followers_graph", "interactions_graph"]
    assert len(news.zooms["followers_graph"]) == 30
    assert news.zooms["interactions_graph"] == {CONTEST_ZOOM_DAY: zoom_payload(CONTEST_ZOOM_DAY)}
    assert "followers_graph.zoom" not in news.graphs
    assert [p.id for p in news.posts[:3]] == [1, 2, 3] and len(news.posts) == 250
    first = news.posts[0]
    assert first.date == POSTS_START and first.text == "post 1 ✓"
    assert news.post(3).graphs["views_graph"] == contest("overview_4.json")
    last = news.post(250)
    assert "public_forwards" not in last.graphs
    assert last.graph_errors == {"reactions_by_emotion_graph": "NOT_ENOUGH_DATA_YET"}
    assert len(last.public_forwards) == 250 and last.public_forwards[1].username == "fwd1"
    assert [s.text for s in news.stories] == ["story 1", "story 2", "story 3"]
    assert [f.kind for f in news.story(2).public_forwards] == ["message", "message", "story"]
    assert news.revenue["stars"].status["current_balance"] == 1234.5
    assert news.revenue["ton"].usd_rate == 3.25
    assert sorted(news.revenue["stars"].graphs) == ["revenue_graph", "top_hours_graph"]


def test_a_zoom_file_not_named_by_a_day_names_the_file(tmp_path: Path) -> None:
    root = write_scenario(tmp_path / "s")
    folder = write_peer(root, "odd", channel_id=3)
    write_zooms(folder, "growth_graph", [date(2026, 1, 2)])
    (folder / "graphs" / "growth_graph.zoom" / "latest.json").write_text("{}")
    with pytest.raises(ScenarioError, match=r"latest\.json"):
        load_scenario(root)


def test_a_bad_post_entry_names_the_file(tmp_path: Path) -> None:
    root = write_scenario(tmp_path / "s")
    folder = write_peer(root, "odd", channel_id=3)
    (folder / "posts").mkdir()
    (folder / "posts" / "posts.json").write_text(json.dumps([{"id": 1, "date": "soon"}]))
    with pytest.raises(ScenarioError, match=r"posts\.json"):
        load_scenario(root)


# -- zoom ---------------------------------------------------------------------------------


def test_graphs_with_a_zoom_folder_carry_a_zoom_token(scenario: Path) -> None:
    async def work(_telegram, client, peers):
        channel, _ = peers["news"]
        stats = await dc_routing.send_on_dc(
            client, 4, functions.stats.GetBroadcastStatsRequest(channel)
        )
        loaded = await dc_routing.send_on_dc(
            client, 4, functions.stats.LoadAsyncGraphRequest(stats.interactions_graph.token)
        )
        return stats, loaded

    _, (stats, loaded) = run(scenario, work)
    assert type(stats.followers_graph) is types.StatsGraph
    assert stats.followers_graph.zoom_token  # inline, with a zoom
    assert stats.followers_graph.json.data == contest("overview_1.json")
    assert stats.growth_graph.zoom_token is None  # no .zoom folder
    assert type(stats.interactions_graph) is types.StatsGraphAsync
    assert type(loaded) is types.StatsGraph and loaded.zoom_token  # async, with a zoom
    assert loaded.zoom_token != stats.followers_graph.zoom_token


def test_a_zoom_answers_that_days_file_on_the_stats_dc_only(scenario: Path) -> None:
    day = date(2018, 4, 20)

    async def work(_telegram, client, peers):
        channel, _ = peers["news"]
        stats = await dc_routing.send_on_dc(
            client, 4, functions.stats.GetBroadcastStatsRequest(channel)
        )
        token = stats.followers_graph.zoom_token
        zoom = functions.stats.LoadAsyncGraphRequest(token=token, x=ms(day))
        on_stats_dc = await dc_routing.send_on_dc(client, 4, zoom)
        on_home = await failure(client(zoom))
        no_day = functions.stats.LoadAsyncGraphRequest(token=token, x=ms(date(2018, 5, 3)))
        without_data = await dc_routing.send_on_dc(client, 4, no_day)
        return on_stats_dc, on_home, without_data

    telegram, (zoomed, on_home, without_data) = run(scenario, work)
    assert type(zoomed) is types.StatsGraph and zoomed.zoom_token is None
    assert zoomed.json.data == zoom_payload(day)
    parsed = parse_graph("followers_graph", zoomed.json.data)
    # The 7 days around the day asked, hour by hour.
    assert len(parsed.x) == 168 and parsed.x[1] - parsed.x[0] == 3_600_000
    assert (x_day(parsed.x[0]), x_day(parsed.x[-1])) == (date(2018, 4, 17), date(2018, 4, 23))
    assert isinstance(on_home, errors.GraphInvalidReloadError)
    assert type(without_data) is types.StatsGraphError and without_data.error == "NOT_ENOUGH_DATA"
    zooms = entries(telegram, request="LoadAsyncGraphRequest")
    assert [(e["dc"], e["peer"], e["outcome"]) for e in zooms] == [
        (4, "news", "ok"),
        (2, "news", "GRAPH_INVALID_RELOAD"),
        (4, "news", "ok"),
    ]


# -- posts ---------------------------------------------------------------------------------


def history(channel: types.InputPeerChannel, **paging: Any) -> Any:
    options = {"offset_id": 0, "offset_date": None, "add_offset": 0, "limit": 100}
    options.update({"max_id": 0, "min_id": 0, "hash": 0}, **paging)
    return functions.messages.GetHistoryRequest(peer=channel, **options)


def test_history_pages_newest_first_as_telegram_does(scenario: Path) -> None:
    async def work(_telegram, client, peers):
        _, peer = peers["news"]
        return [
            await client(history(peer)),
            await client(history(peer, offset_id=101)),
            await client(history(peer, limit=500)),
            await client(history(peer, offset_date=POSTS_START + timedelta(hours=30), limit=10)),
            await client(history(peer, offset_id=200, add_offset=-5, limit=10)),
            await client(history(peer, max_id=20, min_id=15)),
            await client(history(peer, offset_id=1)),
        ]

    telegram, pages = run(scenario, work)
    first, after_101, capped, by_date, backwards, between, past_the_end = pages
    assert type(first) is types.messages.ChannelMessages and first.count == 250
    assert [m.id for m in first.messages] == list(range(250, 150, -1))
    assert [m.id for m in after_101.messages] == list(range(100, 0, -1))
    assert len(capped.messages) == 100  # Telegram answers at most 100
    # Posts at 00, 06, ... from April 1st: before 06:00 on April 2nd come posts 5 .. 1.
    assert [m.id for m in by_date.messages] == [5, 4, 3, 2, 1]
    assert [m.id for m in backwards.messages] == list(range(204, 194, -1))
    assert [m.id for m in between.messages] == [19, 18, 17, 16]
    assert past_the_end.messages == []
    assert {e["dc"] for e in entries(telegram, request="GetHistoryRequest")} == {2}


def test_history_messages_carry_their_counters(scenario: Path) -> None:
    async def work(_telegram, client, peers):
        return await client(history(peers["news"][1], offset_id=5, limit=2))

    _, page = run(scenario, work)
    four, three = page.messages
    assert type(four) is types.Message and four.post is True
    assert four.peer_id == types.PeerChannel(1001)
    assert four.date == POSTS_START + timedelta(hours=18)
    assert (four.message, four.views, four.forwards) == ("post 4 ✓", 103, 3)
    assert type(four.replies) is types.MessageReplies and four.replies.replies == 0
    assert type(four.reactions) is types.MessageReactions
    counts = {r.reaction.emoticon: r.count for r in four.reactions.results}
    assert counts == {"👍": 3, "❤": 1}
    assert three.reactions is None  # a post nobody reacted to
    assert type(page.chats[0]) is types.Channel and page.chats[0].id == 1001


def test_custom_and_paid_reactions_are_their_tl_types(tmp_path: Path) -> None:
    root = write_scenario(tmp_path / "s")
    folder = write_peer(root, "odd", channel_id=3)
    (folder / "posts").mkdir()
    post = {"id": 1, "date": "2026-01-01T10:00:00Z", "reactions": {"custom:77": 2, "paid": 5}}
    (folder / "posts" / "posts.json").write_text(json.dumps([post]))

    async def work(_telegram, client, peers):
        return await client(history(peers["odd"][1]))

    _, page = run(root, work)
    (message,) = page.messages
    custom, paid = message.reactions.results
    assert type(custom.reaction) is types.ReactionCustomEmoji and custom.reaction.document_id == 77
    assert type(paid.reaction) is types.ReactionPaid and paid.count == 5
    assert message.views is None and message.replies is None


# -- post and story statistics -----------------------------------------------------------------


def test_message_stats_on_the_stats_dc_with_async_graphs(scenario: Path) -> None:
    async def work(_telegram, client, peers):
        channel, _ = peers["news"]
        request = functions.stats.GetMessageStatsRequest(channel=channel, msg_id=3)
        migrate = await failure(client(request))
        stats = await dc_routing.send_on_dc(client, 4, request)
        views = functions.stats.LoadAsyncGraphRequest(stats.views_graph.token)
        on_home = await failure(client(views))
        graph = await dc_routing.send_on_dc(client, 4, views)
        last = await dc_routing.send_on_dc(
            client, 4, functions.stats.GetMessageStatsRequest(channel=channel, msg_id=250)
        )
        return migrate, stats, on_home, graph, last

    telegram, (migrate, stats, on_home, graph, last) = run(scenario, work)
    assert isinstance(migrate, errors.StatsMigrateError) and migrate.dc == 4
    assert type(stats) is types.stats.MessageStats
    assert type(stats.views_graph) is types.StatsGraphAsync
    assert type(stats.reactions_by_emotion_graph) is types.StatsGraphAsync
    assert isinstance(on_home, errors.GraphInvalidReloadError)
    assert type(graph) is types.StatsGraph and graph.json.data == contest("overview_4.json")
    assert type(last.reactions_by_emotion_graph) is types.StatsGraphError
    assert last.reactions_by_emotion_graph.error == "NOT_ENOUGH_DATA_YET"
    assert [(e["dc"], e["peer"]) for e in entries(telegram, request="GetMessageStatsRequest")] == [
        (2, "news"),
        (4, "news"),
        (4, "news"),
    ]


def test_story_stats_and_their_graphs(scenario: Path) -> None:
    async def work(_telegram, client, peers):
        _, peer = peers["news"]
        stats = await dc_routing.send_on_dc(
            client, 4, functions.stats.GetStoryStatsRequest(peer=peer, id=2)
        )
        reactions = await dc_routing.send_on_dc(
            client, 4, functions.stats.LoadAsyncGraphRequest(stats.reactions_by_emotion_graph.token)
        )
        bare = await dc_routing.send_on_dc(
            client, 4, functions.stats.GetStoryStatsRequest(peer=peer, id=1)
        )
        return stats, reactions, bare

    _, (stats, reactions, bare) = run(scenario, work)
    assert type(stats) is types.stats.StoryStats
    assert "👍" in json.loads(reactions.json.data)["names"].values()
    assert type(bare.views_graph) is types.StatsGraphError  # no files: not enough data
    assert bare.views_graph.error == "NOT_ENOUGH_DATA"


@pytest.mark.parametrize(
    ("key", "request_of", "error"),
    [
        (
            "news",
            lambda c, p: functions.stats.GetMessageStatsRequest(channel=c, msg_id=999),
            "MESSAGE_ID_INVALID",
        ),
        (
            "news",
            lambda c, p: functions.stats.GetStoryStatsRequest(peer=p, id=9),
            "STORY_ID_INVALID",
        ),
        (
            "news",
            lambda c, p: functions.stats.GetMessagePublicForwardsRequest(c, 999, "", 100),
            "MESSAGE_ID_INVALID",
        ),
        (
            "norights",
            lambda c, p: functions.stats.GetMessageStatsRequest(channel=c, msg_id=1),
            "CHAT_ADMIN_REQUIRED",
        ),
        (
            "news",
            lambda c, p: functions.stats.GetMessagePublicForwardsRequest(c, 250, "x", 100),
            "OFFSET_INVALID",
        ),
    ],
)
def test_post_stats_errors_are_telegrams(scenario: Path, key, request_of, error) -> None:
    async def work(telegram, client, peers):
        peer = telegram.scenario.by_username(key)
        request = request_of(*peers[key])
        if peer.stats_dc in (None, telegram.home_dc):
            return await failure(client(request))
        return await failure(dc_routing.send_on_dc(client, peer.stats_dc, request))

    _, exc = run(scenario, work)
    assert isinstance(exc, errors.RPCError) and rpc_text(exc) == error


def test_public_forwards_page_by_next_offset(scenario: Path) -> None:
    async def work(_telegram, client, peers):
        channel, _ = peers["news"]
        pages, offset = [], ""
        while True:
            request = functions.stats.GetMessagePublicForwardsRequest(channel, 250, offset, 100)
            page = await dc_routing.send_on_dc(client, 4, request)
            pages.append(page)
            if not page.next_offset:
                return pages
            offset = page.next_offset

    telegram, pages = run(scenario, work)
    assert [len(p.forwards) for p in pages] == [100, 100, 50]
    assert [p.next_offset is None for p in pages] == [False, False, True]
    assert {p.count for p in pages} == {250}
    forwards = [f for p in pages for f in p.forwards]
    assert {type(f) for f in forwards} == {types.PublicForwardMessage}
    first = forwards[0].message
    assert first.peer_id == types.PeerChannel(9000) and first.id == 50
    assert first.fwd_from.channel_post == 250 and first.views is None
    assert forwards[1].message.views == 10
    chats = {c.id: c for c in pages[0].chats}
    assert len(chats) == 100 and chats[9001].username == "fwd1" and chats[9000].username is None
    assert chats[9001].title == "Forwarder 1"
    assert {e["dc"] for e in entries(telegram, request="GetMessagePublicForwardsRequest")} == {4}


def test_story_forwards_include_reposting_stories(scenario: Path) -> None:
    async def work(_telegram, client, peers):
        _, peer = peers["news"]
        request = functions.stats.GetStoryPublicForwardsRequest(peer, 2, "", 2)
        first = await dc_routing.send_on_dc(client, 4, request)
        request = functions.stats.GetStoryPublicForwardsRequest(peer, 2, first.next_offset, 2)
        return first, await dc_routing.send_on_dc(client, 4, request)

    _, (first, second) = run(scenario, work)
    assert [type(f) for f in first.forwards] == [types.PublicForwardMessage] * 2
    (story,) = second.forwards
    assert type(story) is types.PublicForwardStory and story.peer == types.PeerChannel(9000)
    assert type(story.story) is types.StoryItem and story.story.id == 50
    assert second.next_offset is None


def test_stories_archive_pages_newest_first(scenario: Path) -> None:
    async def work(_telegram, client, peers):
        _, peer = peers["news"]
        first = await client(functions.stories.GetStoriesArchiveRequest(peer, 0, 2))
        rest = await client(functions.stories.GetStoriesArchiveRequest(peer, 2, 2))
        return first, rest

    telegram, (first, rest) = run(scenario, work)
    assert type(first) is types.stories.Stories and first.count == 3
    assert [s.id for s in first.stories] == [3, 2] and [s.id for s in rest.stories] == [1]
    three = first.stories[0]
    assert type(three) is types.StoryItem and three.caption == "story 3"
    assert three.date == POSTS_START + timedelta(days=3)
    assert type(three.views) is types.StoryViews
    assert (three.views.views_count, three.views.forwards_count) == (43, 3)
    assert three.views.reactions_count == 3
    assert {e["dc"] for e in entries(telegram, request="GetStoriesArchiveRequest")} == {2}


# -- revenue ---------------------------------------------------------------------------------


def test_revenue_answers_stars_and_ton(scenario: Path) -> None:
    async def work(_telegram, client, peers):
        _, peer = peers["news"]
        stars = await client(functions.payments.GetStarsRevenueStatsRequest(peer, ton=False))
        ton = await client(functions.payments.GetStarsRevenueStatsRequest(peer, ton=True))
        return stars, ton

    telegram, (stars, ton) = run(scenario, work)
    assert type(stars) is types.payments.StarsRevenueStats
    status = stars.status
    assert type(status) is types.StarsRevenueStatus and status.withdrawal_enabled is True
    assert status.current_balance == types.StarsAmount(amount=1234, nanos=500_000_000)
    assert status.overall_revenue == types.StarsAmount(amount=5000, nanos=250_000_000)
    assert status.next_withdrawal_at == 1_767_225_600
    assert stars.usd_rate == 0.013
    assert stars.revenue_graph.json.data == contest("overview_4.json")
    assert type(stars.top_hours_graph) is types.StatsGraph
    assert ton.status.current_balance == types.StarsTonAmount(amount=2_500_000_000)
    assert not ton.status.withdrawal_enabled and ton.top_hours_graph is None
    assert [e["peer"] for e in entries(telegram, request="GetStarsRevenueStatsRequest")] == [
        "news",
        "news",
    ]


def test_revenue_without_a_file_is_chat_admin_required(scenario: Path) -> None:
    async def work(_telegram, client, peers):
        ton = functions.payments.GetStarsRevenueStatsRequest(peers["local"][1], ton=True)
        return await failure(client(ton))

    _, exc = run(scenario, work)
    assert isinstance(exc, errors.ChatAdminRequiredError)


# -- faults ----------------------------------------------------------------------------------


def test_faults_apply_to_the_new_requests(scenario: Path) -> None:
    async def work(telegram, client, peers):
        channel, peer = peers["news"]
        for request in ("GetHistoryRequest", "GetMessageStatsRequest", "LoadAsyncGraphRequest"):
            telegram.add_fault(Fault(request, "FLOOD_WAIT_3", peer="news"))
        telegram.add_fault(Fault("GetStarsRevenueStatsRequest", "CHANNEL_PRIVATE", dc=2))
        flood = await failure(client(history(peer)))
        stats = functions.stats.GetMessageStatsRequest(channel=channel, msg_id=3)
        stats_flood = await failure(dc_routing.send_on_dc(client, 4, stats))
        full = await dc_routing.send_on_dc(
            client, 4, functions.stats.GetBroadcastStatsRequest(channel)
        )
        zoom = functions.stats.LoadAsyncGraphRequest(
            full.followers_graph.zoom_token, ms(date(2018, 4, 9))
        )
        zoom_flood = await failure(dc_routing.send_on_dc(client, 4, zoom))
        revenue = functions.payments.GetStarsRevenueStatsRequest(peer, ton=False)
        server = await failure(client(revenue))
        again = await client(history(peer, limit=1))
        return flood, stats_flood, zoom_flood, server, again

    _, (flood, stats_flood, zoom_flood, server, again) = run(scenario, work)
    for exc in (flood, stats_flood, zoom_flood):
        assert isinstance(exc, errors.FloodWaitError) and exc.seconds == 3
    assert isinstance(server, errors.ChannelPrivateError)
    assert [m.id for m in again.messages] == [250]  # the fault was used up


def test_a_fault_after_some_requests_lets_those_through_first(scenario: Path) -> None:
    settings = json.loads((scenario / "scenario.json").read_text())
    fault = {"request": "GetHistoryRequest", "peer": "news", "error": "CHP_CALL_FAIL"}
    settings["faults"] = [{**fault, "after": 2, "times": 1}]
    (scenario / "scenario.json").write_text(json.dumps(settings))

    async def work(_telegram, client, peers):
        _, peer = peers["news"]
        first = [await client(history(peer, limit=1)) for _ in range(2)]
        third = await failure(client(history(peer, limit=1)))
        fourth = await client(history(peer, limit=1))
        return first, third, fourth

    _, (first, third, fourth) = run(scenario, work)
    assert [[m.id for m in page.messages] for page in first] == [[250], [250]]
    assert isinstance(third, errors.RPCError) and rpc_text(third) == "CHP_CALL_FAIL"
    assert [m.id for m in fourth.messages] == [250]  # times used up


def test_end_yesterday_moves_zooms_posts_stories_and_revenue_too(scenario: Path) -> None:
    settings = json.loads((scenario / "scenario.json").read_text())
    (scenario / "scenario.json").write_text(json.dumps({**settings, "end": "yesterday"}))
    moved = ReplayTelegram.load(scenario, today=date(2026, 3, 10)).scenario.by_username("news")
    kept = load_scenario(scenario).by_username("news")
    shift = timedelta(days=37)  # stats.json's period ends 2026-01-31; yesterday is 03-09
    day = CONTEST_ZOOM_DAY + shift
    assert sorted(moved.zooms["interactions_graph"]) == [day]
    zoom = parse_graph("interactions_graph", moved.zooms["interactions_graph"][day])
    assert (x_day(zoom.x[0]), x_day(zoom.x[-1])) == (
        day - timedelta(days=3),
        day + timedelta(days=3),
    )
    assert len(zoom.x) == 168
    assert [p.date for p in moved.posts] == [p.date + shift for p in kept.posts]
    assert [s.date for s in moved.stories] == [s.date + shift for s in kept.stories]
    forwards = moved.post(250).public_forwards
    assert forwards[0].date == kept.post(250).public_forwards[0].date + shift
    views = parse_graph("views_graph", moved.post(3).graphs["views_graph"])
    assert x_day(views.x[0]) == x_day(parse_graph("v", contest("overview_4.json")).x[0]) + shift
    revenue = parse_graph("revenue_graph", moved.revenue["stars"].graphs["revenue_graph"])
    assert x_day(revenue.x[0]) == date(2018, 4, 7) + shift
    assert moved.revenue["stars"].status == kept.revenue["stars"].status
