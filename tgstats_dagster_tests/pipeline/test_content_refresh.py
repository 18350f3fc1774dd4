"""What Telegram serves once is loaded once: zooms, settled posts' statistics and a reused
snapshot's content cost no request again, and Dagster records the content's partitions
when their rows change. Real Dagster runs over the offline Telegram, PostgreSQL storage."""

from __future__ import annotations

import io
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import text

from tgstats_dagster.cli.load import load
from tgstats_dagster.partitions import PeerDay
from tgstats_dagster.settings import load_settings
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster_tests.pipeline.conftest import (
    CHANNEL,
    END_DAY,
    GROUP,
    NO_RIGHTS,
    replay_requests,
)

pytestmark = pytest.mark.storage

PEERS = (CHANNEL, GROUP, NO_RIGHTS)
HOURLY, POSTS = dg.AssetKey("channel_hourly"), dg.AssetKey("posts")
CONTENT, REVENUE = dg.AssetKey("content_raw"), dg.AssetKey("revenue_status")
ZOOMABLE = {CHANNEL: 1, GROUP: 1}  # graphs with a zoom folder in the scenario, per peer
INLINE = {"growth_graph", "followers_graph", "mute_graph", "top_hours_graph", "members_graph"}


def _load(instance, first, last, *, only_changed=False):
    out = io.StringIO()
    result = load(load_settings(), instance, PEERS, first, last, out, only_changed=only_changed)
    assert all(r.acceptable for r in result.reports), out.getvalue()
    return out.getvalue()


def _requests(log: Path, since: int) -> Counter[str]:
    return Counter(r["request"] for r in replay_requests(log)[since:])


def _materialized(instance: dg.DagsterInstance, key: dg.AssetKey) -> Counter[str]:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key), limit=10_000
    ).records
    return Counter(str(r.asset_materialization.partition) for r in records)


def _count(database_url: str, sql: str) -> int:
    with make_engine(database_url).connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


def _async_graphs(scenario: Path, peer: str) -> int:
    """The snapshot's graphs the offline Telegram serves as async tokens."""
    return sum(p.stem not in INLINE for p in (scenario / peer / "graphs").glob("*.json"))


def _posts_between(scenario: Path, peer: str, first, last) -> int:
    listed = [
        *json.loads((scenario / peer / "posts" / "posts.json").read_text()),
        *json.loads((scenario / peer / "stories" / "stories.json").read_text()),
    ]
    return sum(first.isoformat() <= p["date"][:10] <= last.isoformat() for p in listed)


def test_content_is_loaded_once_and_recorded_by_day(
    instance, pipeline_env, use_scenario, database_url, monkeypatch
) -> None:
    log = Path(pipeline_env["TGSTATS_REPLAY_LOG"])
    early = (END_DAY - timedelta(days=27), END_DAY - timedelta(days=14))
    late = (END_DAY - timedelta(days=13), END_DAY)

    _load(instance, *early)
    first = _requests(log, 0)
    # 14 days: the fewest zooms of 7 days each, for each zoomable graph of each peer.
    assert first["LoadAsyncGraphRequest"] >= 2 * sum(ZOOMABLE.values())
    expected_posts = _posts_between(use_scenario, CHANNEL, *early)
    assert expected_posts > 0
    assert first["GetMessageStatsRequest"] + first["GetStoryStatsRequest"] == expected_posts
    assert first["GetHistoryRequest"] == 1 and first["GetStarsRevenueStatsRequest"] == 2
    days = {
        str(PeerDay(p, early[0] + timedelta(days=n)).key)
        for p in (CHANNEL, GROUP)
        for n in range(14)
    }
    assert set(_materialized(instance, HOURLY)) == days
    assert set(_materialized(instance, POSTS)) == days
    assert set(_materialized(instance, CONTENT)) == {CHANNEL, GROUP}
    assert set(_materialized(instance, REVENUE)) == {CHANNEL, GROUP}
    rows = {
        table: _count(database_url, f"SELECT count(*) FROM {table}")
        for table in ("channel_hourly", "posts", "post_stats", "content_raw")
    }
    assert all(rows.values()), rows

    # The same days again, the snapshot reused: no Telegram request, no row, no event.
    seen = len(replay_requests(log))
    events = {key: _materialized(instance, key) for key in (HOURLY, POSTS, CONTENT)}
    out = _load(instance, *early, only_changed=True)
    assert _requests(log, seen) == Counter(), out
    assert {key: _materialized(instance, key) for key in events} == events

    # The next days with a new snapshot: zooms of the new days only, the statistics of the
    # new days' posts only (the earlier ones are settled: fetched when old enough).
    monkeypatch.setenv("TGSTATS_SNAPSHOT_MAX_AGE_HOURS", "0")
    seen = len(replay_requests(log))
    _load(instance, early[0], late[1])
    second = _requests(log, seen)
    assert second["GetMessageStatsRequest"] + second["GetStoryStatsRequest"] == _posts_between(
        use_scenario, CHANNEL, *late
    )
    assert _count(database_url, "SELECT count(*) FROM post_timeline") > 0  # the newest posts'
    snapshot_loads = sum(_async_graphs(use_scenario, p) for p in (CHANNEL, GROUP))
    assert second["LoadAsyncGraphRequest"] > snapshot_loads  # and the new days' zooms

    # A refresh of the whole window with nothing new: no zoom, no post's statistics; the
    # history and the revenue are read with the new snapshot; no day is recorded again.
    seen = len(replay_requests(log))
    before = {key: _materialized(instance, key) for key in (HOURLY, POSTS)}
    out = _load(instance, early[0], late[1], only_changed=True)
    third = _requests(log, seen)
    assert third["GetMessageStatsRequest"] == third["GetStoryStatsRequest"] == 0, out
    assert third["GetHistoryRequest"] == 1 and third["GetStarsRevenueStatsRequest"] == 2
    assert third["LoadAsyncGraphRequest"] == snapshot_loads  # the snapshots' own graphs only
    assert {key: _materialized(instance, key) for key in (HOURLY, POSTS)} == before
    assert _count(database_url, "SELECT count(*) FROM posts") == _posts_between(
        use_scenario, CHANNEL, early[0], late[1]
    )


def test_young_posts_are_fetched_again_until_they_settle(
    instance, pipeline_env, use_scenario, database_url, monkeypatch
) -> None:
    log = Path(pipeline_env["TGSTATS_REPLAY_LOG"])
    window = (END_DAY - timedelta(days=6), END_DAY)
    posts = _posts_between(use_scenario, CHANNEL, *window)
    assert posts > 0
    # Every post of the window is younger than the settling age: fetched again each time.
    monkeypatch.setenv("TGSTATS_POST_SETTLE_DAYS", "366")
    monkeypatch.setenv("TGSTATS_SNAPSHOT_MAX_AGE_HOURS", "0")
    _load(instance, *window)
    seen = len(replay_requests(log))
    _load(instance, *window, only_changed=True)
    again = _requests(log, seen)
    assert again["GetMessageStatsRequest"] + again["GetStoryStatsRequest"] == posts
    assert _count(database_url, "SELECT count(*) FROM post_stats WHERE settled") == 0
    # Once old enough, one more fetch settles them, and then never again.
    monkeypatch.setenv("TGSTATS_POST_SETTLE_DAYS", "1")
    _load(instance, *window, only_changed=True)
    assert _count(database_url, "SELECT count(*) FROM post_stats WHERE NOT settled") == 0
    seen = len(replay_requests(log))
    _load(instance, *window, only_changed=True)
    last = _requests(log, seen)
    assert last["GetMessageStatsRequest"] + last["GetStoryStatsRequest"] == 0
