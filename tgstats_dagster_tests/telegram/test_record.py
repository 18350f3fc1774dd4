"""``tgstats record`` over the offline Telegram: a recording replays as it was recorded.

The command's work is called as the CLI calls it (settings from the environment, the
``--peers`` value parsed as the CLI parses it), without going through the CLI itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections import Counter
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

import pytest
from telethon.crypto import AuthKey
from telethon.sessions import StringSession

from tgstats_dagster.cli import main
from tgstats_dagster.telegram.figures import figures, megagroup_tops, post_interactions
from tgstats_dagster.telegram.record_content import window_days
from tgstats_dagster.telegram.zooms import zoom_tokens
from tgstats_dagster_tests.telegram.scenarios import (
    content_scenario,
    contest,
    replay_session,
    standard_scenario,
)

API_HASH = "0123456789abcdef0123456789abcdef"


def a_session_string() -> str:
    session = StringSession()
    session.set_dc(2, "149.154.167.51", 443)
    session.auth_key = AuthKey(bytes(range(256)))
    return session.save()


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "scenario.json"
    }


def record(monkeypatch, scenario: Path, out: Path, log: Path, peers: str) -> int:
    monkeypatch.setenv("TGSTATS_TELEGRAM_REPLAY", str(scenario))
    monkeypatch.setenv("TGSTATS_REPLAY_LOG", str(log))
    return main(["record", "--peers", peers, "--out", str(out)])


def test_record_reproduces_every_graph_byte_for_byte(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    session_string = a_session_string()
    monkeypatch.setenv("TG_SESSION", session_string)
    monkeypatch.setenv("TG_API_ID", "12345")
    monkeypatch.setenv("TG_API_HASH", API_HASH)
    scenario = standard_scenario(tmp_path / "scenario")
    out, log = tmp_path / "recorded", tmp_path / "replay.jsonl"

    assert record(monkeypatch, scenario, out, log, "@news,norights,chat") == 0

    for key in ("news", "chat"):
        original = {p.name: p.read_bytes() for p in (scenario / key / "graphs").glob("*.json")}
        recorded = {p.name: p.read_bytes() for p in (out / key / "graphs").glob("*.json")}
        assert recorded == original
        # The figures beyond the graphs: headline figures, posts and stories, tops and users.
        original_stats = json.loads((scenario / key / "stats.json").read_text())
        recorded_stats = json.loads((out / key / "stats.json").read_text())
        for read in (post_interactions, megagroup_tops):
            assert read(recorded_stats) == read(original_stats)
        assert (post_interactions if key == "news" else megagroup_tops)(recorded_stats)
        # A figure the scenario leaves out is served, and so recorded, as zero.
        served = {f.figure: f for f in figures(recorded_stats)}
        written = {f.figure: f for f in figures(original_stats)}
        assert {name: served[name] for name in written} == written
        assert {(f.current, f.previous) for n, f in served.items() if n not in written} == {(0, 0)}
    assert (out / "news" / "graphs" / "mute_graph.error").read_text() == "NOT_ENOUGH_DATA"
    norights = json.loads((out / "norights" / "peer.json").read_text())
    assert norights["can_view_stats"] is False
    assert not (out / "norights" / "stats.json").exists()
    assert json.loads((out / "scenario.json").read_text())["home_dc"] == 2
    assert json.loads((out / "news" / "peer.json").read_text())["stats_dc"] == 4

    entries = [json.loads(line) for line in log.read_text().splitlines()]
    snapshots = ("GetBroadcastStatsRequest", "GetMegagroupStatsRequest")
    stats_requests = Counter(e["peer"] for e in entries if e["request"] in snapshots)
    assert stats_requests == {"news": 1, "chat": 1}
    loads = [e for e in entries if e["request"] == "LoadAsyncGraphRequest"]
    assert {e["dc"] for e in loads} == {4}
    assert Counter(e["peer"] for e in loads) == {"news": 4, "chat": 2}  # each async graph once
    assert len(entries) == len(log.read_text().splitlines())

    printed = capsys.readouterr()
    assert "news" in printed.out and "skipped" in printed.out and "requests:" in printed.out

    # The recording replays as recorded: recording it again gives the same files.
    again = tmp_path / "again"
    assert record(monkeypatch, out, again, tmp_path / "again.jsonl", "news,norights,chat") == 0
    assert files(again) == files(out)

    everything = [printed.out, printed.err, caplog.text, log.read_text()]
    everything += [p.read_text(encoding="utf-8") for p in out.rglob("*") if p.is_file()]
    for text in everything:
        assert session_string not in text
        assert API_HASH not in text


def test_record_exits_non_zero_when_a_peer_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = standard_scenario(tmp_path / "scenario")
    out = tmp_path / "recorded"
    assert record(monkeypatch, scenario, out, tmp_path / "log", "news,nosuchpeer") == 1
    printed = capsys.readouterr()
    assert "nosuchpeer" in printed.err
    assert "USERNAME_NOT_OCCUPIED" in printed.out
    assert (out / "news" / "peer.json").is_file()
    assert not (out / "nosuchpeer").exists()


def test_record_of_an_incomplete_snapshot_names_it_and_exits_non_zero(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    faults = [{"request": "LoadAsyncGraphRequest", "error": "GRAPH_INVALID_RELOAD", "times": 100}]
    scenario = standard_scenario(tmp_path / "scenario", faults=faults)
    out = tmp_path / "recorded"
    assert record(monkeypatch, scenario, out, tmp_path / "log", "news") == 1
    printed = capsys.readouterr()
    assert "news" in printed.err and "incomplete" in printed.out
    written = {p.name for p in (out / "news" / "graphs").iterdir()}
    assert "growth_graph.json" in written
    assert "languages_graph.json" not in written and "languages_graph.error" not in written


# -- beyond the stats: zooms, posts, stories, revenue ---------------------------------------

#: content_scenario's posts run from 2018-04-01 to 2018-06-02 (one every 6 hours).
CONTENT_WINDOW = (date(2018, 4, 1), date(2018, 6, 2))


def content_recording_scenario(root: Path) -> Path:
    """content_scenario with ``news``'s window over its posts, stories and zooms."""
    content_scenario(root)
    path = root / "news" / "stats.json"
    stats = json.loads(path.read_text(encoding="utf-8"))
    first, last = (
        int(datetime.combine(d, time(0), timezone.utc).timestamp()) for d in CONTENT_WINDOW
    )
    stats["period"] = {"min_date": first, "max_date": last}
    path.write_text(json.dumps(stats), encoding="utf-8")
    return root


def settled(value: Any) -> Any:
    """A content value without the moment it was fetched (``fetched_at`` at any depth)."""
    if isinstance(value, tuple):
        return tuple(settled(v) for v in value)
    if isinstance(value, dict):
        return {k: settled(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: settled(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if "fetched_at" in changes:
            changes["fetched_at"] = None
        return dataclasses.replace(value, **changes)
    return value


def client_content(root: Path, post_ids: list[int], story_ids: list[int]) -> dict[str, Any]:
    """What the production client reads of ``news`` and ``local`` from a scenario folder."""

    async def main() -> dict[str, Any]:
        async with replay_session(root) as (_telegram, _client, stats):
            news = await stats.resolve("news")
            snapshot = await stats.fetch(news)
            days = window_days(snapshot)
            content = stats.content
            return settled(
                {
                    "graphs": snapshot.graphs,
                    "zooms": await content.zooms(news, zoom_tokens(snapshot.graphs), days),
                    "posts": await content.posts(news, days[0], days[-1]),
                    "stories": await content.stories(news, days[0], days[-1]),
                    "post_stats": tuple(
                        [await content.post_stats(news, "message", i) for i in post_ids]
                        + [await content.post_stats(news, "story", i) for i in story_ids]
                    ),
                    "revenue": await content.revenue(news),
                    "local_revenue": await content.revenue(await stats.resolve("local")),
                    "chat_revenue": await content.revenue(await stats.resolve("chat")),
                }
            )

    return asyncio.run(main())


def test_record_round_trips_zooms_posts_stories_and_revenue(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    scenario = content_recording_scenario(tmp_path / "scenario")
    out = tmp_path / "recorded"
    assert record(monkeypatch, scenario, out, tmp_path / "log", "news,local,chat,norights") == 0
    printed = capsys.readouterr().out
    assert "news: 5 zoom(s), 250 post(s), 3 story(ies), 23 with statistics" in printed

    news = out / "news"
    # Zooms: the window's days by the fewest zooms, each under the day asked, byte for byte.
    zoom_files = sorted((news / "graphs" / "followers_graph.zoom").iterdir())
    assert [p.name for p in zoom_files][:4] == [
        "2018-04-04.json",
        "2018-04-11.json",
        "2018-04-18.json",
        "2018-04-25.json",
    ]
    original = scenario / "news" / "graphs" / "followers_graph.zoom"
    assert all(p.read_bytes() == (original / p.name).read_bytes() for p in zoom_files)
    assert [p.name for p in (news / "graphs" / "interactions_graph.zoom").iterdir()] == [
        "2018-04-11.json"
    ]
    # Posts and stories of the window; statistics of the 20 newest posts and every story.
    posts = json.loads((news / "posts" / "posts.json").read_text(encoding="utf-8"))
    assert len(posts) == 250 and posts[1]["reactions"] == {"👍": 1, "❤": 1}
    assert posts[0] == {
        "id": 1,
        "date": "2018-04-01T00:00:00Z",
        "message": "post 1 ✓",
        "views": 100,
        "forwards": 0,
        "replies": 0,
    }
    with_stats = sorted(int(p.name) for p in (news / "posts").iterdir() if p.is_dir())
    assert with_stats == list(range(231, 251))
    post_250 = news / "posts" / "250"
    assert (post_250 / "views_graph.json").read_bytes() == contest("overview_4.json").encode()
    assert (post_250 / "reactions_by_emotion_graph.error").read_text() == "NOT_ENOUGH_DATA_YET"
    assert len(json.loads((post_250 / "public_forwards.json").read_text())) == 250
    story_forwards = json.loads((news / "stories" / "2" / "public_forwards.json").read_text())
    assert [f["kind"] for f in story_forwards] == ["message", "message", "story"]
    # Revenue: amounts as numbers, Stars fractional, TON in nanotons; none for the group.
    stars = json.loads((news / "revenue" / "stars.json").read_text())
    assert stars["status"]["current_balance"] == 1234.5 and stars["usd_rate"] == 0.013
    ton = json.loads((news / "revenue" / "ton.json").read_text())
    assert ton["status"]["overall_revenue"] == 9_000_000_000
    assert isinstance(ton["status"]["overall_revenue"], int)
    assert not (out / "chat" / "revenue").exists() and not (out / "chat" / "posts").exists()
    assert not (out / "local" / "posts").exists()  # its posts are outside its window
    assert sorted(p.name for p in (out / "norights").iterdir()) == ["peer.json"]

    # Replayed, the recording gives the client the same values, graphs byte for byte.
    stories = [1, 2, 3]
    assert client_content(out, with_stats, stories) == client_content(scenario, with_stats, stories)
    # And recording the recording writes the same files.
    again = tmp_path / "again"
    assert record(monkeypatch, out, again, tmp_path / "again.log", "news,local,chat,norights") == 0
    assert files(again) == files(out)


def test_record_bounds_post_statistics_and_rewrites_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = content_recording_scenario(tmp_path / "scenario")
    out, log = tmp_path / "recorded", tmp_path / "log"
    assert record(monkeypatch, scenario, out, log, "news") == 0
    monkeypatch.setenv("TGSTATS_TELEGRAM_REPLAY", str(scenario))
    assert main(["record", "--peers", "news", "--out", str(out), "--post-stats", "2"]) == 0
    folders = sorted(p.name for p in (out / "news" / "posts").iterdir() if p.is_dir())
    assert folders == ["249", "250"]
    assert sorted(p.name for p in (out / "news" / "stories").iterdir() if p.is_dir()) == [
        "2",
        "3",
    ]
    asked = Counter(json.loads(line)["request"] for line in log.read_text().splitlines())
    assert asked["GetMessageStatsRequest"] == 20 + 2


def test_content_that_could_not_be_fetched_is_named_and_fails_the_recording(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # The newest post's statistics come first: its forwards are refused (not retried).
    faults = [{"request": "GetMessagePublicForwardsRequest", "error": "OFFSET_INVALID"}]
    scenario = content_recording_scenario(tmp_path / "scenario")
    settings = json.loads((scenario / "scenario.json").read_text())
    (scenario / "scenario.json").write_text(json.dumps({**settings, "faults": faults}))
    out = tmp_path / "recorded"
    assert record(monkeypatch, scenario, out, tmp_path / "log", "news") == 1
    printed = capsys.readouterr()
    assert "news: not recorded: posts/250/public_forwards" in printed.out
    assert "news" in printed.err
    assert not (out / "news" / "posts" / "250" / "public_forwards.json").exists()
    assert (out / "news" / "posts" / "250" / "views_graph.json").is_file()
