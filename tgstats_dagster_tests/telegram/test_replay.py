"""The offline Telegram answers real TL requests with real TL objects and Telegram's errors."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from telethon import errors
from telethon.tl import functions, types

from tgstats_dagster.telegram import dc as dc_routing
from tgstats_dagster.telegram.connect import client_options
from tgstats_dagster.telegram.graphs import parse_graph, x_day
from tgstats_dagster.telegram.replay import (
    ReplayTelegram,
    ScenarioError,
    derived_access_hash,
    load_scenario,
    replay_client,
)
from tgstats_dagster.telegram.stats import StatsClient
from tgstats_dagster_tests.telegram.scenarios import (
    broadcast_graphs,
    replay_session,
    standard_scenario,
    write_peer,
    write_scenario,
)


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return standard_scenario(tmp_path / "scenario")


def test_scenario_loading_fills_defaults(tmp_path: Path) -> None:
    root = tmp_path / "s"
    root.mkdir()  # no scenario.json at all
    write_peer(root, "given", channel_id=5, access_hash=-77)
    write_peer(root, "derived", channel_id=6)
    loaded = load_scenario(root)
    assert loaded.home_dc == 2 and loaded.faults == ()
    by_key = {p.key: p for p in loaded.peers}
    assert by_key["given"].access_hash == -77
    assert by_key["derived"].access_hash == derived_access_hash(6) == derived_access_hash(6)
    assert by_key["derived"].graphs["growth_graph"] == broadcast_graphs()["growth_graph"]


def test_a_bad_fault_names_the_file(tmp_path: Path) -> None:
    root = write_scenario(tmp_path / "s", faults=[{"error": "FLOOD_WAIT_3"}])
    with pytest.raises(ScenarioError, match=r"scenario\.json"):
        load_scenario(root)


def test_answers_are_tl_objects_decoded_from_bytes(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario) as (telegram, client, _stats):
            peer = telegram.scenario.by_username("news")
            channel = types.InputChannel(peer.channel_id, peer.access_hash)
            full = await client(functions.channels.GetFullChannelRequest(channel))
            stats = await dc_routing.send_on_dc(
                client, 4, functions.stats.GetBroadcastStatsRequest(channel)
            )
            graph = await dc_routing.send_on_dc(
                client, 4, functions.stats.LoadAsyncGraphRequest(stats.languages_graph.token)
            )
            return full, stats, graph

    full, stats, graph = asyncio.run(main())
    assert type(full) is types.messages.ChatFull
    assert type(full.full_chat) is types.ChannelFull
    assert full.full_chat.can_view_stats is True and full.full_chat.stats_dc == 4
    assert type(full.chats[0]) is types.Channel and full.chats[0].broadcast is True
    assert type(stats) is types.stats.BroadcastStats
    assert type(stats.growth_graph) is types.StatsGraph
    assert type(stats.growth_graph.json) is types.DataJSON
    assert type(stats.languages_graph) is types.StatsGraphAsync
    assert type(stats.mute_graph) is types.StatsGraphError
    assert type(stats.followers) is types.StatsAbsValueAndPrev
    assert stats.followers.current == 1200.0
    assert stats.period.min_date.tzinfo is not None
    assert type(graph) is types.StatsGraph
    assert graph.json.data == broadcast_graphs()["languages_graph"]


def test_the_figures_beyond_the_graphs_are_tl_objects(scenario: Path) -> None:
    """Headline figures, posts' and stories' interactions, a supergroup's tops and users."""

    async def main():
        async with replay_session(scenario) as (telegram, client, _stats):
            answers = []
            for key, request_cls in (
                ("news", functions.stats.GetBroadcastStatsRequest),
                ("chat", functions.stats.GetMegagroupStatsRequest),
            ):
                peer = telegram.scenario.by_username(key)
                request = request_cls(types.InputChannel(peer.channel_id, peer.access_hash))
                answers.append(await dc_routing.send_on_dc(client, peer.stats_dc, request))
            return answers

    channel, group = asyncio.run(main())
    assert type(channel.enabled_notifications) is types.StatsPercentValue
    assert (channel.enabled_notifications.part, channel.enabled_notifications.total) == (300, 1200)
    assert type(channel.views_per_story) is types.StatsAbsValueAndPrev
    message, story = channel.recent_posts_interactions
    assert type(message) is types.PostInteractionCountersMessage and message.msg_id == 1
    assert type(story) is types.PostInteractionCountersStory and story.story_id == 7
    assert (story.views, story.forwards, story.reactions) == (5, 0, 1)
    assert type(group.members) is types.StatsAbsValueAndPrev and group.members.current == 800
    (poster,), (admin,), (inviter,) = group.top_posters, group.top_admins, group.top_inviters
    assert type(poster) is types.StatsGroupTopPoster and (poster.messages, poster.avg_chars) == (
        30,
        40,
    )
    assert type(admin) is types.StatsGroupTopAdmin and admin.banned == 3
    assert type(inviter) is types.StatsGroupTopInviter and inviter.invitations == 9
    (user,) = group.users
    assert type(user) is types.User and (user.id, user.username) == (11, "ana_b")


def test_graph_payload_bytes_survive_the_round_trip(tmp_path: Path) -> None:
    odd = '{"columns":[["x",1],["y0",2]],\r\n "names":{"y0":"Caf\\u00e9 ☕"},"title":"  t  "}\n\n'
    root = write_scenario(tmp_path / "s")
    write_peer(root, "odd", channel_id=9, graphs={"growth_graph": odd})

    async def main():
        async with replay_session(root) as (_telegram, _client, stats):
            return await stats.fetch(await stats.resolve("odd"))

    snapshot = asyncio.run(main())
    assert snapshot.graph("growth_graph").data.encode("utf-8") == odd.encode("utf-8")


@pytest.mark.parametrize(
    ("key", "request_cls", "dc", "error"),
    [
        ("news", functions.stats.GetBroadcastStatsRequest, 2, errors.StatsMigrateError),
        ("chat", functions.stats.GetBroadcastStatsRequest, 4, errors.BroadcastRequiredError),
        ("news", functions.stats.GetMegagroupStatsRequest, 4, errors.MegagroupRequiredError),
        ("norights", functions.stats.GetBroadcastStatsRequest, 2, errors.ChatAdminRequiredError),
    ],
)
def test_stats_errors_are_telegrams(scenario: Path, key, request_cls, dc, error) -> None:
    async def main():
        async with replay_session(scenario) as (telegram, client, _stats):
            peer = telegram.scenario.by_username(key)
            request = request_cls(types.InputChannel(peer.channel_id, peer.access_hash))
            with pytest.raises(error) as caught:
                if dc == telegram.home_dc:
                    await client(request)
                else:
                    await dc_routing.send_on_dc(client, dc, request)
            return caught.value

    raised = asyncio.run(main())
    if isinstance(raised, errors.StatsMigrateError):
        assert raised.dc == 4


def test_wrong_access_hash_and_home_dc_tokens_are_refused(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario) as (telegram, client, _stats):
            peer = telegram.scenario.by_username("news")
            with pytest.raises(errors.ChannelInvalidError):
                await client(
                    functions.channels.GetFullChannelRequest(
                        types.InputChannel(peer.channel_id, peer.access_hash ^ 1)
                    )
                )
            channel = types.InputChannel(peer.channel_id, peer.access_hash)
            stats = await dc_routing.send_on_dc(
                client, 4, functions.stats.GetBroadcastStatsRequest(channel)
            )
            with pytest.raises(errors.GraphInvalidReloadError):
                await client(functions.stats.LoadAsyncGraphRequest(stats.languages_graph.token))
            with pytest.raises(errors.UsernameNotOccupiedError):
                await client(functions.contacts.ResolveUsernameRequest("nobodyhere"))
            return telegram

    telegram = asyncio.run(main())
    load = [e for e in telegram.entries if e["request"] == "LoadAsyncGraphRequest"]
    assert load == [
        {
            "dc": 2,
            "request": "LoadAsyncGraphRequest",
            "peer": "news",
            "outcome": "GRAPH_INVALID_RELOAD",
        }
    ]


def test_request_log_is_one_json_line_per_request(scenario: Path, tmp_path: Path) -> None:
    log_path = tmp_path / "logs" / "replay.jsonl"

    async def main():
        telegram = ReplayTelegram.load(scenario, log_path)
        client = replay_client(telegram, lang_code="en", system_lang_code="en")
        async with client:
            await client(functions.contacts.ResolveUsernameRequest("news"))
        return telegram

    telegram = asyncio.run(main())
    lines = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines()]
    assert lines == telegram.entries
    assert lines[0] == {"dc": 2, "request": "GetConfigRequest", "peer": None, "outcome": "ok"}
    assert {"dc": 2, "request": "ResolveUsernameRequest", "peer": "news", "outcome": "ok"} in lines
    assert all(set(line) == {"dc", "request", "peer", "outcome"} for line in lines)


def test_home_dc_comes_from_the_scenario(tmp_path: Path) -> None:
    root = write_scenario(tmp_path / "s", home_dc=4)
    write_peer(root, "far", channel_id=3, stats_dc=1)

    async def main():
        async with replay_session(root) as (telegram, client, stats):
            snapshot = await stats.fetch(await stats.resolve("far"))
            return telegram, client.session.dc_id, snapshot

    telegram, home, snapshot = asyncio.run(main())
    assert home == 4
    assert set(snapshot.requests) == {"GetBroadcastStatsRequest@dc1", "LoadAsyncGraphRequest@dc1"}
    imports = [e for e in telegram.entries if e["request"] == "ImportAuthorizationRequest"]
    assert [e["dc"] for e in imports] == [1]


def test_end_yesterday_moves_the_daily_dates_by_whole_days(tmp_path: Path) -> None:
    root = write_scenario(tmp_path / "s")
    settings = json.loads((root / "scenario.json").read_text())
    (root / "scenario.json").write_text(json.dumps({**settings, "end": "yesterday"}))
    hourly = '{"columns":[["x",0,3600000],["y0",1,2]],"types":{"x":"x","y0":"line"}}'
    write_peer(root, "news", channel_id=1001, graphs={**broadcast_graphs(), "mute_graph": hourly})
    today = date(2026, 3, 10)  # PERIOD ends 2026-01-31: everything moves 37 days

    async def main(today: date | None):
        telegram = ReplayTelegram.load(root, today=today)
        client = replay_client(telegram, **client_options())
        async with client:
            stats = StatsClient(client)
            return await stats.fetch(await stats.resolve("news"))

    moved = asyncio.run(main(today))
    assert moved.period_max.date() == date(2026, 3, 9)
    assert moved.period_min.date() == date(2026, 1, 1) + timedelta(days=37)
    growth = parse_graph("growth_graph", moved.graph("growth_graph").data)
    assert growth.is_daily
    assert x_day(growth.x[0]) == date(2026, 1, 1) + timedelta(days=37)
    assert moved.graph("mute_graph").data == hourly  # not daily: served as written
    assert asyncio.run(main(today)).graph("growth_graph").data == moved.graph("growth_graph").data

    (root / "scenario.json").write_text(json.dumps(settings))  # no "end": nothing moves
    fixed = asyncio.run(main(today))
    assert fixed.period_max.date() == date(2026, 1, 31)
    assert fixed.graph("growth_graph").data == broadcast_graphs()["growth_graph"]


def test_end_must_be_yesterday(tmp_path: Path) -> None:
    root = write_scenario(tmp_path / "s")
    (root / "scenario.json").write_text('{"end": "tomorrow"}')
    with pytest.raises(ScenarioError, match="'end'"):
        ReplayTelegram.load(root)
