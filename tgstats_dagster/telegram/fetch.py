"""One stats snapshot of one peer: the stats request and every async graph, on its stats DC.

Routing follows Telegram's clients: the stats request and every ``loadAsyncGraph`` go to
``ChannelFull.stats_dc`` (the normal client call when that is the home DC, an exported
sender otherwise). ``STATS_MIGRATE_X`` moves the work to DC X once. Requests of one peer are
sent one after the other.

A snapshot is complete or says so: a graph that cannot be loaded (a failure that outlasted
the retry policy, a flood wait over the threshold, any other error on its load) is kept as
kind ``missing`` with its cause, and the other graphs still load. A stale graph token
(``GRAPH_*_RELOAD``) costs one more stats request for the whole snapshot, then each stale
graph is loaded once more from the fresh tokens; what is still stale is ``missing``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from telethon import errors
from telethon.tl import functions, types
from telethon.tl.tlobject import TLObject, TLRequest

from tgstats_dagster.telegram.errors import (
    NoStatsRights,
    PeerNotFound,
    StatsUnavailable,
    TelegramStatsError,
    cause_text,
)
from tgstats_dagster.telegram.models import PeerInfo, RawGraph, StatsSnapshot
from tgstats_dagster.telegram.peers import PeerResolver
from tgstats_dagster.telegram.tl_json import graph_fields, scalars_of, utc
from tgstats_dagster.telegram.transport import Transport

log = logging.getLogger(__name__)

STALE_TOKEN_ERRORS = (
    errors.GraphExpiredReloadError,
    errors.GraphOutdatedReloadError,
    errors.GraphInvalidReloadError,
)


class _StaleToken(Exception):
    """A graph token Telegram no longer accepts; the stats must be fetched again."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(cause_text(cause))


def _missing(field: str, cause: str) -> RawGraph:
    return RawGraph(field, "missing", None, cause, None)


def stats_request(peer: PeerInfo) -> TLRequest:
    """The stats request for the peer's type; NoStatsRights when it has none."""
    channel = types.InputChannel(peer.channel_id, peer.access_hash)
    if peer.broadcast:
        return functions.stats.GetBroadcastStatsRequest(channel)
    if peer.megagroup:
        return functions.stats.GetMegagroupStatsRequest(channel)
    raise NoStatsRights(peer.key, "it is neither a broadcast channel nor a supergroup")


class SnapshotFetcher:
    """Fetches snapshots through one Transport; learnt stats DCs go to the resolver."""

    def __init__(self, transport: Transport, resolver: PeerResolver) -> None:
        self._transport = transport
        self._resolver = resolver

    async def fetch(self, peer: PeerInfo) -> StatsSnapshot:
        """One stats snapshot of a resolved peer, every async graph loaded on its stats DC.

        Raises NoStatsRights (no ``can_view_stats``, or Telegram refuses), FloodWaitTooLong
        (on the stats request), PeerNotFound (the access hash is no longer valid),
        StatsUnavailable or TelegramRequestFailed.
        """
        if not peer.can_view_stats:
            raise NoStatsRights(
                peer.key,
                "channels.getFullChannel says can_view_stats is false (the account is not an "
                "admin with statistics rights, or Telegram offers no statistics for it yet)",
            )
        counter: Counter[str] = Counter()
        fetched_at = datetime.now(timezone.utc)
        stats, dc = await self._stats(peer, peer.stats_dc or self._transport.home_dc, counter)
        if dc != peer.stats_dc:
            peer = replace(peer, stats_dc=dc)
            self._resolver.remember(peer)

        graphs: dict[str, RawGraph] = {}
        stale: dict[str, _StaleToken] = {}
        for field in graph_fields(stats):
            try:
                graphs[field] = await self._graph(field, getattr(stats, field), dc, peer, counter)
            except _StaleToken as exc:
                stale[field] = exc
        if stale:
            log.info(
                "peer %s: %d graph token(s) stale (%s): fetching the stats again",
                peer.key,
                len(stale),
                ", ".join(sorted(stale)),
            )
            graphs.update(await self._reload_stale(peer, dc, stale, counter))

        snapshot = StatsSnapshot(
            peer=peer,
            fetched_at=fetched_at,
            period_min=utc(stats.period.min_date),
            period_max=utc(stats.period.max_date),
            scalars=scalars_of(stats),
            graphs=tuple(graphs[field] for field in graph_fields(stats)),
            requests=dict(counter),
        )
        if not snapshot.complete:
            log.warning(
                "peer %s: snapshot incomplete, graphs not loaded: %s",
                peer.key,
                "; ".join(f"{g.field} ({g.error})" for g in snapshot.graphs if g.kind == "missing"),
            )
        return snapshot

    async def _stats(self, peer: PeerInfo, dc: int, counter: Counter[str]) -> tuple[Any, int]:
        """The stats object and the DC that answered (learnt from STATS_MIGRATE, once)."""
        request = stats_request(peer)
        name = type(request).__name__
        send = self._transport.send
        try:
            try:
                return await send(request, dc=dc, peer=peer.key, counter=counter), dc
            except errors.StatsMigrateError as exc:
                log.info("peer %s: stats live on DC %d, not %d", peer.key, exc.dc, dc)
                return await send(request, dc=exc.dc, peer=peer.key, counter=counter), exc.dc
        except (errors.ChatAdminRequiredError, errors.ChannelPrivateError) as exc:
            raise NoStatsRights(peer.key, f"Telegram says {cause_text(exc)} to {name}") from exc
        except errors.ChannelInvalidError as exc:
            raise PeerNotFound(peer.key, f"Telegram says {cause_text(exc)} to {name}") from exc
        except errors.RPCError as exc:
            raise StatsUnavailable(peer.key, name, exc) from exc

    async def _graph(
        self, field: str, value: TLObject, dc: int, peer: PeerInfo, counter: Counter[str]
    ) -> RawGraph:
        """One graph field as sent, its async token loaded; a stale token raises _StaleToken."""
        if isinstance(value, types.StatsGraph):
            return RawGraph(field, "inline", value.json.data, None, value.zoom_token)
        if isinstance(value, types.StatsGraphError):
            return RawGraph(field, "error", None, value.error, None)
        request = functions.stats.LoadAsyncGraphRequest(value.token)
        try:
            result = await self._transport.send(request, dc=dc, peer=peer.key, counter=counter)
        except STALE_TOKEN_ERRORS as exc:
            raise _StaleToken(exc) from exc
        except (TelegramStatsError, errors.RPCError) as exc:
            return _missing(field, cause_text(exc))
        if isinstance(result, types.StatsGraph):
            return RawGraph(field, "async", result.json.data, None, result.zoom_token)
        if isinstance(result, types.StatsGraphError):
            return RawGraph(field, "error", None, result.error, None)
        return _missing(field, f"unexpected answer {type(result).__name__}")

    async def _reload_stale(
        self, peer: PeerInfo, dc: int, stale: Mapping[str, _StaleToken], counter: Counter[str]
    ) -> dict[str, RawGraph]:
        """One more stats request, then each stale graph loaded once from the fresh tokens."""
        try:
            fresh, _ = await self._stats(peer, dc, counter)
        except TelegramStatsError as exc:
            reason = cause_text(exc)
            return {
                field: _missing(field, f"{first}; fetching the stats again failed: {reason}")
                for field, first in stale.items()
            }
        out: dict[str, RawGraph] = {}
        for field in stale:
            try:
                out[field] = await self._graph(field, getattr(fresh, field), dc, peer, counter)
            except _StaleToken as exc:
                out[field] = _missing(field, str(exc))
        return out
