"""The stats client: resolve each peer once, read its ChannelFull, fetch its statistics on
its stats DC and load every async graph there, once.

Routing follows Telegram's clients: the stats request and every ``loadAsyncGraph`` go to
``ChannelFull.stats_dc`` (the normal client call when that is the home DC, an exported
sender otherwise, see dc.py). ``STATS_MIGRATE_X`` moves the work to DC X once. A stale
graph token (``GRAPH_*_RELOAD``) costs one more stats request for the whole snapshot, then
each stale graph is loaded once more; what still fails stays in the snapshot as an error.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from telethon import TelegramClient, errors
from telethon.tl import functions, types
from telethon.tl.tlobject import TLObject, TLRequest

from tgstats_dagster.telegram import dc as dc_routing
from tgstats_dagster.telegram.errors import (
    FloodWaitTooLong,
    NoStatsRights,
    PeerNotFound,
    StatsUnavailable,
    TelegramRequestFailed,
    TelegramStatsError,
    describe,
    rpc_text,
)
from tgstats_dagster.telegram.models import PeerInfo, PeerOutcome, RawGraph, StatsSnapshot

log = logging.getLogger(__name__)

#: Errors worth another try after a pause: Telegram's internal (5xx) errors and a dropped
#: connection. ConnectionError and IncompleteReadError are OSError / EOFError kinds.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    errors.ServerError,
    errors.RpcCallFailError,
    errors.RpcMcgetFailError,
    errors.InterdcCallErrorError,
    errors.InterdcCallRichErrorError,
    errors.TimedOutError,
    asyncio.IncompleteReadError,
    OSError,
)
FLOOD_ERRORS = (errors.FloodWaitError, errors.FloodPremiumWaitError)
STALE_TOKEN_ERRORS = (
    errors.GraphExpiredReloadError,
    errors.GraphOutdatedReloadError,
    errors.GraphInvalidReloadError,
)
GRAPH_TYPES = (types.StatsGraph, types.StatsGraphAsync, types.StatsGraphError)
#: List items whose TL type is one of several constructors keep their "_" in scalars.
_POLYMORPHIC_ITEMS = frozenset({"PostInteractionCountersMessage", "PostInteractionCountersStory"})
#: What a supergroup's ``users`` list keeps of each user (no access hash, no phone).
_USER_FIELDS = ("id", "first_name", "last_name", "username")


def request_label(request: TLRequest, dc_id: int) -> str:
    """``GetBroadcastStatsRequest@dc4``: how requests are counted."""
    return f"{type(request).__name__}@dc{dc_id}"


def channel_id_of_key(key: str) -> int | None:
    """A numeric peer key -> the bare channel id (``-100123`` and ``123`` give 123)."""
    text = key.strip()
    if not text.lstrip("-").isdigit():
        return None
    if text.startswith("-100"):
        return int(text[4:])
    return abs(int(text))


def graph_fields(stats: TLObject) -> tuple[str, ...]:
    """The graph fields of a BroadcastStats / MegagroupStats object, in TL order."""
    return tuple(name for name, value in vars(stats).items() if isinstance(value, GRAPH_TYPES))


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _jsonable(value: Any) -> Any:
    """A TL value -> JSON-ready: dates as unix seconds, integral doubles as ints."""
    if isinstance(value, TLObject):
        if isinstance(value, types.User):
            return {n: getattr(value, n) for n in _USER_FIELDS if getattr(value, n) is not None}
        out = {
            name: _jsonable(item)
            for name, item in vars(value).items()
            if not name.startswith("_") and item is not None
        }
        if type(value).__name__ in _POLYMORPHIC_ITEMS:
            return {"_": type(value).__name__, **out}
        return out
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if isinstance(value, datetime):
        return int(_utc(value).timestamp())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def scalars_of(stats: TLObject) -> dict[str, Any]:
    """Every non-graph field of a stats object, by TL name, JSON-ready."""
    return {
        name: _jsonable(value)
        for name, value in vars(stats).items()
        if not name.startswith("_") and not isinstance(value, GRAPH_TYPES)
    }


def graph_error_text(exc: BaseException) -> str:
    """The error text kept for a graph that could not be loaded."""
    return rpc_text(exc) or describe(exc)


class _StaleToken(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(graph_error_text(cause))
        self.cause = cause


class StatsClient:
    """Official statistics of channels and supergroups through one connected TelegramClient.

    ``flood_sleep_threshold``: flood waits up to this many seconds are slept (on every path,
    the exported-sender one too); longer ones raise FloodWaitTooLong. ``retries``: how many
    times a request is sent again after a transient failure (5xx such as ``CHP_CALL_FAIL``,
    a dropped connection) or a slept flood wait, with exponential backoff from
    ``retry_base_delay`` seconds. On the home DC Telethon's own ``_call`` also sleeps short
    flood waits and resends 5xx errors before this client sees them.
    """

    def __init__(
        self,
        client: TelegramClient,
        *,
        flood_sleep_threshold: int = 60,
        concurrency: int = 3,
        retries: int = 4,
        retry_base_delay: float = 1.0,
        retry_max_delay: float = 30.0,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._client = client
        self.flood_sleep_threshold = flood_sleep_threshold
        self.concurrency = concurrency
        self.retries = retries
        self.retry_base_delay = retry_base_delay
        self.retry_max_delay = retry_max_delay
        self._sleep = sleep  # how waits are waited (tests record them)
        #: Every request this client sent, "<RequestName>@dc<N>" -> count.
        self.requests: Counter[str] = Counter()
        self._known: dict[str, PeerInfo] = {}

    @property
    def home_dc(self) -> int:
        return dc_routing.home_dc(self._client)

    # -- sending --------------------------------------------------------------------------

    async def _send(
        self, request: TLRequest, *, dc: int | None, peer: str | None, counter: Counter[str]
    ) -> Any:
        """Send on ``dc`` (home when None) with flood-wait and transient-failure handling."""
        home = self.home_dc
        target = home if dc is None else dc
        name = type(request).__name__
        attempt = 0
        while True:
            label = request_label(request, target)
            counter[label] += 1
            self.requests[label] += 1
            try:
                if target == home:
                    return await self._client(request)
                return await dc_routing.send_on_dc(self._client, target, request)
            except FLOOD_ERRORS as exc:
                seconds = max(int(exc.seconds), 1)
                if seconds > self.flood_sleep_threshold or attempt >= self.retries:
                    raise FloodWaitTooLong(seconds, name, peer) from exc
                attempt += 1
                log.info(
                    "flood wait of %d s on %s@dc%d (peer %s): sleeping", seconds, name, target, peer
                )
                await self._sleep(seconds)
            except TRANSIENT_ERRORS as exc:
                if attempt >= self.retries:
                    raise TelegramRequestFailed(peer, name, exc) from exc
                delay = min(self.retry_base_delay * 2**attempt, self.retry_max_delay)
                attempt += 1
                log.warning(
                    "%s@dc%d (peer %s) failed (%s: %s); retry %d/%d in %.1f s",
                    name,
                    target,
                    peer,
                    type(exc).__name__,
                    exc,
                    attempt,
                    self.retries,
                    delay,
                )
                await self._sleep(delay)

    # -- peers ----------------------------------------------------------------------------

    async def resolve(self, key: str, known: PeerInfo | None = None) -> PeerInfo:
        """The peer behind ``key``, read from ``channels.getFullChannel``.

        A peer known from before (``known``, or resolved earlier by this client) is not
        resolved again: its id and access hash are used as they are. Only when Telegram
        says that access hash is no longer valid is the username resolved once more.
        """
        known = known or self._known.get(key)
        if known is not None and known.access_hash:
            channel = types.InputChannel(known.channel_id, known.access_hash)
            try:
                info = await self._full_channel(key, channel)
            except PeerNotFound:
                if channel_id_of_key(key) is not None:
                    raise
                log.warning("the stored access hash of peer %s is stale: resolving again", key)
                info = await self._full_channel(key, await self._lookup(key))
        else:
            info = await self._full_channel(key, await self._lookup(key))
        self._known[key] = info
        return info

    async def _lookup(self, key: str) -> types.InputChannel:
        """One network lookup of a key: ``contacts.resolveUsername`` or ``getChannels``."""
        counter: Counter[str] = Counter()  # resolving is counted on the client only
        channel_id = channel_id_of_key(key)
        try:
            if channel_id is not None:
                result = await self._send(
                    functions.channels.GetChannelsRequest([types.InputChannel(channel_id, 0)]),
                    dc=None,
                    peer=key,
                    counter=counter,
                )
                chats = result.chats
            else:
                result = await self._send(
                    functions.contacts.ResolveUsernameRequest(key),
                    dc=None,
                    peer=key,
                    counter=counter,
                )
                if not isinstance(result.peer, types.PeerChannel):
                    raise PeerNotFound(key, "it is a user, not a channel or supergroup")
                chats = [c for c in result.chats if c.id == result.peer.channel_id]
        except (
            errors.UsernameNotOccupiedError,
            errors.UsernameInvalidError,
            errors.ChannelInvalidError,
            errors.ChannelPrivateError,
        ) as exc:
            raise PeerNotFound(key, f"Telegram says {graph_error_text(exc)}") from exc
        except errors.RPCError as exc:
            raise TelegramRequestFailed(key, "resolve", exc) from exc
        channel = next((c for c in chats if isinstance(c, types.Channel)), None)
        if channel is None or channel.access_hash is None:
            raise PeerNotFound(key, "not a channel or supergroup this account can see")
        return types.InputChannel(channel.id, channel.access_hash)

    async def _full_channel(self, key: str, channel: types.InputChannel) -> PeerInfo:
        try:
            full = await self._send(
                functions.channels.GetFullChannelRequest(channel),
                dc=None,
                peer=key,
                counter=Counter(),
            )
        except (errors.ChannelInvalidError, errors.ChannelPrivateError) as exc:
            raise PeerNotFound(key, f"Telegram says {graph_error_text(exc)}") from exc
        except errors.RPCError as exc:
            raise TelegramRequestFailed(key, "GetFullChannelRequest", exc) from exc
        chat = next(
            (c for c in full.chats if isinstance(c, types.Channel) and c.id == channel.channel_id),
            None,
        )
        if chat is None or not isinstance(full.full_chat, types.ChannelFull):
            raise PeerNotFound(key, "Telegram did not return the channel")
        return PeerInfo(
            key=key,
            channel_id=chat.id,
            access_hash=chat.access_hash or channel.access_hash,
            title=chat.title,
            username=chat.username,
            broadcast=bool(chat.broadcast),
            megagroup=bool(chat.megagroup),
            can_view_stats=bool(full.full_chat.can_view_stats),
            stats_dc=full.full_chat.stats_dc,
            participants_count=full.full_chat.participants_count,
        )

    # -- stats ----------------------------------------------------------------------------

    def _stats_request(self, peer: PeerInfo) -> TLRequest:
        channel = types.InputChannel(peer.channel_id, peer.access_hash)
        if peer.broadcast:
            return functions.stats.GetBroadcastStatsRequest(channel)
        if peer.megagroup:
            return functions.stats.GetMegagroupStatsRequest(channel)
        raise NoStatsRights(peer.key, "it is neither a broadcast channel nor a supergroup")

    async def _fetch_stats(
        self, peer: PeerInfo, dc: int, counter: Counter[str]
    ) -> tuple[TLObject, int]:
        """The stats object and the DC that answered (learnt from STATS_MIGRATE, once)."""
        request = self._stats_request(peer)
        name = type(request).__name__
        try:
            try:
                return await self._send(request, dc=dc, peer=peer.key, counter=counter), dc
            except errors.StatsMigrateError as exc:
                log.info("peer %s: stats live on DC %d, not %d", peer.key, exc.dc, dc)
                new_dc = exc.dc
                return await self._send(request, dc=new_dc, peer=peer.key, counter=counter), new_dc
        except (errors.ChatAdminRequiredError, errors.ChannelPrivateError) as exc:
            raise NoStatsRights(
                peer.key, f"Telegram says {graph_error_text(exc)} to {name}"
            ) from exc
        except errors.ChannelInvalidError as exc:
            raise PeerNotFound(
                peer.key, f"Telegram says {graph_error_text(exc)} to {name}"
            ) from exc
        except errors.RPCError as exc:
            raise StatsUnavailable(peer.key, name, exc) from exc

    async def _load_graph(
        self, field: str, token: str, dc: int, peer: PeerInfo, counter: Counter[str]
    ) -> RawGraph:
        """Load one async graph on the stats DC; a stale token raises _StaleToken."""
        request = functions.stats.LoadAsyncGraphRequest(token)
        try:
            result = await self._send(request, dc=dc, peer=peer.key, counter=counter)
        except STALE_TOKEN_ERRORS as exc:
            raise _StaleToken(exc) from exc
        except errors.RPCError as exc:
            return RawGraph(field, "error", None, graph_error_text(exc), None)
        except TelegramRequestFailed as exc:
            return RawGraph(field, "error", None, graph_error_text(exc.cause), None)
        if isinstance(result, types.StatsGraph):
            return RawGraph(field, "async", result.json.data, None, result.zoom_token)
        if isinstance(result, types.StatsGraphError):
            return RawGraph(field, "error", None, result.error, None)
        return RawGraph(field, "error", None, f"unexpected {type(result).__name__}", None)

    async def _graph_of(
        self, field: str, value: TLObject, dc: int, peer: PeerInfo, counter: Counter[str]
    ) -> RawGraph:
        if isinstance(value, types.StatsGraph):
            return RawGraph(field, "inline", value.json.data, None, value.zoom_token)
        if isinstance(value, types.StatsGraphError):
            return RawGraph(field, "error", None, value.error, None)
        return await self._load_graph(field, value.token, dc, peer, counter)

    async def fetch(self, peer: PeerInfo) -> StatsSnapshot:
        """One stats snapshot of a resolved peer, every async graph loaded on its stats DC.

        Raises NoStatsRights (no ``can_view_stats``, or Telegram refuses), FloodWaitTooLong,
        PeerNotFound (the access hash is no longer valid), StatsUnavailable or
        TelegramRequestFailed.
        """
        if not peer.can_view_stats:
            raise NoStatsRights(
                peer.key,
                "channels.getFullChannel says can_view_stats is false (the account is not an "
                "admin with statistics rights, or Telegram offers no statistics for it yet)",
            )
        counter: Counter[str] = Counter()
        fetched_at = datetime.now(timezone.utc)
        stats, dc = await self._fetch_stats(peer, peer.stats_dc or self.home_dc, counter)
        if dc != peer.stats_dc:
            peer = replace(peer, stats_dc=dc)
            self._known[peer.key] = peer

        graphs: dict[str, RawGraph] = {}
        stale: dict[str, _StaleToken] = {}
        for field in graph_fields(stats):
            try:
                graphs[field] = await self._graph_of(
                    field, getattr(stats, field), dc, peer, counter
                )
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

        return StatsSnapshot(
            peer=peer,
            fetched_at=fetched_at,
            period_min=_utc(stats.period.min_date),
            period_max=_utc(stats.period.max_date),
            scalars=scalars_of(stats),
            graphs=tuple(graphs[field] for field in graph_fields(stats)),
            requests=dict(counter),
        )

    async def _reload_stale(
        self, peer: PeerInfo, dc: int, stale: Mapping[str, _StaleToken], counter: Counter[str]
    ) -> dict[str, RawGraph]:
        """One more stats request, then each stale graph loaded once from the fresh tokens."""
        try:
            fresh, _ = await self._fetch_stats(peer, dc, counter)
        except FloodWaitTooLong:
            raise
        except TelegramStatsError as exc:
            return {
                field: RawGraph(
                    field, "error", None, f"{first}; reloading the stats failed: {exc}", None
                )
                for field, first in stale.items()
            }
        out: dict[str, RawGraph] = {}
        for field in stale:
            try:
                out[field] = await self._graph_of(field, getattr(fresh, field), dc, peer, counter)
            except _StaleToken as exc:
                out[field] = RawGraph(field, "error", None, str(exc), None)
        return out

    async def fetch_many(
        self,
        keys: Iterable[str],
        known: Mapping[str, PeerInfo] | None = None,
        on_outcome: Callable[[PeerOutcome], None] | None = None,
    ) -> list[PeerOutcome]:
        """Resolve and fetch several peers, ``concurrency`` at a time, in the order given.

        A peer in ``known`` (what getFullChannel said earlier: the stored peer entity) is
        not asked again: its stats go straight to its stats DC.

        One peer's failure never stops the others: each gets a PeerOutcome, "loaded",
        "skipped" (no statistics rights, with the reason) or "failed" (with the error).
        ``on_outcome`` is called as each peer finishes (progress output).
        """
        known = known or {}
        gate = asyncio.Semaphore(self.concurrency)

        async def one(key: str) -> PeerOutcome:
            async with gate:
                outcome = await self._outcome(key, known.get(key))
            if on_outcome is not None:
                on_outcome(outcome)
            return outcome

        return list(await asyncio.gather(*(one(key) for key in keys)))

    async def _outcome(self, key: str, known: PeerInfo | None) -> PeerOutcome:
        peer: PeerInfo | None = None
        try:
            peer = known or await self.resolve(key)
            snapshot = await self.fetch(peer)
        except NoStatsRights as exc:
            log.warning("peer %s skipped: %s", key, exc.reason)
            return PeerOutcome(key, "skipped", peer, None, exc.reason, exc)
        except Exception as exc:
            log.warning("peer %s failed: %s", key, exc)
            return PeerOutcome(key, "failed", peer, None, str(exc), exc)
        return PeerOutcome(key, "loaded", snapshot.peer, snapshot, None, None)
