"""The synthetic scenario generator and the bundled demo scenario it made."""

from __future__ import annotations

import asyncio
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from scripts.synthetic import (
    DEMO_DAYS,
    DEMO_END,
    DEMO_END_DAY,
    DEMO_PEERS,
    SyntheticPeer,
    write_scenario,
)
from tgstats_dagster.telegram.content_models import NoRevenue, RevenueStats
from tgstats_dagster.telegram.graphs import XStep, daily_points, parse_graph, x_day
from tgstats_dagster.telegram.record_content import window_days
from tgstats_dagster.telegram.replay import DEMO_SCENARIO_DIR
from tgstats_dagster.telegram.zooms import uncovered, zoom_tokens
from tgstats_dagster_tests.telegram.scenarios import replay_session

DEMO_FIRST_DAY = DEMO_END_DAY - timedelta(days=DEMO_DAYS - 1)


def tree(root: Path) -> dict[str, bytes]:
    return {
        path.relative_to(root).as_posix(): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def utc_day(seconds: int) -> date:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).date()


@pytest.fixture(scope="module")
def demo() -> Path:
    return DEMO_SCENARIO_DIR


def test_same_arguments_give_identical_files(tmp_path: Path) -> None:
    faults = [{"request": "GetBroadcastStatsRequest", "error": "FLOOD_WAIT_3", "times": 1}]
    for name in ("a", "b"):
        write_scenario(tmp_path / name, end_day=date(2026, 3, 1), days=30, seed=7, faults=faults)
    first, second = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert first == second and len(first) > 10
    assert load(tmp_path / "a" / "scenario.json")["faults"] == faults


def test_another_seed_gives_other_figures(tmp_path: Path) -> None:
    write_scenario(tmp_path / "a", end_day=date(2026, 3, 1), days=30, seed=1)
    write_scenario(tmp_path / "b", end_day=date(2026, 3, 1), days=30, seed=2)
    growth = "tgstats_demo_channel/graphs/followers_graph.json"
    assert tree(tmp_path / "a")[growth] != tree(tmp_path / "b")[growth]


def test_the_bundled_demo_equals_a_fresh_generation(tmp_path: Path, demo: Path) -> None:
    write_scenario(tmp_path / "fresh", end_day=DEMO_END_DAY, days=DEMO_DAYS, end=DEMO_END)
    assert tree(demo) == tree(tmp_path / "fresh"), (
        "the bundled demo scenario differs from a fresh generation: "
        "run `python scripts/make_demo_scenario.py` and keep its output"
    )


def test_the_bundled_demo_is_small_and_says_it_is_synthetic(demo: Path) -> None:
    assert sum(len(content) for content in tree(demo).values()) < 1_000_000
    scenario = load(demo / "scenario.json")
    assert "not real Telegram statistics" in scenario["description"]
    assert scenario["home_dc"] == 2 and scenario["faults"] == []


def test_writing_into_a_folder_with_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "left_over.txt").write_text("x")
    with pytest.raises(FileExistsError):
        write_scenario(tmp_path, end_day=date(2026, 3, 1))


def test_every_demo_graph_parses(demo: Path) -> None:
    graph_files = sorted(demo.glob("*/graphs/*.json"))
    assert len(graph_files) == 17
    for path in graph_files:
        data = path.read_text(encoding="ascii")
        graph = parse_graph(path.stem, data)
        assert graph.series, path
        assert all(min(s.values) >= 0 and type(min(s.values)) is int for s in graph.series)


def test_daily_graphs_cover_exactly_the_period_days(demo: Path) -> None:
    period_days = {DEMO_FIRST_DAY + timedelta(days=i) for i in range(DEMO_DAYS)}
    daily_fields = 0
    for peer_dir in (demo / "tgstats_demo_channel", demo / "tgstats_demo_group"):
        period = load(peer_dir / "stats.json")["period"]
        assert utc_day(period["min_date"]) == DEMO_FIRST_DAY
        assert utc_day(period["max_date"]) == DEMO_END_DAY
        for path in sorted((peer_dir / "graphs").glob("*.json")):
            graph = parse_graph(path.stem, path.read_text(encoding="ascii"))
            if graph.step is XStep.DAILY:
                daily_fields += 1
                assert {day for day, _, _ in daily_points(graph)} == period_days, path
                assert all(x % 86_400_000 == 0 for x in graph.x)  # 00:00 UTC
    assert daily_fields == 8 + 6


def test_index_axes(demo: Path) -> None:
    for peer in ("tgstats_demo_channel", "tgstats_demo_group"):
        path = demo / peer / "graphs" / "top_hours_graph.json"
        graph = parse_graph("top_hours_graph", path.read_text(encoding="ascii"))
        assert graph.step is XStep.HOUR_INDEX and graph.x == tuple(range(24))
    path = demo / "tgstats_demo_group" / "graphs" / "weekdays_graph.json"
    graph = parse_graph("weekdays_graph", path.read_text(encoding="ascii"))
    assert graph.step is XStep.WEEKDAY_INDEX and graph.x == tuple(range(7))


def test_channel_graph_shapes_and_metric_names(demo: Path) -> None:
    graphs = demo / "tgstats_demo_channel" / "graphs"

    def parsed(field: str):
        return parse_graph(field, (graphs / f"{field}.json").read_text(encoding="ascii"))

    growth = parsed("growth_graph")
    followers = parsed("followers_graph")
    assert [growth.metric(s) for s in growth.series] == ["growth.total_followers"]
    assert [s.key for s in followers.series] == ["joined", "left"]
    # the totals follow the joins and leaves, and end at the member count
    total, joined, left = growth.series[0].values, *(s.values for s in followers.series)
    assert total[-1] == 12_840
    assert all(total[i] == total[i - 1] + joined[i] - left[i] for i in range(1, len(total)))
    interactions = parsed("interactions_graph")
    assert interactions.y_scaled and [s.key for s in interactions.series] == ["views", "shares"]
    languages = parsed("languages_graph")
    assert languages.percentage and languages.stacked
    assert [s.key for s in languages.series] == [
        "english",
        "русский",
        "portuguese_brazil",
        "español",
        "other",
    ]
    per_day = zip(*(s.values for s in languages.series), strict=True)
    assert [sum(shares) for shares in per_day] == list(total)
    sources = parsed("views_by_source_graph")
    assert sources.stacked and "url" in {s.key for s in sources.series}
    assert {s.type for s in sources.series} == {"bar"}
    reactions = parsed("reactions_by_emotion_graph")
    assert [reactions.metric(s) for s in reactions.series][:3] == [
        "reactions_by_emotion.👍",
        "reactions_by_emotion.❤",
        "reactions_by_emotion.🔥",
    ]
    assert all("#" in (s.color or "") for s in growth.series + followers.series)
    assert dict(growth.formatters)["xTickFormatter"]


def test_error_and_missing_graph_files(demo: Path) -> None:
    graphs = demo / "tgstats_demo_channel" / "graphs"
    error = (graphs / "story_interactions_graph.error").read_text(encoding="utf-8")
    assert error and error != "NOT_ENOUGH_DATA" and not error.endswith("\n")
    assert not (graphs / "story_interactions_graph.json").exists()
    for field in ("iv_interactions_graph", "story_reactions_by_emotion_graph"):
        assert not list(graphs.glob(f"{field}.*"))


def test_peers(demo: Path) -> None:
    home_dc = load(demo / "scenario.json")["home_dc"]
    channel = load(demo / "tgstats_demo_channel" / "peer.json")
    assert list(channel) == [
        "id",
        "title",
        "username",
        "broadcast",
        "megagroup",
        "can_view_stats",
        "stats_dc",
        "participants_count",
    ]
    assert channel["broadcast"] and not channel["megagroup"] and channel["can_view_stats"]
    assert channel["stats_dc"] == 4 != home_dc
    assert "demo" in channel["title"]
    group = load(demo / "tgstats_demo_group" / "peer.json")
    assert group["megagroup"] and not group["broadcast"] and group["stats_dc"] == home_dc
    norights = demo / "tgstats_demo_norights"
    assert load(norights / "peer.json")["can_view_stats"] is False
    assert sorted(p.name for p in norights.iterdir()) == ["peer.json"]
    assert {p.name for p in demo.iterdir() if p.is_dir()} == {p.key for p in DEMO_PEERS}


def test_stats_json_shapes(demo: Path) -> None:
    channel = load(demo / "tgstats_demo_channel" / "stats.json")
    assert set(channel) == {
        "period",
        "followers",
        "views_per_post",
        "shares_per_post",
        "reactions_per_post",
        "views_per_story",
        "shares_per_story",
        "reactions_per_story",
        "enabled_notifications",
        "recent_posts_interactions",
    }
    assert channel["followers"]["current"] == 12_840.0
    assert all(type(v) is float for v in channel["enabled_notifications"].values())
    posts = channel["recent_posts_interactions"]
    kinds = {p["_"] for p in posts}
    assert kinds == {"PostInteractionCountersMessage", "PostInteractionCountersStory"}
    for post in posts:
        id_key = "msg_id" if post["_"] == "PostInteractionCountersMessage" else "story_id"
        assert set(post) == {"_", id_key, "views", "forwards", "reactions"}
    group = load(demo / "tgstats_demo_group" / "stats.json")
    assert {"members", "messages", "viewers", "posters"} <= set(group)
    assert set(group["top_posters"][0]) == {"user_id", "messages", "avg_chars"}
    assert set(group["top_admins"][0]) == {"user_id", "deleted", "kicked", "banned"}
    assert set(group["top_inviters"][0]) == {"user_id", "invitations"}
    user_ids = {u["id"] for u in group["users"]}
    assert {p["user_id"] for p in group["top_posters"]} <= user_ids


def test_custom_peers_and_small_windows(tmp_path: Path) -> None:
    tiny = SyntheticPeer(
        key="tiny_group",
        channel_id=42,
        title="tiny",
        broadcast=False,
        participants_count=3,
        graph_errors=(("messages_graph", "Not enough data to show"),),
    )
    write_scenario(tmp_path / "s", peers=[tiny], end_day=date(2026, 1, 2), days=2, home_dc=1)
    graphs = tmp_path / "s" / "tiny_group" / "graphs"
    growth = parse_graph("growth_graph", (graphs / "growth_graph.json").read_text("ascii"))
    assert growth.step is XStep.DAILY and growth.series[0].values[-1] == 3
    assert min(growth.series[0].values) >= 0
    assert (graphs / "messages_graph.error").read_text() == "Not enough data to show"
    assert load(tmp_path / "s" / "scenario.json")["home_dc"] == 1


def test_the_demo_serves_posts_stories_zooms_and_revenue_through_the_client(demo: Path) -> None:
    async def main() -> dict[str, Any]:
        async with replay_session(demo) as (_telegram, _client, stats):
            content = stats.content
            channel = await stats.resolve("tgstats_demo_channel")
            snapshot = await stats.fetch(channel)
            days = window_days(snapshot)
            tokens = zoom_tokens(snapshot.graphs)
            posts = await content.posts(channel, days[0], days[-1])
            stories = await content.stories(channel)
            group = await stats.resolve("tgstats_demo_group")
            group_snapshot = await stats.fetch(group)
            group_tokens = zoom_tokens(group_snapshot.graphs)
            return {
                "days": days,
                "tokens": tokens,
                "zooms": await content.zooms(channel, tokens, days),
                "posts": posts,
                "stories": stories,
                "post_stats": await content.post_stats(channel, "message", posts[-1].post_id),
                "story_stats": await content.post_stats(channel, "story", stories[-1].post_id),
                "revenue": await content.revenue(channel),
                "group_tokens": group_tokens,
                "group_zooms": await content.zooms(group, group_tokens, days),
                "group_posts": await content.posts(group, days[0], days[-1]),
                "group_revenue": await content.revenue(group),
            }

    got = asyncio.run(main())
    days = got["days"]
    # The window is served moved to end yesterday, and everything beyond the stats with it.
    assert len(days) == DEMO_DAYS and days[-1] == datetime.now(timezone.utc).date() - timedelta(1)

    # Zooms: the hourly detail of every day of the window, one zoom a week.
    assert set(got["tokens"]) == {"followers_graph"}
    zooms = got["zooms"]
    assert {z.graph.kind for z in zooms} == {"inline"} and len(zooms) == 13
    assert uncovered(["followers_graph"], days, {}, zooms) == {}
    middle = parse_graph("followers_graph", zooms[1].graph.data)
    assert middle.step is XStep.HOURLY and len(middle.x) == 168
    assert set(got["group_tokens"]) == {"members_graph"}
    assert uncovered(["members_graph"], days, {}, got["group_zooms"]) == {}

    # Posts over the window, the newest on its last day, with counters and reactions.
    posts = got["posts"]
    assert 20 <= len(posts) <= 40
    assert posts[-1].published_at.date() == days[-1] and posts[0].published_at.date() >= days[0]
    assert all(p.views and p.reactions == sum(p.reactions_by_emoji.values()) for p in posts)
    assert any("paid" in p.reactions_by_emoji for p in posts)
    newest = got["post_stats"]
    assert newest.complete and newest.forwards
    assert {g.kind for g in newest.graphs} == {"async"}
    views = parse_graph("views_graph", newest.graphs[0].data)
    assert views.step is XStep.HOURLY and x_day(views.x[0]) == days[-1]

    # Stories: three, the newest with its graphs and a story among its forwards.
    assert len(got["stories"]) == 3
    story = got["story_stats"]
    assert story.complete and {f.source_kind for f in story.forwards} == {"message", "story"}

    # Revenue: Stars (fractional) and TON (nanotons), the daily graph moved too.
    revenue = got["revenue"]
    assert isinstance(revenue, RevenueStats)
    stars, ton = revenue.currencies
    assert (stars.currency, ton.currency) == ("stars", "ton")
    assert stars.current_balance != int(stars.current_balance)
    assert ton.overall_revenue == int(ton.overall_revenue) > 1_000_000_000
    daily = parse_graph("revenue_graph", stars.graphs[0].data)
    assert daily.is_daily and x_day(daily.x[-1]) == days[-1]

    # The supergroup has zooms but no channel posts, and no revenue.
    assert got["group_posts"] == ()
    assert isinstance(got["group_revenue"], NoRevenue)
