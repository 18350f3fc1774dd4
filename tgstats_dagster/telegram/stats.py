"""StatsClient: what the rest of the project calls to read Telegram statistics.

A facade over the modules that do the work: transport.py (sending under the one retry
policy of retry.py, routed by dc.py), peers.py (resolving), fetch.py (snapshots), and
content.py (everything beyond the snapshot: zooms, posts and stories, revenue). Peers are
worked on ``concurrency`` at a time; the requests of one peer go one after the other.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TypeVar

from telethon import TelegramClient

from tgstats_dagster.telegram.content import ContentClient
from tgstats_dagster.telegram.errors import NoStatsRights
from tgstats_dagster.telegram.fetch import SnapshotFetcher
from tgstats_dagster.telegram.models import PeerInfo, PeerOutcome, StatsSnapshot
from tgstats_dagster.telegram.peers import PeerResolver
from tgstats_dagster.telegram.retry import RetryPolicy
from tgstats_dagster.telegram.stats_route import StatsRoute
from tgstats_dagster.telegram.transport import Transport

log = logging.getLogger(__name__)

T = TypeVar("T")


class StatsClient:
    """Official statistics of channels and supergroups through one connected TelegramClient.

    The client should be configured by connect.client_options (Telethon neither retries nor
    sleeps by itself), so that ``policy`` is the only retry policy, on every DC.
    """

    def __init__(
        self, client: TelegramClient, *, policy: RetryPolicy | None = None, concurrency: int = 3
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = concurrency
        self._transport = Transport(client, policy or RetryPolicy())
        self._resolver = PeerResolver(self._transport)
        route = StatsRoute(self._transport, self._resolver.remember)
        self._fetcher = SnapshotFetcher(route)
        #: Zooms, posts, stories, their statistics and revenue, through the same route.
        self.content = ContentClient(route)

    @property
    def requests(self) -> Counter[str]:
        """Every request sent (each attempt), ``"<RequestName>@dc<N>"`` -> count."""
        return self._transport.requests

    @property
    def home_dc(self) -> int:
        return self._transport.home_dc

    async def resolve(self, key: str, known: PeerInfo | None = None) -> PeerInfo:
        """The peer behind ``key`` (see PeerResolver.resolve): PeerNotFound when none."""
        return await self._resolver.resolve(key, known)

    async def fetch(self, peer: PeerInfo) -> StatsSnapshot:
        """One snapshot of a resolved peer (see SnapshotFetcher.fetch)."""
        return await self._fetcher.fetch(peer)

    def resolve_each(
        self, keys: Sequence[str], known: Mapping[str, PeerInfo]
    ) -> AsyncIterator[PeerOutcome]:
        """Resolve ``keys``, ``concurrency`` at a time; each outcome as it completes.

        "loaded" with ``peer``, or "failed" with ``reason`` and ``error`` (PeerNotFound,
        FloodWaitTooLong, TelegramRequestFailed, ...). A key in ``known`` with an access hash
        costs one getFullChannel, no lookup.
        """

        async def one(key: str) -> PeerOutcome:
            try:
                peer = await self.resolve(key, known.get(key))
            except Exception as exc:
                log.warning("peer %s failed: %s", key, exc)
                return PeerOutcome(key, "failed", None, None, str(exc), exc)
            return PeerOutcome(key, "loaded", peer)

        return self._as_completed(keys, one)

    def fetch_each(self, peers: Sequence[PeerInfo]) -> AsyncIterator[PeerOutcome]:
        """Fetch ``peers``, ``concurrency`` at a time; each outcome as it completes.

        "loaded" with ``snapshot`` (which may be incomplete: ``snapshot.complete``),
        "skipped" with the reason (NoStatsRights), or "failed" with ``reason`` and ``error``
        (FloodWaitTooLong over the threshold on the stats request among others).
        """

        async def one(peer: PeerInfo) -> PeerOutcome:
            try:
                snapshot = await self.fetch(peer)
            except NoStatsRights as exc:
                log.warning("peer %s skipped: %s", peer.key, exc.reason)
                return PeerOutcome(peer.key, "skipped", peer, None, exc.reason, exc)
            except Exception as exc:
                log.warning("peer %s failed: %s", peer.key, exc)
                return PeerOutcome(peer.key, "failed", peer, None, str(exc), exc)
            return PeerOutcome(peer.key, "loaded", snapshot.peer, snapshot)

        return self._as_completed(peers, one)

    async def _as_completed(
        self, items: Sequence[T], work: Callable[[T], Awaitable[PeerOutcome]]
    ) -> AsyncIterator[PeerOutcome]:
        """``work`` on every item, ``concurrency`` at a time, yielding results as they come.

        Stopping the iteration early cancels the work not yet done.
        """
        gate = asyncio.Semaphore(self.concurrency)

        async def gated(item: T) -> PeerOutcome:
            async with gate:
                return await work(item)

        tasks = [asyncio.ensure_future(gated(item)) for item in items]
        try:
            for done in asyncio.as_completed(tasks):
                yield await done
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
