"""Small scenario folders for the Telegram-side tests (docs/scenario-format.md)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from telethon import TelegramClient

from tgstats_dagster.telegram.connect import client_options
from tgstats_dagster.telegram.models import PeerInfo, PeerOutcome
from tgstats_dagster.telegram.replay import ReplayTelegram, replay_client
from tgstats_dagster.telegram.retry import RetryPolicy
from tgstats_dagster.telegram.stats import StatsClient

DAY_MS = 86_400_000
PERIOD = {"min_date": 1_767_225_600, "max_date": 1_769_817_600}  # 2026-01-01 .. 2026-01-31


def graph_json(title: str, names: dict[str, str], days: int = 5) -> str:
    """A daily graph in Telegram's format, with bytes a re-serialization would change:
    key order, spacing, non-ASCII escapes and a JavaScript formatter."""
    x = [1_767_225_600_000 + i * DAY_MS for i in range(days)]
    columns = [["x", *x]] + [
        [cid, *[(i + 1) * (n + 3) for i in range(days)]] for n, cid in enumerate(names)
    ]
    body = {
        "columns": columns,
        "types": {"x": "x", **{cid: "line" for cid in names}},
        "names": names,
        "colors": {cid: "BLUE#007AFF" for cid in names},
        "title": title,
        "xTickFormatter": "function(x){return statsFormat('day')(x);}",
    }
    # Telegram's own spacing and escapes: no space after separators, \u escapes kept.
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=True)
    return text.replace('"title"', '"title" ', 1) + "\n"


def broadcast_graphs() -> dict[str, str]:
    return {
        "growth_graph": graph_json("Growth", {"y0": "Total followers"}),
        "followers_graph": graph_json("Followers", {"y0": "Joined", "y1": "Left"}),
        "interactions_graph": graph_json("Interactions", {"y0": "Views", "y1": "Shares"}),
        "views_by_source_graph": graph_json("Views by source", {"y0": "URL", "y1": "Search"}),
        "languages_graph": graph_json("Languages", {"y0": "Português (Brazil)", "y1": "English"}),
        "reactions_by_emotion_graph": graph_json("Reactions", {"y0": "👍", "y1": "❤"}),
    }


def megagroup_graphs() -> dict[str, str]:
    return {
        "growth_graph": graph_json("Growth", {"y0": "Total members"}),
        "members_graph": graph_json("Members", {"y0": "Joined", "y1": "Left"}),
        "messages_graph": graph_json("Messages", {"y0": "Messages"}),
        "actions_graph": graph_json("Actions", {"y0": "Messages", "y1": "Reactions"}),
    }


def broadcast_stats() -> dict[str, Any]:
    return {
        "period": PERIOD,
        "followers": {"current": 1200, "previous": 1100},
        "views_per_post": {"current": 350.5, "previous": 300},
        "enabled_notifications": {"part": 300, "total": 1200},
        "recent_posts_interactions": [
            {
                "_": "PostInteractionCountersMessage",
                "msg_id": 1,
                "views": 10,
                "forwards": 1,
                "reactions": 2,
            },
            {
                "_": "PostInteractionCountersStory",
                "story_id": 7,
                "views": 5,
                "forwards": 0,
                "reactions": 1,
            },
        ],
    }


def megagroup_stats() -> dict[str, Any]:
    return {
        "period": PERIOD,
        "members": {"current": 800, "previous": 750},
        "messages": {"current": 4000, "previous": 3900},
        "top_posters": [{"user_id": 11, "messages": 30, "avg_chars": 40}],
        "top_admins": [{"user_id": 12, "deleted": 1, "kicked": 2, "banned": 3}],
        "top_inviters": [{"user_id": 13, "invitations": 9}],
        "users": [{"id": 11, "first_name": "Ana", "last_name": None, "username": "ana_b"}],
    }


def write_peer(
    root: Path,
    key: str,
    *,
    channel_id: int,
    broadcast: bool = True,
    can_view_stats: bool = True,
    stats_dc: int | None = 2,
    graphs: dict[str, str] | None = None,
    graph_errors: dict[str, str] | None = None,
    stats: dict[str, Any] | None = None,
    participants_count: int = 1200,
    access_hash: int | None = None,
) -> Path:
    """One peer folder; a broadcast channel with every usual graph unless told otherwise."""
    folder = root / key
    (folder / "graphs").mkdir(parents=True, exist_ok=True)
    peer: dict[str, Any] = {
        "id": channel_id,
        "title": f"{key.title()} ✓",
        "username": key,
        "broadcast": broadcast,
        "megagroup": not broadcast,
        "can_view_stats": can_view_stats,
        "stats_dc": stats_dc,
        "participants_count": participants_count,
    }
    if access_hash is not None:
        peer["access_hash"] = access_hash
    (folder / "peer.json").write_text(json.dumps(peer), encoding="utf-8")
    if can_view_stats:
        default_stats = broadcast_stats() if broadcast else megagroup_stats()
        (folder / "stats.json").write_text(json.dumps(stats or default_stats), encoding="utf-8")
        default_graphs = broadcast_graphs() if broadcast else megagroup_graphs()
        for field, text in (default_graphs if graphs is None else graphs).items():
            (folder / "graphs" / f"{field}.json").write_bytes(text.encode("utf-8"))
        for field, text in (graph_errors or {}).items():
            (folder / "graphs" / f"{field}.error").write_text(text, encoding="utf-8")
    return folder


def write_scenario(
    root: Path,
    *,
    home_dc: int = 2,
    faults: list[dict[str, Any]] | None = None,
    latency: float | None = None,
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = {"home_dc": home_dc, "faults": faults or []}
    if latency is not None:
        settings["latency"] = latency
    (root / "scenario.json").write_text(json.dumps(settings), encoding="utf-8")
    return root


def standard_scenario(root: Path, **options: Any) -> Path:
    """Home DC 2; ``news`` (broadcast, stats on DC 4), ``local`` (broadcast, stats on the
    home DC), ``chat`` (megagroup, DC 4) and ``norights`` (no can_view_stats)."""
    write_scenario(root, **options)
    write_peer(root, "news", channel_id=1001, stats_dc=4)
    write_peer(root, "local", channel_id=1002, stats_dc=2)
    write_peer(root, "chat", channel_id=1003, broadcast=False, stats_dc=4)
    write_peer(root, "norights", channel_id=1004, can_view_stats=False, stats_dc=None)
    return root


class RecordingSleep:
    """A sleep that remembers what it was asked to wait and yields to the loop, but does not
    wait: flood waits and backoffs are checked without taking real time."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        await asyncio.sleep(0)


@asynccontextmanager
async def replay_session(
    root: Path,
    *,
    concurrency: int = 3,
    sleep: RecordingSleep | None = None,
    **policy_options: Any,
) -> AsyncIterator[tuple[ReplayTelegram, TelegramClient, StatsClient]]:
    """A connected client on the offline Telegram for ``root`` and a StatsClient over it,
    configured as production configures them (connect.client_options); ``policy_options``
    are RetryPolicy fields (waits go to ``sleep``, a RecordingSleep by default)."""
    telegram = ReplayTelegram.load(root)
    client = replay_client(telegram, **client_options())
    await client.connect()
    policy_options.setdefault("base_delay", 0.01)
    policy = RetryPolicy(sleep=sleep or RecordingSleep(), **policy_options)
    try:
        yield telegram, client, StatsClient(client, policy=policy, concurrency=concurrency)
    finally:
        await client.disconnect()


async def resolve_and_fetch(
    stats: StatsClient, keys: list[str], known: dict[str, PeerInfo] | None = None
) -> list[PeerOutcome]:
    """Every key resolved (resolve_each), then fetched (fetch_each); outcomes in key order."""
    by_key: dict[str, PeerOutcome] = {}
    resolved = []
    async for outcome in stats.resolve_each(keys, known or {}):
        if outcome.status == "loaded":
            assert outcome.peer is not None
            resolved.append(outcome.peer)
        else:
            by_key[outcome.key] = outcome
    async for outcome in stats.fetch_each(resolved):
        by_key[outcome.key] = outcome
    return [by_key[key] for key in keys]


def entries(telegram: ReplayTelegram, *, peer: str | None = None, request: str | None = None):
    """The request log, filtered."""
    return [
        e
        for e in telegram.entries
        if (peer is None or e["peer"] == peer) and (request is None or e["request"] == request)
    ]


# -- beyond the channel's stats: zooms, posts and stories, revenue ----------------------------

CONTEST = Path(__file__).resolve().parent / "testdata" / "chart-contest-2019"
#: The day Telegram's chart-contest zoom (zoom_1) was asked for; it spans 04-08 .. 04-14.
CONTEST_ZOOM_DAY = date(2018, 4, 11)


def contest(name: str) -> str:
    """A chart-contest payload, exactly as stored."""
    return (CONTEST / name).read_bytes().decode("utf-8")


def zoom_payload(day: date) -> str:
    """Telegram's hourly zoom of 2018-04-11 (168 points: the 7 days around it), moved so that
    it is the zoom of ``day`` (the 7 days around ``day``)."""
    doc = json.loads(contest("zoom_1_2018-04-11.json"))
    shift = (day - CONTEST_ZOOM_DAY).days * DAY_MS
    x_column = next(c for c in doc["columns"] if c[0] == "x")
    x_column[1:] = [x + shift for x in x_column[1:]]
    return json.dumps(doc, separators=(",", ":"))


def write_zooms(folder: Path, field: str, days: list[date]) -> None:
    """graphs/<field>.zoom/<day>.json for each day (zoom_payload)."""
    zoom_dir = folder / "graphs" / f"{field}.zoom"
    zoom_dir.mkdir(parents=True, exist_ok=True)
    for day in days:
        (zoom_dir / f"{day.isoformat()}.json").write_text(zoom_payload(day), encoding="utf-8")


def make_posts(count: int, first: datetime, step: timedelta, *, first_id: int = 1) -> list[dict]:
    """posts.json entries, oldest first: ids from ``first_id``, one every ``step``."""
    return [
        {
            "id": first_id + i,
            "date": (first + i * step).isoformat(),
            "message": f"post {first_id + i} ✓",
            "views": 100 + i,
            "forwards": i % 5,
            "replies": i % 3,
            "reactions": {"👍": i % 7, "❤": 1} if i % 2 else {},
        }
        for i in range(count)
    ]


def make_forwards(count: int, first: datetime, *, kind: str = "message") -> list[dict]:
    """public_forwards.json entries from ``count`` different channels."""
    return [
        {
            "kind": kind,
            "channel_id": 9000 + i,
            "title": f"Forwarder {i}",
            "username": f"fwd{i}" if i % 2 else None,
            "message_id": 50 + i,
            "date": (first + timedelta(hours=i)).isoformat(),
            "views": 10 * i if i % 3 else None,
        }
        for i in range(count)
    ]


def write_posts(
    folder: Path,
    posts: list[dict],
    *,
    kind: str = "posts",
    graphs: dict[int, dict[str, str]] | None = None,
    graph_errors: dict[int, dict[str, str]] | None = None,
    forwards: dict[int, list[dict]] | None = None,
) -> None:
    """posts/posts.json (``kind="stories"``: stories/stories.json) and each post's folder."""
    base = folder / kind
    base.mkdir(parents=True, exist_ok=True)
    (base / f"{kind}.json").write_text(json.dumps(posts, ensure_ascii=False), encoding="utf-8")
    for post_id, by_field in (graphs or {}).items():
        (base / str(post_id)).mkdir(exist_ok=True)
        for field, text in by_field.items():
            (base / str(post_id) / f"{field}.json").write_bytes(text.encode("utf-8"))
    for post_id, by_field in (graph_errors or {}).items():
        (base / str(post_id)).mkdir(exist_ok=True)
        for field, text in by_field.items():
            (base / str(post_id) / f"{field}.error").write_text(text, encoding="utf-8")
    for post_id, items in (forwards or {}).items():
        (base / str(post_id)).mkdir(exist_ok=True)
        path = base / str(post_id) / "public_forwards.json"
        path.write_text(json.dumps(items, ensure_ascii=False), encoding="utf-8")


def write_revenue(
    folder: Path,
    currency: str,
    status: dict[str, Any],
    usd_rate: float,
    graphs: dict[str, str] | None = None,
) -> None:
    """revenue/<currency>.json and revenue/<currency>/<field>.json."""
    base = folder / "revenue"
    (base / currency).mkdir(parents=True, exist_ok=True)
    doc = {"status": status, "usd_rate": usd_rate}
    (base / f"{currency}.json").write_text(json.dumps(doc), encoding="utf-8")
    for field, text in (graphs or {}).items():
        (base / currency / f"{field}.json").write_bytes(text.encode("utf-8"))


#: The first post of content_scenario; one post every 6 hours from there.
POSTS_START = datetime(2018, 4, 1, tzinfo=timezone.utc)
POSTS_STEP = timedelta(hours=6)


def content_scenario(root: Path, **options: Any) -> Path:
    """standard_scenario, and ``news`` (stats on DC 4) with everything beyond its stats:
    zooms of followers_graph (inline) for every day of April 2018 and of interactions_graph
    (async) for 2018-04-11; 250 posts (one every 6 h from 2018-04-01), posts 3 and 250 with
    graphs, post 250 with 250 public forwards; 3 stories, story 2 with graphs and 3
    forwards (one a story); Stars and TON revenue. ``local`` (stats on the home DC) has 5
    posts and Stars revenue only; ``norights`` has 3 posts."""
    standard_scenario(root, **options)
    news = root / "news"
    (news / "graphs" / "followers_graph.json").write_bytes(contest("overview_1.json").encode())
    write_zooms(news, "followers_graph", [date(2018, 4, d) for d in range(1, 31)])
    write_zooms(news, "interactions_graph", [CONTEST_ZOOM_DAY])
    post_graphs = {
        "views_graph": contest("overview_4.json"),
        "reactions_by_emotion_graph": graph_json("Reactions", {"y0": "👍", "y1": "❤"}),
    }
    write_posts(
        news,
        make_posts(250, POSTS_START, POSTS_STEP),
        graphs={3: post_graphs, 250: {"views_graph": contest("overview_4.json")}},
        graph_errors={250: {"reactions_by_emotion_graph": "NOT_ENOUGH_DATA_YET"}},
        forwards={250: make_forwards(250, POSTS_START + 250 * POSTS_STEP)},
    )
    stories = [
        {
            "id": i,
            "date": (POSTS_START + timedelta(days=i)).isoformat(),
            "caption": f"story {i}",
            "views": 40 + i,
            "forwards": i,
            "reactions": {"🔥": i},
        }
        for i in (1, 2, 3)
    ]
    forwards = make_forwards(2, POSTS_START + timedelta(days=3)) + make_forwards(
        1, POSTS_START + timedelta(days=4), kind="story"
    )
    write_posts(news, stories, kind="stories", graphs={2: post_graphs}, forwards={2: forwards})
    write_revenue(
        news,
        "stars",
        {
            "current_balance": 1234.5,
            "available_balance": 1000,
            "overall_revenue": 5000.25,
            "withdrawal_enabled": True,
            "next_withdrawal_at": 1_767_225_600,
        },
        0.013,
        {
            "revenue_graph": contest("overview_4.json"),
            "top_hours_graph": graph_json("Top hours", {"y0": "Revenue"}),
        },
    )
    write_revenue(
        news,
        "ton",
        {
            "current_balance": 2_500_000_000,
            "available_balance": 2_000_000_000,
            "overall_revenue": 9_000_000_000,
            "withdrawal_enabled": False,
        },
        3.25,
        {"revenue_graph": contest("overview_4.json")},
    )
    write_posts(root / "local", make_posts(5, POSTS_START, POSTS_STEP))
    write_revenue(
        root / "local",
        "stars",
        {"current_balance": 1, "available_balance": 1, "overall_revenue": 1},
        0.013,
    )
    write_posts(root / "norights", make_posts(3, POSTS_START, POSTS_STEP))
    return root
