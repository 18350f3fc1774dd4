"""Where a peer's statistics requests go: its stats DC, learnt from STATS_MIGRATE once.

The same rule as the channel's stats (fetch.py), for every request beyond them: a post's or
story's statistics, their public forwards, every async graph and zoom load. They go to
``ChannelFull.stats_dc`` (the home DC when it gives none); ``STATS_MIGRATE_X`` sends that
request once more on DC X and every later one of the peer straight there. Graph tokens are
loaded on the DC that issued them (elsewhere Telegram answers GRAPH_INVALID_RELOAD).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from telethon import errors
from telethon.tl import functions, types
from telethon.tl.tlobject import TLObject, TLRequest

from tgstats_dagster.telegram.errors import TelegramStatsError, cause_text
from tgstats_dagster.telegram.models import PeerInfo, RawGraph
from tgstats_dagster.telegram.transport import Transport

log = logging.getLogger(__name__)

#: Telegram no longer accepts the token: the statistics must be fetched again.
STALE_TOKEN_ERRORS = (
    errors.GraphExpiredReloadError,
    errors.GraphOutdatedReloadError,
    errors.GraphInvalidReloadError,
)


class StaleToken(Exception):
    """A graph token Telegram no longer accepts; the statistics must be fetched again."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(cause_text(cause))


def missing(field: str, cause: str) -> RawGraph:
    """A graph that could not be loaded, with why (asked again next time)."""
    return RawGraph(field, "missing", None, cause, None)


class StatsRoute:
    """Sends a peer's statistics requests to its stats DC through one Transport.

    ``remember`` hears of every stats DC learnt from STATS_MIGRATE (the resolver keeps it
    for later resolves).
    """

    def __init__(
        self, transport: Transport, remember: Callable[[PeerInfo], None] | None = None
    ) -> None:
        self.transport = transport
        self._remember = remember
        self._learnt: dict[int, int] = {}

    def dc_of(self, peer: PeerInfo) -> int:
        """The DC the peer's statistics live on, as far as is known."""
        return self._learnt.get(peer.channel_id) or peer.stats_dc or self.transport.home_dc

    async def send(self, peer: PeerInfo, request: TLRequest, counter: Counter[str]) -> Any:
        """A stats request on the peer's stats DC; STATS_MIGRATE_X learnt, and resent, once."""
        dc = self.dc_of(peer)
        try:
            return await self.transport.send(request, dc=dc, peer=peer.key, counter=counter)
        except errors.StatsMigrateError as exc:
            log.info("peer %s: stats live on DC %d, not %d", peer.key, exc.dc, dc)
            self._learnt[peer.channel_id] = exc.dc
            if self._remember is not None:
                self._remember(replace(peer, stats_dc=exc.dc))
            return await self.transport.send(request, dc=exc.dc, peer=peer.key, counter=counter)

    async def load(
        self, peer: PeerInfo, token: str, counter: Counter[str], *, x: int | None = None
    ) -> Any:
        """``stats.loadAsyncGraph(token, x)`` on the peer's stats DC."""
        request = functions.stats.LoadAsyncGraphRequest(token=token, x=x)
        return await self.transport.send(
            request, dc=self.dc_of(peer), peer=peer.key, counter=counter
        )

    async def graph(
        self, peer: PeerInfo, field: str, value: TLObject | None, counter: Counter[str]
    ) -> RawGraph:
        """One graph field as sent, its async token loaded on the stats DC.

        A failure that outlasts the retry policy, or any other error on the load, gives a
        ``missing`` graph with its cause; a stale token raises StaleToken.
        """
        if isinstance(value, types.StatsGraph):
            return RawGraph(field, "inline", value.json.data, None, value.zoom_token)
        if isinstance(value, types.StatsGraphError):
            return RawGraph(field, "error", None, value.error, None)
        if not isinstance(value, types.StatsGraphAsync):
            return missing(field, f"unexpected answer {type(value).__name__}")
        try:
            result = await self.load(peer, value.token, counter)
        except STALE_TOKEN_ERRORS as exc:
            raise StaleToken(exc) from exc
        except (TelegramStatsError, errors.RPCError) as exc:
            return missing(field, cause_text(exc))
        if isinstance(result, types.StatsGraph):
            return RawGraph(field, "async", result.json.data, None, result.zoom_token)
        if isinstance(result, types.StatsGraphError):
            return RawGraph(field, "error", None, result.error, None)
        return missing(field, f"unexpected answer {type(result).__name__}")
