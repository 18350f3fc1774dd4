"""The production stats client against the offline Telegram (Telethon's request path is real)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path

import pytest

from tgstats_dagster.telegram.errors import (
    FloodWaitTooLong,
    NoStatsRights,
    PeerNotFound,
    TelegramRequestFailed,
)
from tgstats_dagster.telegram.replay import Fault
from tgstats_dagster.telegram.stats import StatsClient
from tgstats_dagster_tests.telegram.scenarios import (
    RecordingSleep,
    broadcast_graphs,
    entries,
    megagroup_graphs,
    replay_session,
    resolve_and_fetch,
    standard_scenario,
    write_peer,
    write_scenario,
)

ASYNC_BROADCAST = {
    "interactions_graph",
    "views_by_source_graph",
    "languages_graph",
    "reactions_by_emotion_graph",
}


@pytest.fixture
def scenario(tmp_path: Path) -> Path:
    return standard_scenario(tmp_path / "scenario")


def stats_entries(telegram, peer):
    return [e for e in entries(telegram, peer=peer) if e["request"].endswith("StatsRequest")]


def test_stats_on_a_known_stats_dc_other_than_home(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario) as (telegram, _client, stats):
            peer = await stats.resolve("news")
            assert (peer.stats_dc, stats.home_dc) == (4, 2)
            return telegram, await stats.fetch(peer)

    telegram, snapshot = asyncio.run(main())
    assert [(e["dc"], e["outcome"]) for e in stats_entries(telegram, "news")] == [(4, "ok")]
    loads = entries(telegram, peer="news", request="LoadAsyncGraphRequest")
    # Async graphs are loaded on the stats DC only, never on the home DC, each once.
    assert {e["dc"] for e in loads} == {4}
    assert len(loads) == len(ASYNC_BROADCAST)
    assert snapshot.requests == {"GetBroadcastStatsRequest@dc4": 1, "LoadAsyncGraphRequest@dc4": 4}
    by_field = {g.field: g for g in snapshot.graphs}
    assert {f for f, g in by_field.items() if g.kind == "async"} == ASYNC_BROADCAST
    assert {f for f, g in by_field.items() if g.kind == "inline"} == {
        "growth_graph",
        "followers_graph",
    }
    for field, text in broadcast_graphs().items():
        assert by_field[field].data == text  # exactly as sent, never re-serialized
    assert by_field["mute_graph"].kind == "error"
    assert by_field["mute_graph"].error == "NOT_ENOUGH_DATA"
    assert snapshot.fetched_at.tzinfo is not None
    assert snapshot.period_min.isoformat() == "2026-01-01T00:00:00+00:00"
    assert snapshot.scalars["followers"] == {"current": 1200, "previous": 1100}
    assert snapshot.scalars["views_per_post"] == {"current": 350.5, "previous": 300}
    assert snapshot.scalars["recent_posts_interactions"][1]["_"] == "PostInteractionCountersStory"


def test_unknown_stats_dc_is_learnt_from_one_migrate(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario) as (telegram, _client, stats):
            peer = replace(await stats.resolve("news"), stats_dc=None)
            first = await stats.fetch(peer)
            second = await stats.fetch(await stats.resolve("news"))
            return telegram, first, second

    telegram, first, second = asyncio.run(main())
    outcomes = [(e["dc"], e["outcome"]) for e in stats_entries(telegram, "news")]
    assert outcomes[:2] == [(2, "STATS_MIGRATE_4"), (4, "ok")]
    assert outcomes[2:] == [(4, "ok")]  # the second fetch goes straight to DC 4
    assert first.peer.stats_dc == 4
    assert first.requests["GetBroadcastStatsRequest@dc2"] == 1
    assert {e["dc"] for e in entries(telegram, request="LoadAsyncGraphRequest")} == {4}
    assert [g.data for g in first.graphs] == [g.data for g in second.graphs]


def test_stats_on_the_home_dc_use_the_normal_client_call(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario) as (telegram, _client, stats):
            return telegram, await stats.fetch(await stats.resolve("local"))

    telegram, snapshot = asyncio.run(main())
    assert snapshot.requests == {"GetBroadcastStatsRequest@dc2": 1, "LoadAsyncGraphRequest@dc2": 4}
    assert not entries(telegram, request="ExportAuthorizationRequest")


def test_megagroup(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario) as (telegram, _client, stats):
            peer = await stats.resolve("chat")
            return telegram, peer, await stats.fetch(peer)

    telegram, peer, snapshot = asyncio.run(main())
    assert (peer.megagroup, peer.broadcast) == (True, False)
    assert [e["request"] for e in stats_entries(telegram, "chat")] == ["GetMegagroupStatsRequest"]
    fields = [g.field for g in snapshot.graphs]
    assert fields[:2] == ["growth_graph", "members_graph"]
    assert "weekdays_graph" in fields
    data = {g.field: g.data for g in snapshot.graphs if g.data}
    assert data == megagroup_graphs()
    assert snapshot.scalars["top_posters"] == [{"user_id": 11, "messages": 30, "avg_chars": 40}]
    assert snapshot.scalars["users"][0]["username"] == "ana_b"


def test_peer_without_rights_is_skipped_without_a_stats_request(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario) as (telegram, _client, stats):
            return telegram, await resolve_and_fetch(stats, ["norights", "local"])

    telegram, (norights, local) = asyncio.run(main())
    assert norights.status == "skipped"
    assert "can_view_stats" in norights.reason
    assert isinstance(norights.error, NoStatsRights)
    assert norights.peer is not None and not norights.peer.can_view_stats
    assert stats_entries(telegram, "norights") == []
    assert local.status == "loaded"


def test_error_graphs_are_kept_with_their_text(tmp_path: Path) -> None:
    root = write_scenario(tmp_path / "s")
    write_peer(
        root,
        "small",
        channel_id=7,
        stats_dc=2,
        graphs={"growth_graph": broadcast_graphs()["growth_graph"]},
        graph_errors={
            "followers_graph": "NOT_ENOUGH_DATA_YET",
            "languages_graph": "GRAPH_TOO_SMALL",
        },
    )

    async def main():
        async with replay_session(root) as (_telegram, _client, stats):
            return await stats.fetch(await stats.resolve("small"))

    snapshot = asyncio.run(main())
    by_field = {g.field: g for g in snapshot.graphs}
    assert by_field["growth_graph"].kind == "inline"
    assert (by_field["followers_graph"].kind, by_field["followers_graph"].error) == (
        "error",
        "NOT_ENOUGH_DATA_YET",
    )
    assert by_field["languages_graph"].error == "GRAPH_TOO_SMALL"
    assert by_field["interactions_graph"].error == "NOT_ENOUGH_DATA"
    assert all(g.data is None for g in snapshot.graphs if g.kind == "error")
    assert snapshot.requests == {"GetBroadcastStatsRequest@dc2": 1}


def test_stale_token_refetches_the_stats_once_then_loads(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario) as (telegram, _client, stats):
            telegram.add_fault(Fault("LoadAsyncGraphRequest", "GRAPH_EXPIRED_RELOAD", times=1))
            return telegram, await stats.fetch(await stats.resolve("news"))

    telegram, snapshot = asyncio.run(main())
    assert [e["outcome"] for e in stats_entries(telegram, "news")] == ["ok", "ok"]
    loads = entries(telegram, request="LoadAsyncGraphRequest")
    assert [e["outcome"] for e in loads].count("GRAPH_EXPIRED_RELOAD") == 1
    assert len(loads) == len(ASYNC_BROADCAST) + 1
    assert {g.kind for g in snapshot.graphs if g.field in ASYNC_BROADCAST} == {"async"}
    assert snapshot.requests["GetBroadcastStatsRequest@dc4"] == 2


def test_a_graph_still_stale_after_the_refetch_is_missing(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario) as (telegram, _client, stats):
            # Every first load fails, then the first reload fails too.
            telegram.add_fault(
                Fault("LoadAsyncGraphRequest", "GRAPH_OUTDATED_RELOAD", times=5, peer="news")
            )
            return telegram, await stats.fetch(await stats.resolve("news"))

    telegram, snapshot = asyncio.run(main())
    assert len(stats_entries(telegram, "news")) == 2  # refetched once, never more
    missing = [g for g in snapshot.graphs if g.field in ASYNC_BROADCAST and g.kind == "missing"]
    assert [g.error for g in missing] == ["GRAPH_OUTDATED_RELOAD"]
    assert snapshot.missing_graphs == (missing[0].field,)
    assert not snapshot.complete
    assert sum(g.kind == "async" for g in snapshot.graphs) == len(ASYNC_BROADCAST) - 1


def test_short_flood_wait_is_slept_on_the_exported_sender_path(scenario: Path) -> None:
    sleep = RecordingSleep()

    async def main():
        async with replay_session(scenario, flood_sleep_threshold=2, sleep=sleep) as (
            telegram,
            _client,
            stats,
        ):
            telegram.add_fault(Fault("GetBroadcastStatsRequest", "FLOOD_WAIT_1", dc=4))
            return telegram, await stats.fetch(await stats.resolve("news"))

    telegram, snapshot = asyncio.run(main())
    assert [e["outcome"] for e in stats_entries(telegram, "news")] == ["FLOOD_WAIT_1", "ok"]
    assert sleep.calls == [1]
    assert snapshot.requests["GetBroadcastStatsRequest@dc4"] == 2


def test_short_flood_wait_on_the_home_dc(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario, flood_sleep_threshold=2) as (telegram, _c, stats):
            telegram.add_fault(Fault("GetFullChannelRequest", "FLOOD_WAIT_1", peer="local"))
            return telegram, await stats.resolve("local")

    telegram, peer = asyncio.run(main())
    assert [e["outcome"] for e in entries(telegram, peer="local")] == ["ok", "FLOOD_WAIT_1", "ok"]
    assert peer.channel_id == 1002


@pytest.mark.parametrize(("key", "dc"), [("news", 4), ("local", 2)])
def test_long_flood_wait_raises_a_typed_error_with_the_seconds(
    scenario: Path, key: str, dc: int
) -> None:
    sleep = RecordingSleep()

    async def main():
        async with replay_session(scenario, flood_sleep_threshold=2, sleep=sleep) as (
            telegram,
            _client,
            stats,
        ):
            telegram.add_fault(Fault("GetBroadcastStatsRequest", "FLOOD_WAIT_3600", dc=dc))
            peer = await stats.resolve(key)
            with pytest.raises(FloodWaitTooLong) as caught:
                await stats.fetch(peer)
            return caught.value

    error = asyncio.run(main())
    assert (error.seconds, error.request_name, error.peer) == (
        3600,
        "GetBroadcastStatsRequest",
        key,
    )
    assert "3600" in str(error) and key in str(error)
    assert sleep.calls == []


def test_chp_call_fail_is_retried_with_backoff(scenario: Path) -> None:
    sleep = RecordingSleep()

    async def main():
        async with replay_session(scenario, sleep=sleep, base_delay=0.01) as (
            telegram,
            _client,
            stats,
        ):
            telegram.add_fault(Fault("GetBroadcastStatsRequest", "CHP_CALL_FAIL", times=2, dc=4))
            return telegram, await stats.fetch(await stats.resolve("news"))

    telegram, snapshot = asyncio.run(main())
    assert [e["outcome"] for e in stats_entries(telegram, "news")] == [
        "CHP_CALL_FAIL",
        "CHP_CALL_FAIL",
        "ok",
    ]
    assert sleep.calls == [0.01, 0.02]
    assert len(snapshot.graphs) == 12


def test_retries_are_bounded(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario, retries=2) as (telegram, _client, stats):
            telegram.add_fault(Fault("GetBroadcastStatsRequest", "CHP_CALL_FAIL", times=50, dc=4))
            peer = await stats.resolve("news")
            with pytest.raises(TelegramRequestFailed) as caught:
                await stats.fetch(peer)
            return telegram, caught.value

    telegram, error = asyncio.run(main())
    assert len(stats_entries(telegram, "news")) == 3
    assert "GetBroadcastStatsRequest" in str(error) and "news" in str(error)
    assert "CHP_CALL_FAIL" in str(error)


@pytest.mark.parametrize(
    ("request_name", "dc", "key"),
    [
        ("LoadAsyncGraphRequest", 4, "news"),  # exported sender
        ("GetBroadcastStatsRequest", 2, "local"),  # home DC, through Telethon's _call
    ],
)
def test_a_dropped_connection_is_retried(
    scenario: Path, request_name: str, dc: int, key: str
) -> None:
    async def main():
        async with replay_session(scenario) as (telegram, _client, stats):
            telegram.add_fault(Fault(request_name, "CONNECTION_DROPPED", dc=dc))
            return telegram, await stats.fetch(await stats.resolve(key))

    telegram, snapshot = asyncio.run(main())
    outcomes = [e["outcome"] for e in entries(telegram, peer=key, request=request_name)]
    assert outcomes[:2] == ["CONNECTION_DROPPED", "ok"]
    assert {g.kind for g in snapshot.graphs if g.field in ASYNC_BROADCAST} == {"async"}


def test_fault_from_scenario_json_fails_one_peer_only(tmp_path: Path) -> None:
    root = standard_scenario(
        tmp_path / "s",
        faults=[
            {
                "request": "GetFullChannelRequest",
                "peer": "news",
                "error": "CHANNEL_PRIVATE",
                "times": 1,
            }
        ],
    )

    async def main():
        async with replay_session(root) as (_telegram, _client, stats):
            return await resolve_and_fetch(stats, ["news", "local", "chat", "norights"])

    outcomes = asyncio.run(main())
    assert [o.status for o in outcomes] == ["failed", "loaded", "loaded", "skipped"]
    assert isinstance(outcomes[0].error, PeerNotFound)
    assert "CHANNEL_PRIVATE" in outcomes[0].reason


def test_concurrency_is_bounded(tmp_path: Path) -> None:
    root = write_scenario(tmp_path / "s", latency=0.005)
    keys = [f"chan{i}" for i in range(5)]
    for i, key in enumerate(keys):
        write_peer(root, key, channel_id=2000 + i, stats_dc=4)

    async def main():
        async with replay_session(root, concurrency=2) as (telegram, _client, stats):
            telegram.max_in_flight = 0
            return telegram, await resolve_and_fetch(stats, keys)

    telegram, outcomes = asyncio.run(main())
    assert [o.status for o in outcomes] == ["loaded"] * 5
    assert telegram.max_in_flight == 2


def test_unknown_username_is_peer_not_found_naming_it(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario) as (_telegram, _client, stats):
            with pytest.raises(PeerNotFound) as caught:
                await stats.resolve("nosuchchannel")
            return caught.value, await resolve_and_fetch(stats, ["nosuchchannel", "local"])

    error, outcomes = asyncio.run(main())
    assert error.entry == "nosuchchannel"
    assert "nosuchchannel" in str(error) and "USERNAME_NOT_OCCUPIED" in str(error)
    assert [o.status for o in outcomes] == ["failed", "loaded"]


def test_a_known_peer_is_never_resolved_again(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario) as (telegram, _client, stats):
            peer = await stats.resolve("news")
            again = await stats.resolve("news")
            assert again == peer
            return telegram, peer

    telegram, peer = asyncio.run(main())
    assert len(entries(telegram, request="ResolveUsernameRequest")) == 1

    async def later_run():
        async with replay_session(scenario) as (telegram, _client, stats):
            fresh = await stats.resolve("news", known=peer)
            outcomes = await resolve_and_fetch(stats, ["news"], {"news": peer})
            return telegram, fresh, outcomes

    telegram, fresh, outcomes = asyncio.run(later_run())
    assert fresh == peer
    assert entries(telegram, request="ResolveUsernameRequest") == []
    assert outcomes[0].status == "loaded"


def test_a_stale_access_hash_resolves_the_username_once(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario) as (telegram, client, stats):
            good = await stats.resolve("news")
            stale = replace(good, access_hash=good.access_hash + 1)
            # A new StatsClient (no memory of the first resolve), as in a later run.
            fresh = await StatsClient(client).resolve("news", known=stale)
            return telegram, good, fresh

    telegram, good, fresh = asyncio.run(main())
    assert fresh == good
    assert len(entries(telegram, request="ResolveUsernameRequest")) == 2
    assert [e["outcome"] for e in entries(telegram, request="GetFullChannelRequest")] == [
        "ok",
        "CHANNEL_INVALID",
        "ok",
    ]


def test_numeric_id_is_resolved_by_channel_id(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario) as (telegram, _client, stats):
            return telegram, await stats.resolve("-1001002"), await stats.resolve("1001")

    telegram, local, news = asyncio.run(main())
    assert (local.key, local.channel_id, local.username) == ("-1001002", 1002, "local")
    assert news.channel_id == 1001
    assert entries(telegram, request="ResolveUsernameRequest") == []
    assert len(entries(telegram, request="GetChannelsRequest")) == 2


def fetch_news(scenario: Path, *faults: Fault, **policy):
    """One snapshot of ``news`` (stats on DC 4) with ``faults``; the log, snapshot, sleeps."""
    sleep = RecordingSleep()

    async def main():
        async with replay_session(scenario, sleep=sleep, **policy) as (telegram, _client, stats):
            for fault in faults:
                telegram.add_fault(fault)
            return telegram, await stats.fetch(await stats.resolve("news"))

    telegram, snapshot = asyncio.run(main())
    return telegram, snapshot, sleep


def test_a_token_that_stays_invalid_leaves_the_async_graphs_missing(scenario: Path) -> None:
    telegram, snapshot, _ = fetch_news(
        scenario, Fault("LoadAsyncGraphRequest", "GRAPH_INVALID_RELOAD", times=100)
    )
    assert not snapshot.complete
    assert set(snapshot.missing_graphs) == ASYNC_BROADCAST
    assert {g.error for g in snapshot.graphs if g.kind == "missing"} == {"GRAPH_INVALID_RELOAD"}
    assert len(stats_entries(telegram, "news")) <= 2
    assert snapshot.graph("growth_graph").kind == "inline"


def test_a_connection_dropped_twice_is_retried_and_the_snapshot_complete(scenario: Path) -> None:
    telegram, snapshot, sleep = fetch_news(
        scenario, Fault("LoadAsyncGraphRequest", "CONNECTION_DROPPED", times=2)
    )
    assert snapshot.complete and snapshot.missing_graphs == ()
    outcomes = [e["outcome"] for e in entries(telegram, request="LoadAsyncGraphRequest")]
    assert outcomes.count("CONNECTION_DROPPED") == 2
    assert snapshot.requests["LoadAsyncGraphRequest@dc4"] == len(ASYNC_BROADCAST) + 2
    assert sleep.calls == [0.01, 0.02]  # one backoff, doubling, per retry


def test_a_connection_that_stays_down_leaves_the_async_graphs_missing(scenario: Path) -> None:
    telegram, snapshot, _ = fetch_news(
        scenario, Fault("LoadAsyncGraphRequest", "CONNECTION_DROPPED", times=100), retries=2
    )
    assert set(snapshot.missing_graphs) == ASYNC_BROADCAST
    for graph in snapshot.graphs:
        if graph.kind == "missing":
            assert graph.error.startswith("CONNECTION: ") and graph.data is None
    # Each graph: the first try and two retries; the stats request once.
    assert snapshot.requests["LoadAsyncGraphRequest@dc4"] == 3 * len(ASYNC_BROADCAST)
    assert len(stats_entries(telegram, "news")) == 1


def test_a_short_flood_wait_on_one_graph_is_slept(scenario: Path) -> None:
    telegram, snapshot, sleep = fetch_news(
        scenario,
        Fault("LoadAsyncGraphRequest", "FLOOD_WAIT_3", times=1),
        flood_sleep_threshold=60,
    )
    assert snapshot.complete
    assert sleep.calls == [3]
    loads = [e["outcome"] for e in entries(telegram, request="LoadAsyncGraphRequest")]
    assert loads.count("FLOOD_WAIT_3") == 1


def test_a_long_flood_wait_on_one_graph_keeps_the_others(
    scenario: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    telegram, snapshot, sleep = fetch_news(
        scenario,
        Fault("LoadAsyncGraphRequest", "FLOOD_WAIT_3600", times=1),
        flood_sleep_threshold=60,
    )
    assert len(snapshot.missing_graphs) == 1
    missing = snapshot.graph(snapshot.missing_graphs[0])
    assert missing.error == "FLOOD_WAIT_3600 (wait 3600 s)"
    assert {g.kind for g in snapshot.graphs if g.field in ASYNC_BROADCAST} == {"async", "missing"}
    assert sum(g.kind == "async" for g in snapshot.graphs) == len(ASYNC_BROADCAST) - 1
    assert len(stats_entries(telegram, "news")) == 1
    assert sleep.calls == []
    assert missing.field in caplog.text


def test_flood_waits_longer_than_five_seconds_are_logged_as_warnings(
    scenario: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tgstats_dagster.telegram.retry")
    fetch_news(
        scenario,
        Fault("GetBroadcastStatsRequest", "FLOOD_WAIT_2", times=1),
        Fault("LoadAsyncGraphRequest", "FLOOD_WAIT_30", times=1),
    )
    waits = [(r.levelno, r.getMessage()) for r in caplog.records if "flood wait" in r.getMessage()]
    assert [level for level, _ in waits] == [logging.INFO, logging.WARNING]
    assert "flood wait of 30 s" in waits[1][1] and "within the threshold" in waits[1][1]


def test_a_stats_graph_error_file_is_complete(tmp_path: Path) -> None:
    root = write_scenario(tmp_path / "s")
    write_peer(root, "news", channel_id=1001, stats_dc=4, graph_errors={"mute_graph": "TOO_NEW"})
    _, snapshot, _ = fetch_news(root)
    assert snapshot.complete
    assert (snapshot.graph("mute_graph").kind, snapshot.graph("mute_graph").error) == (
        "error",
        "TOO_NEW",
    )


def test_outcomes_come_as_they_complete(tmp_path: Path) -> None:
    root = write_scenario(tmp_path / "s", latency=0.002)
    write_peer(root, "slow", channel_id=3001, stats_dc=4)
    write_peer(root, "fast", channel_id=3002, stats_dc=2, graphs={})

    async def main():
        async with replay_session(root, concurrency=2) as (_telegram, _client, stats):
            resolved = [o async for o in stats.resolve_each(["slow", "fast"], {})]
            peers = [o.peer for o in resolved]
            return [o async for o in stats.fetch_each(sorted(peers, key=lambda p: p.key)[::-1])]

    outcomes = asyncio.run(main())
    # "slow" is asked first but needs an exported sender and four graph loads.
    assert [(o.key, o.status) for o in outcomes] == [("fast", "loaded"), ("slow", "loaded")]


def test_a_long_flood_wait_on_the_stats_request_fails_that_peer_only(scenario: Path) -> None:
    async def main():
        async with replay_session(scenario) as (telegram, _client, stats):
            telegram.add_fault(Fault("GetBroadcastStatsRequest", "FLOOD_WAIT_3600", dc=4))
            return await resolve_and_fetch(stats, ["news", "local"])

    news, local = asyncio.run(main())
    assert news.status == "failed" and isinstance(news.error, FloodWaitTooLong)
    assert news.error.seconds == 3600 and "3600" in news.reason
    assert local.status == "loaded" and local.snapshot.complete
