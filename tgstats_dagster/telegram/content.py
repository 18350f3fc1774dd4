"""ContentClient: a channel's statistics beyond its stats snapshot, for the rest of the project.

A facade over zooms.py (hourly detail), posts.py (posts and stories), post_stats.py (their
statistics and public forwards) and revenue.py (Stars and TON), all sending through the
StatsClient's StatsRoute and Transport: one retry policy, one request count, and the stats
DCs learnt for the snapshots. Requests of one call go one after the other.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from datetime import date

from tgstats_dagster.telegram.content_models import (
    NoRevenue,
    Post,
    PostKind,
    PostStats,
    RevenueStats,
    ZoomedGraph,
)
from tgstats_dagster.telegram.models import PeerInfo
from tgstats_dagster.telegram.post_stats import PostStatsFetcher
from tgstats_dagster.telegram.posts import PostLister
from tgstats_dagster.telegram.revenue import RevenueFetcher
from tgstats_dagster.telegram.stats_route import StatsRoute
from tgstats_dagster.telegram.zooms import ZoomLoader


class ContentClient:
    """Zooms, posts, stories, their statistics and revenue through one StatsRoute.

    Every method takes an optional ``counter`` that counts its requests
    (``"<Request>@dc<N>"``), as StatsSnapshot.requests does.
    """

    def __init__(self, route: StatsRoute) -> None:
        self._transport = route.transport
        self._zooms = ZoomLoader(route)
        self._posts = PostLister(route.transport)
        self._post_stats = PostStatsFetcher(route)
        self._revenue = RevenueFetcher(route)

    @property
    def requests(self) -> Counter[str]:
        """Every request sent through the transport (each attempt)."""
        return self._transport.requests

    async def zooms(
        self,
        peer: PeerInfo,
        tokens: Mapping[str, str],
        days: Iterable[date],
        kept: Mapping[str, Collection[date]] | None = None,
        counter: Counter[str] | None = None,
    ) -> tuple[ZoomedGraph, ...]:
        """The fewest zooms covering ``days`` not ``kept`` (see ZoomLoader.load)."""
        return await self._zooms.load(peer, tokens, days, kept, counter)

    async def posts(
        self, peer: PeerInfo, first: date, last: date, counter: Counter[str] | None = None
    ) -> tuple[Post, ...]:
        """The messages published ``first`` .. ``last`` (see PostLister.posts)."""
        return await self._posts.posts(peer, first, last, counter)

    async def stories(
        self,
        peer: PeerInfo,
        first: date | None = None,
        last: date | None = None,
        counter: Counter[str] | None = None,
    ) -> tuple[Post, ...]:
        """The channel's archived stories (see PostLister.stories)."""
        return await self._posts.stories(peer, first, last, counter)

    async def post_stats(
        self, peer: PeerInfo, kind: PostKind, post_id: int, counter: Counter[str] | None = None
    ) -> PostStats:
        """A message's or story's statistics and public forwards (see PostStatsFetcher)."""
        return await self._post_stats.fetch(peer, kind, post_id, counter)

    async def revenue(
        self, peer: PeerInfo, counter: Counter[str] | None = None
    ) -> RevenueStats | NoRevenue:
        """Stars and TON revenue, or NoRevenue (see RevenueFetcher.fetch)."""
        return await self._revenue.fetch(peer, counter)
