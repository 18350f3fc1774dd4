"""0003: the snapshots a user stored under the previous schema fill ``stats_figures``,
``post_interactions`` and ``megagroup_tops`` on upgrade, by the rules the assets apply."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from tgstats_dagster.telegram.figures import figures, megagroup_tops, post_interactions
from tgstats_dagster.telegram.replay import DEMO_SCENARIO_DIR
from tgstats_dagster.warehouse import migrations
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.snapshots import SnapshotStore, StoredSnapshot
from tgstats_dagster_tests.warehouse.helpers import table_rows, upgrade_to

pytestmark = pytest.mark.storage

AT = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
PERIOD = (datetime(2026, 2, 8, tzinfo=timezone.utc), datetime(2026, 3, 9, tzinfo=timezone.utc))
CHANNEL, GROUP, ODD = 1001, 1002, 1003
#: Scalars no real response has, but a stored row could: items listed twice, a top member
#: the users list lacks, a figure that is not a number, a user with every name field.
ODD_SCALARS: dict[str, Any] = {
    "period": {"min_date": 1770508800, "max_date": 1773014400},
    "members": {"current": 10.5, "previous": "n/a"},
    "enabled_notifications": {"part": 0, "total": 0},
    "recent_posts_interactions": [
        {"msg_id": 5, "views": 9, "forwards": 1, "reactions": 0},
        {
            "_": "PostInteractionCountersMessage",
            "msg_id": 5,
            "views": 99,
            "forwards": 9,
            "reactions": 9,
        },
        {
            "_": "PostInteractionCountersStory",
            "story_id": 5,
            "views": 7,
            "forwards": 0,
            "reactions": 2,
        },
    ],
    "top_posters": [
        {"user_id": 77, "messages": 3, "avg_chars": 12},
        {"user_id": 78, "messages": 2, "avg_chars": 40},
        {"user_id": 77, "messages": 1, "avg_chars": 1},
    ],
    "top_inviters": [{"user_id": 79, "invitations": 4}],
    "users": [
        {"id": 77, "first_name": "Ana", "last_name": "Björk", "username": "ana_b"},
        {"id": 77, "first_name": "Someone else"},
    ],
}


def _demo(peer: str) -> dict[str, Any]:
    return json.loads((DEMO_SCENARIO_DIR / peer / "stats.json").read_text(encoding="utf-8"))


def _snapshot(channel_id: int, scalars: dict[str, Any], fetched_at: datetime = AT):
    return StoredSnapshot(
        channel_id=channel_id,
        peer_key=f"peer{channel_id}",
        fetched_at=fetched_at,
        period_min=PERIOD[0],
        period_max=PERIOD[1],
        scalars=scalars,
        graphs=(),
    )


def _number(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _expected(snapshots: list[StoredSnapshot]) -> dict[str, list[tuple]]:
    """The rows by the Python rules the assets use (telegram/figures.py)."""
    out: dict[str, list[tuple]] = {
        "stats_figures": [],
        "post_interactions": [],
        "megagroup_tops": [],
    }
    for s in snapshots:
        key = (s.channel_id, s.fetched_at)
        for f in figures(s.scalars):
            values = tuple(_number(v) for v in (f.current, f.previous, f.part, f.total))
            out["stats_figures"].append((*key, f.figure, *values, *PERIOD))
        for p in post_interactions(s.scalars):
            out["post_interactions"].append((*key, *asdict(p).values()))
        for t in megagroup_tops(s.scalars):
            out["megagroup_tops"].append((*key, *asdict(t).values()))
    return {table: sorted(rows) for table, rows in out.items()}


def _stored(url: str) -> dict[str, list[tuple]]:
    orders = {
        "stats_figures": "channel_id, fetched_at, figure",
        "post_interactions": "channel_id, fetched_at, kind, post_id",
        "megagroup_tops": "channel_id, fetched_at, top, user_id",
    }
    return {table: sorted(table_rows(url, table, order)) for table, order in orders.items()}


def test_upgrade_fills_the_tables_from_the_snapshots_stored_before(database_url: str) -> None:
    upgrade_to(database_url, "0002")
    channel, group = _demo("tgstats_demo_channel"), _demo("tgstats_demo_group")
    snapshots = [
        _snapshot(CHANNEL, channel),
        _snapshot(
            CHANNEL, {**channel, "followers": {"current": 1, "previous": 2}}, AT + timedelta(days=1)
        ),
        _snapshot(GROUP, group),
        _snapshot(ODD, ODD_SCALARS),
    ]
    store = SnapshotStore(make_engine(database_url))
    for snapshot in snapshots:
        assert store.put(snapshot)

    migrations.upgrade(database_url)

    stored = _stored(database_url)
    # The SQL of the upgrade and the assets' rules agree on every row.
    assert stored == _expected(snapshots)

    # ... and both say what the scenario says, read here from its JSON.
    figures_at = {(r[0], r[1], r[2]): r[3:7] for r in stored["stats_figures"]}
    for name in ("followers", "views_per_post", "reactions_per_story"):
        current, previous = channel[name]["current"], channel[name]["previous"]
        assert figures_at[CHANNEL, AT, name] == (_number(current), _number(previous), None, None)
    notifications = channel["enabled_notifications"]
    assert figures_at[CHANNEL, AT, "enabled_notifications"] == (
        None,
        None,
        _number(notifications["part"]),
        _number(notifications["total"]),
    )
    assert figures_at[CHANNEL, AT + timedelta(days=1), "followers"][:2] == (1, 2)
    assert figures_at[GROUP, AT, "members"][0] == _number(group["members"]["current"])
    assert {name for c, _, name in figures_at if c == GROUP} == {
        "members",
        "messages",
        "viewers",
        "posters",
    }

    posts = {(r[2], r[3]): r[4:] for r in stored["post_interactions"] if r[:2] == (CHANNEL, AT)}
    wanted = {
        (
            "story" if p["_"] == "PostInteractionCountersStory" else "message",
            p.get("story_id", p.get("msg_id")),
        ): (p["views"], p["forwards"], p["reactions"])
        for p in channel["recent_posts_interactions"]
    }
    assert posts == wanted and ("story", 12) in posts

    users = {u["id"]: u for u in group["users"]}
    tops = [r for r in stored["megagroup_tops"] if r[0] == GROUP]
    for top, counters in (
        ("posters", ("messages", "avg_chars")),
        ("admins", ("deleted", "kicked", "banned")),
        ("inviters", ("invitations",)),
    ):
        listed = group[f"top_{top}"]
        rows = sorted((r for r in tops if r[2] == top), key=lambda r: r[4])
        assert [r[3] for r in rows] == [m["user_id"] for m in listed]
        assert [r[4] for r in rows] == list(range(1, len(listed) + 1))
        columns = ("messages", "avg_chars", "deleted", "kicked", "banned", "invitations")
        for row, member in zip(rows, listed, strict=True):
            values = dict(zip(columns, row[5:11], strict=True))
            assert {c: values[c] for c in counters} == {c: member[c] for c in counters}
            assert row[11] == users[member["user_id"]]["first_name"]

    # The odd snapshot: first listing wins, a missing user has no name, a text is no number.
    odd_posts = [r[2:] for r in stored["post_interactions"] if r[0] == ODD]
    assert odd_posts == [("message", 5, 9, 1, 0), ("story", 5, 7, 0, 2)]
    odd_tops = {
        (r[2], r[3]): (r[4], r[11], r[12], r[13]) for r in stored["megagroup_tops"] if r[0] == ODD
    }
    assert odd_tops == {
        ("posters", 77): (1, "Ana", "Björk", "ana_b"),
        ("posters", 78): (2, None, None, None),
        ("inviters", 79): (1, None, None, None),
    }
    assert figures_at[ODD, AT, "members"] == (Decimal("10.5"), None, None, None)


def test_snapshots_stored_later_are_left_to_the_assets(database_url: str) -> None:
    """The upgrade fills once; later snapshots get their rows when their partitions are
    materialized, with the channel's snapshots that have none yet."""
    migrations.upgrade(database_url)
    store = SnapshotStore(make_engine(database_url))
    later = AT + timedelta(days=1)
    for fetched_at in (AT, later):
        store.put(_snapshot(CHANNEL, _demo("tgstats_demo_channel"), fetched_at))
    store.put(_snapshot(GROUP, _demo("tgstats_demo_group")))
    migrations.upgrade(database_url)
    assert _stored(database_url) == {
        "stats_figures": [],
        "post_interactions": [],
        "megagroup_tops": [],
    }

    def sources() -> list[tuple[int, datetime]]:
        return [(s.channel_id, s.fetched_at) for s in store.figure_sources([(CHANNEL, later)])]

    assert sources() == [(CHANNEL, AT), (CHANNEL, later)]  # not the other channel's
    with make_engine(database_url).begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO stats_figures (channel_id, fetched_at, figure, period_start, period_end)"
            " VALUES (%s, %s, 'followers', %s, %s)",
            (CHANNEL, AT, *PERIOD),
        )
    assert sources() == [(CHANNEL, later)]
    assert store.figure_sources([]) == []
