"""A peer's statistics beyond its snapshot, fetched and stored in the snapshots run.

For each stats peer of the run, after its snapshot: the zooms of the run's days that are not
kept yet (with the snapshot's zoom tokens); and, when the snapshot is new, the channel's
posts and stories published on those days, the statistics of every post or story that is
not settled yet, and its Stars and TON revenue. What Telegram serves once is loaded once: a
kept zoom, a settled post and a reused snapshot cost no request.

Each fetch is stored as it arrives, in one transaction (the zooms; the list of posts; each
post's statistics; the revenue), like a snapshot: a run that dies later loses nothing it
fetched. Before each write the store says which rows it changes; their days (the hour's
day, the post's publication day) are the partitions the daily runs then materialize.

A failure here never fails the peer: a long flood wait, a post whose statistics keep
failing, a zoom that could not be loaded is named (the step's log and check, the peer's
metadata) and asked again next time. Supergroups have zooms only: posts' statistics and
revenue are a channel's.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta

import pandas as pd

from tgstats_dagster.telegram.content import ContentClient
from tgstats_dagster.telegram.content_models import (
    NoRevenue,
    Post,
    PostStats,
    RevenueStats,
    ZoomedGraph,
)
from tgstats_dagster.telegram.errors import (
    FloodWaitTooLong,
    NoStatsRights,
    PostNotFound,
    TelegramStatsError,
    cause_text,
)
from tgstats_dagster.telegram.graphs import (
    GraphFormatError,
    ParsedGraph,
    XStep,
    parse_graph,
    time_points,
)
from tgstats_dagster.telegram.models import PeerInfo, RawGraph
from tgstats_dagster.telegram.posts import day_start
from tgstats_dagster.warehouse.content import (
    ContentStore,
    HourlyPoint,
    RawPayload,
    TimelinePoint,
    forwards_frame,
    hourly_frame,
    post_source,
    post_stats_frame,
    posts_frame,
    raw_frame,
    revenue_frame,
    revenue_source,
    timeline_frame,
    zoom_source,
)
from tgstats_dagster.warehouse.snapshots import StoredGraph, StoredSnapshot

log = logging.getLogger(__name__)

#: The revenue graph whose daily points go into ``channel_daily``, and each currency's field
#: name there (``revenue_stars.revenue``, ``revenue_ton.revenue``).
REVENUE_DAILY_GRAPH = "revenue_graph"


def revenue_field(currency: str) -> str:
    return f"revenue_{currency}_graph"


@dataclass
class PeerContent:
    """What one peer's content fetch did, for its metadata, the checks and the log."""

    peer: str
    zooms: int = 0  # zoom answers
    hours: int = 0  # hourly rows new or changed
    posts: int = 0  # messages listed
    stories: int = 0
    post_stats: int = 0  # posts and stories whose statistics were fetched
    forwards: int = 0  # public forwards read
    incomplete: dict[str, str] = field(default_factory=dict)  # what is left, and why
    revenue: str = "not asked"
    revenue_rows: int = 0
    changed_days: set[date] = field(default_factory=set)
    requests: Counter[str] = field(default_factory=Counter)

    @property
    def new_rows(self) -> bool:
        return bool(self.changed_days or self.revenue_rows)

    def about(self) -> dict[str, object]:
        """The peer's metadata on the ``content_raw`` materialization."""
        about: dict[str, object] = {
            "zooms_loaded": self.zooms,
            "hours_changed": self.hours,
            "posts_listed": self.posts,
            "stories_listed": self.stories,
            "post_stats_fetched": self.post_stats,
            "public_forwards_read": self.forwards,
            "revenue": self.revenue,
            "content_requests": sum(self.requests.values()),
        }
        if self.incomplete:
            about["left_for_next_time"] = "; ".join(f"{k}: {v}" for k, v in self.incomplete.items())
        return about


async def fetch_content(
    peer: PeerInfo,
    snapshot: StoredSnapshot,
    new_snapshot: bool,
    days: list[date],
    connect: Callable[[], Awaitable[ContentClient]],
    store: ContentStore,
    settle_after: timedelta,
) -> PeerContent:
    """Fetch and store ``peer``'s zooms of ``days``, and with a new snapshot its posts,
    stories, their statistics and revenue (see the module's docstring). ``connect`` gives
    the client; it is called only when there is something to ask."""
    out = PeerContent(peer.key)
    if not days:
        return out
    wanted = set(days)
    try:
        await _zooms(peer, snapshot, days, connect, store, out, wanted)
        if new_snapshot and peer.broadcast:
            client = await connect()
            listed = await _posts(peer, days[0], days[-1], client, store, out, wanted)
            await _post_stats(peer, days, listed, client, store, settle_after, out, wanted)
            await _revenue(peer, client, store, out)
    except FloodWaitTooLong as exc:
        out.incomplete["flood_wait"] = f"Telegram asks to wait {exc.seconds} s: the rest next time"
    except NoStatsRights as exc:
        out.incomplete["rights"] = str(exc)
    except TelegramStatsError as exc:
        out.incomplete["request"] = cause_text(exc)
    return out


async def _zooms(
    peer: PeerInfo,
    snapshot: StoredSnapshot,
    days: list[date],
    connect: Callable[[], Awaitable[ContentClient]],
    store: ContentStore,
    out: PeerContent,
    wanted: set[date],
) -> None:
    tokens = {g.graph: g.zoom_token for g in snapshot.graphs if g.zoom_token}
    kept = {
        graph: await asyncio.to_thread(
            store.zoom_days_kept, peer.channel_id, graph, days[0], days[-1]
        )
        for graph in tokens
    }
    if all(wanted <= kept[graph] for graph in tokens):
        return  # every day's zooms are kept (or the snapshot offers none)
    client = await connect()
    zooms = await client.zooms(peer, tokens, days, kept, out.requests)
    for zoom in zooms:
        if zoom.graph.kind == "missing":
            out.incomplete[f"zoom {zoom.field} {zoom.day}"] = zoom.graph.error or "not loaded"
    out.zooms = sum(z.graph.kind != "missing" for z in zooms)
    raw = raw_frame(peer.channel_id, (_zoom_payload(z) for z in zooms))
    hourly = hourly_frame(peer.channel_id, _hourly_points(zooms))
    changed = await asyncio.to_thread(store.changed, "channel_hourly", hourly)
    out.hours = int(changed.sum())
    out.changed_days |= wanted & {h.date() for h in hourly.loc[changed, "hour"]}
    await asyncio.to_thread(store.put, {"content_raw": raw, "channel_hourly": hourly})


async def _posts(
    peer: PeerInfo,
    first: date,
    last: date,
    client: ContentClient,
    store: ContentStore,
    out: PeerContent,
    wanted: set[date],
) -> tuple[Post, ...]:
    messages = await client.posts(peer, first, last, out.requests)
    try:
        stories = await client.stories(peer, first, last, out.requests)
    except NoStatsRights:
        stories = ()
    out.posts, out.stories = len(messages), len(stories)
    listed = (*messages, *stories)
    frame = posts_frame(peer.channel_id, (asdict(p) for p in listed))
    changed = await asyncio.to_thread(store.changed, "posts", frame)
    out.changed_days |= wanted & {t.date() for t in frame.loc[changed, "published_at"]}
    await asyncio.to_thread(store.put, {"posts": frame})
    return listed


async def _post_stats(
    peer: PeerInfo,
    days: list[date],
    listed: Iterable[Post],
    client: ContentClient,
    store: ContentStore,
    settle_after: timedelta,
    out: PeerContent,
    wanted: set[date],
) -> None:
    """The statistics of the posts and stories of ``days`` that are not settled, one
    transaction each; a post Telegram no longer knows is named and skipped."""
    start, end = day_start(days[0]), day_start(days[-1] + timedelta(days=1))
    needing = await asyncio.to_thread(store.posts_needing_stats, peer.channel_id, start, end)
    still_listed = {(p.kind, p.post_id) for p in listed}
    for kind, post_id, published_at in needing:
        if (kind, post_id) not in still_listed:
            continue  # deleted since, or outside what this fetch listed: nothing to ask
        try:
            stats = await client.post_stats(peer, kind, post_id, out.requests)
        except PostNotFound as exc:
            out.incomplete[f"{kind} {post_id}"] = str(exc)
            continue
        out.post_stats += 1
        out.forwards += len(stats.forwards)
        if stats.missing:
            out.incomplete[f"{kind} {post_id}"] = "not loaded: " + ", ".join(stats.missing)
        frames = _post_stats_frames(peer.channel_id, stats, published_at, settle_after)
        changed = False
        for table in ("post_timeline", "post_forwards", "post_stats"):
            changed |= bool((await asyncio.to_thread(store.changed, table, frames[table])).any())
        if changed and published_at.date() in wanted:
            out.changed_days.add(published_at.date())
        await asyncio.to_thread(store.put, frames)


async def _revenue(
    peer: PeerInfo, client: ContentClient, store: ContentStore, out: PeerContent
) -> None:
    answer = await client.revenue(peer, out.requests)
    if isinstance(answer, NoRevenue):
        out.revenue = f"none: {answer.reason}"
        return
    out.revenue = ", ".join(c.currency for c in answer.currencies)
    frames = _revenue_frames(peer.channel_id, answer)
    counts = await asyncio.to_thread(store.put, frames)
    out.revenue_rows = counts["revenue_status"].inserted


def with_revenue(snapshot: StoredSnapshot, revenue: Iterable[StoredGraph]) -> StoredSnapshot:
    """The snapshot with the channel's newest daily revenue graphs beside its own graphs,
    each named ``revenue_<currency>_graph``: the daily pivot reads them like the others."""
    extra = tuple(revenue)
    return replace(snapshot, graphs=snapshot.graphs + extra) if extra else snapshot


def newest_revenue_graphs(store: ContentStore, channel_id: int) -> list[StoredGraph]:
    """The daily revenue graph of each currency's newest fetch, named for the pivot."""
    graphs = store.newest_graphs(
        channel_id, [revenue_source(c) for c in ("stars", "ton")], REVENUE_DAILY_GRAPH
    )
    return [
        replace(graph, graph=revenue_field(source.removeprefix("revenue:")))
        for source, graph in graphs.items()
    ]


def _stored(graph: RawGraph) -> StoredGraph:
    return StoredGraph(graph.field, graph.kind, graph.data, graph.error, graph.zoom_token)


def _zoom_payload(zoom: ZoomedGraph) -> RawPayload:
    return RawPayload(zoom_source(zoom.day), zoom.fetched_at, _stored(zoom.graph))


def _hourly_points(zooms: Iterable[ZoomedGraph]) -> Iterable[HourlyPoint]:
    """Every hourly point of the zooms that came inline (5-minute zooms stay raw)."""
    for zoom in zooms:
        parsed = _parsed(zoom.graph)
        if parsed is None or parsed.step is not XStep.HOURLY:
            continue
        for hour, metric, value in time_points(parsed):
            yield HourlyPoint(hour, metric, value, zoom.fetched_at)


def _parsed(graph: RawGraph) -> ParsedGraph | None:
    if graph.data is None:
        return None
    try:
        return parse_graph(graph.field, graph.data)
    except GraphFormatError as exc:
        log.warning("%s", exc)
        return None


def _post_stats_frames(
    channel_id: int, stats: PostStats, published_at: datetime, settle_after: timedelta
) -> dict[str, pd.DataFrame]:
    """The rows of one post's statistics: raw graphs, timeline, forwards, its state."""
    source = post_source(stats.kind, stats.post_id)
    points = [
        TimelinePoint(stats.kind, stats.post_id, ts, metric, value, stats.fetched_at)
        for graph in stats.graphs
        if (parsed := _parsed(graph)) is not None
        for ts, metric, value in time_points(parsed)
    ]
    post = {"kind": stats.kind, "post_id": stats.post_id, "fetched_at": stats.fetched_at}
    return {
        "content_raw": raw_frame(
            channel_id, (RawPayload(source, stats.fetched_at, _stored(g)) for g in stats.graphs)
        ),
        "post_timeline": timeline_frame(channel_id, points),
        "post_forwards": forwards_frame(
            channel_id, ({**asdict(f), **post} for f in stats.forwards)
        ),
        "post_stats": post_stats_frame(
            channel_id,
            [{**post, "published_at": published_at, "missing": stats.missing}],
            settle_after,
        ),
    }


def _revenue_frames(channel_id: int, revenue: RevenueStats) -> dict[str, pd.DataFrame]:
    payloads = [
        RawPayload(revenue_source(c.currency), revenue.fetched_at, _stored(g))
        for c in revenue.currencies
        for g in c.graphs
    ]
    return {
        "content_raw": raw_frame(channel_id, payloads),
        "revenue_status": revenue_frame(
            channel_id, revenue.fetched_at, (asdict(c) for c in revenue.currencies)
        ),
    }


def summary(contents: Mapping[str, PeerContent]) -> str:
    """One log line of the run's content."""
    total = Counter[str]()
    for c in contents.values():
        total.update(zooms=c.zooms, posts=c.posts, stories=c.stories, post_stats=c.post_stats)
    left = sum(bool(c.incomplete) for c in contents.values())
    return (
        f"content of {len(contents)} peer(s): {total['zooms']} zoom(s), {total['posts']} "
        f"post(s) and {total['stories']} story(ies) listed, {total['post_stats']} post "
        f"statistics fetched; {left} peer(s) have something left for next time"
    )
