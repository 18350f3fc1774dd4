"""One stats snapshot of one peer: the stats request and every async graph, on its stats DC.

Routing follows Telegram's clients (stats_route.py): the stats request and every
``loadAsyncGraph`` go to ``ChannelFull.stats_dc`` (the normal client call when that is the
home DC, an exported sender otherwise). ``STATS_MIGRATE_X`` moves the work to DC X once.
Requests of one peer are sent one after the other.

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
from telethon.tl.tlobject import TLRequest

from tgstats_dagster.telegram.errors import (
    NoStatsRights,
    PeerNotFound,
    StatsUnavailable,
    TelegramStatsError,
    cause_text,
)
from tgstats_dagster.telegram.models import PeerInfo, RawGraph, StatsSnapshot
from tgstats_dagster.telegram.stats_route import StaleToken, StatsRoute, missing
from tgstats_dagster.telegram.tl_json import graph_fields, scalars_of, utc

log = logging.getLogger(__name__)


def stats_request(peer: PeerInfo) -> TLRequest:
    """The stats request for the peer's type; NoStatsRights when it has none."""
    channel = types.InputChannel(peer.channel_id, peer.access_hash)
    if peer.broadcast:
        return functions.stats.GetBroadcastStatsRequest(channel)
    if peer.megagroup:
        return functions.stats.GetMegagroupStatsRequest(channel)
    raise NoStatsRights(peer.key, "it is neither a broadcast channel nor a supergroup")


class SnapshotFetcher:
    """Fetches snapshots through a StatsRoute (which tells the resolver the DCs it learns)."""

    def __init__(self, route: StatsRoute) -> None:
        self._route = route

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
        stats = await self._stats(peer, counter)
        dc = self._route.dc_of(peer)
        if dc != peer.stats_dc:
            peer = replace(peer, stats_dc=dc)

        graphs: dict[str, RawGraph] = {}
        stale: dict[str, StaleToken] = {}
        for field in graph_fields(stats):
            try:
                graphs[field] = await self._route.graph(peer, field, getattr(stats, field), counter)
            except StaleToken as exc:
                stale[field] = exc
        if stale:
            log.info(
                "peer %s: %d graph token(s) stale (%s): fetching the stats again",
                peer.key,
                len(stale),
                ", ".join(sorted(stale)),
            )
            graphs.update(await self._reload_stale(peer, stale, counter))

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

    async def _stats(self, peer: PeerInfo, counter: Counter[str]) -> Any:
        """The stats object, from the peer's stats DC (learnt from STATS_MIGRATE, once)."""
        request = stats_request(peer)
        name = type(request).__name__
        try:
            return await self._route.send(peer, request, counter)
        except (errors.ChatAdminRequiredError, errors.ChannelPrivateError) as exc:
            raise NoStatsRights(peer.key, f"Telegram says {cause_text(exc)} to {name}") from exc
        except errors.ChannelInvalidError as exc:
            raise PeerNotFound(peer.key, f"Telegram says {cause_text(exc)} to {name}") from exc
        except errors.RPCError as exc:
            raise StatsUnavailable(peer.key, name, exc) from exc

    async def _reload_stale(
        self, peer: PeerInfo, stale: Mapping[str, StaleToken], counter: Counter[str]
    ) -> dict[str, RawGraph]:
        """One more stats request, then each stale graph loaded once from the fresh tokens."""
        try:
            fresh = await self._stats(peer, counter)
        except TelegramStatsError as exc:
            reason = cause_text(exc)
            return {
                field: missing(field, f"{first}; fetching the stats again failed: {reason}")
                for field, first in stale.items()
            }
        out: dict[str, RawGraph] = {}
        for field in stale:
            try:
                out[field] = await self._route.graph(peer, field, getattr(fresh, field), counter)
            except StaleToken as exc:
                out[field] = missing(field, str(exc))
        return out
