"""What ``tgstats record`` writes beyond a peer's stats: zooms, posts, stories and revenue.

Fetched through the production client (``StatsClient.content``) and written in the
scenario format (docs/scenario-format.md), so that the offline Telegram serves them back as
they were fetched. The recording is bounded by the stats snapshot's window:

- zooms: the window's days, covered by the fewest zooms (ZoomLoader), each written under
  the day asked;
- posts and stories (broadcast channels only): those published in the window, with the
  statistics and public forwards of the ``post_stats`` newest of each (DEFAULT_POST_STATS);
- revenue: Stars and TON as Telegram answers them; a peer without revenue writes nothing.

What could not be fetched (a missing zoom or graph, forwards cut short, a refused request)
is not written: it is named in ``ContentRecording.problems``, as the recording would not
replay as Telegram answered.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

from tgstats_dagster.telegram.content import ContentClient
from tgstats_dagster.telegram.content_models import (
    CurrencyRevenue,
    Post,
    PostKind,
    PostStats,
    PublicForward,
    RevenueStats,
    ZoomedGraph,
)
from tgstats_dagster.telegram.errors import FloodWaitTooLong, NoStatsRights, TelegramStatsError
from tgstats_dagster.telegram.models import PeerInfo, RawGraph, StatsSnapshot
from tgstats_dagster.telegram.zooms import zoom_tokens

#: Posts (and, apart, stories) whose own statistics a recording fetches: the newest ones.
DEFAULT_POST_STATS = 20
#: The folders this module writes in a peer's folder; recording again rewrites them.
CONTENT_FOLDERS = ("posts", "stories", "revenue")
#: kind -> (its folder, its listing, the listing's text key)
_LISTING = {
    "message": ("posts", "posts.json", "message"),
    "story": ("stories", "stories.json", "caption"),
}


@dataclass
class ContentRecording:
    """What was written for one peer, and what could not be."""

    zooms: int = 0
    posts: int = 0
    stories: int = 0
    post_stats: int = 0
    currencies: tuple[str, ...] = ()
    problems: list[str] = field(default_factory=list)

    def describe(self) -> str:
        revenue = ", ".join(self.currencies) or "none"
        return (
            f"{self.zooms} zoom(s), {self.posts} post(s), {self.stories} story(ies), "
            f"{self.post_stats} with statistics, revenue: {revenue}"
        )


def window_days(snapshot: StatsSnapshot) -> list[date]:
    """The UTC days of the snapshot's window, ``period.min_date`` .. ``max_date``."""
    first, last = snapshot.period_min.date(), snapshot.period_max.date()
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


async def record_content(
    content: ContentClient,
    snapshot: StatsSnapshot,
    folder: Path,
    post_stats: int = DEFAULT_POST_STATS,
) -> ContentRecording:
    """Fetch and write one peer's zooms, posts, stories and revenue into ``folder``.

    The peer's earlier posts/, stories/ and revenue/ are removed first (its graphs/, zooms
    included, are rewritten by record.write_peer). A long flood wait ends the peer's
    recording there (Telegram asks to wait); it is a problem like any other.
    """
    for name in CONTENT_FOLDERS:
        shutil.rmtree(folder / name, ignore_errors=True)
    peer = snapshot.peer
    done = ContentRecording()
    days = window_days(snapshot)
    tokens = zoom_tokens(snapshot.graphs)
    try:
        zooms = await content.zooms(peer, tokens, days)
        done.zooms = write_zooms(folder / "graphs", tokens, zooms, done)
        if peer.broadcast:
            await _posts(content, peer, "message", days, folder, post_stats, done)
            await _posts(content, peer, "story", days, folder, post_stats, done)
        revenue = await content.revenue(peer)
        if isinstance(revenue, RevenueStats):
            done.currencies = write_revenue(folder / "revenue", revenue, done)
    except FloodWaitTooLong as exc:
        done.problems.append(f"stopped: {exc}")
    except TelegramStatsError as exc:
        done.problems.append(str(exc))
    return done


async def _posts(
    content: ContentClient,
    peer: PeerInfo,
    kind: PostKind,
    days: Sequence[date],
    folder: Path,
    post_stats: int,
    done: ContentRecording,
) -> None:
    """The posts (or stories) of the window, and the statistics of the newest of them."""
    subfolder, listing, _ = _LISTING[kind]
    if not days:
        return
    try:
        if kind == "message":
            posts = await content.posts(peer, days[0], days[-1])
        else:
            posts = await content.stories(peer, days[0], days[-1])
    except NoStatsRights as exc:  # the listing refused (CHAT_ADMIN_REQUIRED): say so
        done.problems.append(f"{subfolder}: {exc}")
        return
    if kind == "message":
        done.posts = len(posts)
    else:
        done.stories = len(posts)
    if not posts:
        return
    base = folder / subfolder
    base.mkdir(parents=True)
    _write_json(base / listing, [post_json(post) for post in posts])
    newest = sorted(posts, key=lambda p: (p.published_at, p.post_id))[::-1][: max(post_stats, 0)]
    for post in newest:
        try:
            stats = await content.post_stats(peer, kind, post.post_id)
        except (FloodWaitTooLong, NoStatsRights):
            raise
        except TelegramStatsError as exc:
            done.problems.append(f"{subfolder}/{post.post_id}: {exc}")
            continue
        write_post_stats(base / str(post.post_id), stats, done)
        done.post_stats += 1


# -- the files ------------------------------------------------------------------------------


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _moment(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: Decimal) -> int | float:
    """An amount as a JSON number: whole amounts (TON's nanotons) as integers."""
    return int(value) if value == value.to_integral_value() else float(value)


def write_graph(folder: Path, graph: RawGraph, where: str, done: ContentRecording) -> None:
    """``<field>.json`` byte for byte, or ``<field>.error``; a missing graph is a problem."""
    if graph.kind == "missing":
        done.problems.append(f"{where}/{graph.field}: {graph.error}")
        return
    folder.mkdir(parents=True, exist_ok=True)
    if graph.data is not None:
        (folder / f"{graph.field}.json").write_bytes(graph.data.encode("utf-8"))
    elif graph.error is not None:
        (folder / f"{graph.field}.error").write_bytes(graph.error.encode("utf-8"))


def write_zooms(
    graphs: Path, tokens: dict[str, str], zooms: Sequence[ZoomedGraph], done: ContentRecording
) -> int:
    """graphs/<field>.zoom/<day asked>.json for every zoom Telegram answered with a graph.

    Every graph that can zoom gets its folder, so the offline Telegram gives it a zoom token
    too (and answers NOT_ENOUGH_DATA for a day without a file, as Telegram did).
    """
    for field_name in tokens:
        (graphs / f"{field_name}.zoom").mkdir(parents=True, exist_ok=True)
    written = 0
    for zoom in zooms:
        if zoom.graph.kind == "missing":
            done.problems.append(f"zoom of {zoom.field} on {zoom.day}: {zoom.graph.error}")
        elif zoom.graph.data is not None:
            path = graphs / f"{zoom.field}.zoom" / f"{zoom.day.isoformat()}.json"
            path.write_bytes(zoom.graph.data.encode("utf-8"))
            written += 1
    return written


def post_json(post: Post) -> dict[str, Any]:
    """A posts.json / stories.json entry; the reactions keyed as the client reads them."""
    _, _, text_key = _LISTING[post.kind]
    out: dict[str, Any] = {"id": post.post_id, "date": _moment(post.published_at)}
    if post.text is not None:
        out[text_key] = post.text
    for name in ("views", "forwards", "replies"):
        value = getattr(post, name)
        if value is not None:
            out[name] = value
    if post.reactions_by_emoji:
        out["reactions"] = dict(post.reactions_by_emoji)
    return out


def forward_json(forward: PublicForward) -> dict[str, Any]:
    return {
        "kind": forward.source_kind,
        "channel_id": forward.source_channel_id,
        "title": forward.title,
        "username": forward.username,
        "message_id": forward.source_message_id,
        "date": _moment(forward.forwarded_at),
        "views": forward.views,
    }


def write_post_stats(folder: Path, stats: PostStats, done: ContentRecording) -> None:
    """A post's graphs and, when every page of them was read, its public forwards."""
    where = f"{'posts' if stats.kind == 'message' else 'stories'}/{stats.post_id}"
    for graph in stats.graphs:
        write_graph(folder, graph, where, done)
    if "public_forwards" in stats.missing:
        done.problems.append(f"{where}/public_forwards: not every page could be read")
    elif stats.forwards:
        folder.mkdir(parents=True, exist_ok=True)
        _write_json(folder / "public_forwards.json", [forward_json(f) for f in stats.forwards])


def revenue_json(currency: CurrencyRevenue) -> dict[str, Any]:
    """revenue/<currency>.json: Stars in stars (maybe fractional), TON in nanotons."""
    status: dict[str, Any] = {
        "current_balance": _number(currency.current_balance),
        "available_balance": _number(currency.available_balance),
        "overall_revenue": _number(currency.overall_revenue),
        "withdrawal_enabled": currency.withdrawal_enabled,
    }
    if currency.next_withdrawal_at is not None:
        status["next_withdrawal_at"] = int(currency.next_withdrawal_at.timestamp())
    out: dict[str, Any] = {"status": status}
    if currency.usd_rate is not None:
        out["usd_rate"] = float(currency.usd_rate)
    return out


def write_revenue(folder: Path, revenue: RevenueStats, done: ContentRecording) -> tuple[str, ...]:
    """revenue/<currency>.json and revenue/<currency>/<field>.json|.error."""
    folder.mkdir(parents=True)
    for currency in revenue.currencies:
        _write_json(folder / f"{currency.currency}.json", revenue_json(currency))
        for graph in currency.graphs:
            write_graph(folder / currency.currency, graph, f"revenue/{currency.currency}", done)
    return tuple(c.currency for c in revenue.currencies)
