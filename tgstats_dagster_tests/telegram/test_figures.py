"""The rules that turn a stats response's scalars into figures, posts and tops rows."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import dagster as dg
import pytest

from tgstats_dagster.assets.figures import _held_snapshots, _parse
from tgstats_dagster.telegram.figures import (
    REQUIRED_FIGURES,
    Figure,
    PostCounters,
    TopMember,
    figures,
    megagroup_tops,
    missing_figures,
    post_interactions,
)
from tgstats_dagster.telegram.replay import DEMO_SCENARIO_DIR
from tgstats_dagster.warehouse.snapshots import SnapshotHead
from tgstats_dagster_tests.telegram.scenarios import broadcast_stats, megagroup_stats


def _demo(peer: str) -> dict:
    return json.loads((DEMO_SCENARIO_DIR / peer / "stats.json").read_text(encoding="utf-8"))


def test_a_channel_has_its_figures_and_no_tops() -> None:
    scalars = broadcast_stats()
    assert figures(scalars) == [
        Figure("followers", current=1200, previous=1100),
        Figure("views_per_post", current=350.5, previous=300),
        Figure("enabled_notifications", part=300, total=1200),
    ]
    assert post_interactions(scalars) == [
        PostCounters("message", 1, views=10, forwards=1, reactions=2),
        PostCounters("story", 7, views=5, forwards=0, reactions=1),
    ]
    assert megagroup_tops(scalars) == []


def test_a_supergroup_has_tops_named_from_its_users() -> None:
    assert megagroup_tops(megagroup_stats()) == [
        TopMember("posters", 11, 1, messages=30, avg_chars=40, first_name="Ana", username="ana_b"),
        TopMember("admins", 12, 1, deleted=1, kicked=2, banned=3),
        TopMember("inviters", 13, 1, invitations=9),
    ]


@pytest.mark.parametrize(
    ("peer", "kind"), [("tgstats_demo_channel", "broadcast"), ("tgstats_demo_group", "megagroup")]
)
def test_the_demo_peers_have_every_figure_of_their_kind(peer: str, kind: str) -> None:
    present = {f.figure for f in figures(_demo(peer))}
    assert missing_figures(kind, present) == []
    assert present == set(REQUIRED_FIGURES[kind])


def test_missing_figures_are_named() -> None:
    assert missing_figures("megagroup", {"members", "viewers"}) == ["messages", "posters"]


def test_a_malformed_snapshot_fails_naming_the_peer_and_the_part() -> None:
    scalars = broadcast_stats()
    del scalars["recent_posts_interactions"][0]["views"]
    head = SnapshotHead(
        channel_id=1,
        fetched_at=datetime(2026, 3, 1, tzinfo=timezone.utc),
        peer_key="news",
        period_min=datetime(2026, 2, 1, tzinfo=timezone.utc),
        period_max=datetime(2026, 3, 1, tzinfo=timezone.utc),
        scalars=scalars,
    )
    with pytest.raises(dg.Failure) as caught:
        _parse(head)
    assert "news" in caught.value.description and "malformed posts" in caught.value.description
    assert "'views'" in caught.value.description


@pytest.mark.storage
def test_peers_without_a_snapshot_are_named(database_url: str) -> None:
    """Materializing the figures of peers whose stats_raw is not materialized says so."""
    from tgstats_dagster.warehouse.migrations import upgrade
    from tgstats_dagster.warehouse.resource import WarehouseResource

    upgrade(database_url)
    warehouse = WarehouseResource(database_url=database_url)
    with pytest.raises(dg.Failure) as caught:
        _held_snapshots(["news"], {"news": {"channel_id": 1}}, warehouse)
    assert "news" in caught.value.description
    assert "materialize stats_raw" in caught.value.description
