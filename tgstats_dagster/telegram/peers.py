"""Peer entries -> PeerInfo: each username or id resolved once, then read by getFullChannel.

Telegram rate-limits ``contacts.resolveUsername`` hard, so a peer known from before (its
channel id and access hash) is never resolved again; only when Telegram says the access
hash is no longer valid is a username looked up once more.
"""

from __future__ import annotations

import logging

from telethon import errors
from telethon.tl import functions, types

from tgstats_dagster.settings import channel_id_of_entry
from tgstats_dagster.telegram.errors import PeerNotFound, TelegramRequestFailed, cause_text
from tgstats_dagster.telegram.models import PeerInfo
from tgstats_dagster.telegram.transport import Transport

log = logging.getLogger(__name__)

_GONE = (errors.ChannelInvalidError, errors.ChannelPrivateError)
_UNKNOWN = (errors.UsernameNotOccupiedError, errors.UsernameInvalidError, *_GONE)


class PeerResolver:
    """Resolves peer keys through one Transport, remembering what it resolved."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._known: dict[str, PeerInfo] = {}

    def remember(self, peer: PeerInfo) -> None:
        """Keep what was learnt about a peer (its stats DC, say) for later resolves."""
        self._known[peer.key] = peer

    async def resolve(self, key: str, known: PeerInfo | None = None) -> PeerInfo:
        """The peer behind ``key``, read from ``channels.getFullChannel``.

        A peer known from before (``known``, or resolved earlier by this resolver) is not
        resolved again: its id and access hash are used as they are.
        """
        known = known or self._known.get(key)
        if known is not None and known.access_hash:
            channel = types.InputChannel(known.channel_id, known.access_hash)
            try:
                info = await self._full_channel(key, channel)
            except PeerNotFound:
                if channel_id_of_entry(key) is not None:
                    raise
                log.warning("the stored access hash of peer %s is stale: resolving again", key)
                info = await self._full_channel(key, await self._lookup(key))
        else:
            info = await self._full_channel(key, await self._lookup(key))
        self._known[key] = info
        return info

    async def _lookup(self, key: str) -> types.InputChannel:
        """One network lookup of a key: ``contacts.resolveUsername`` or ``getChannels``."""
        channel_id = channel_id_of_entry(key)
        try:
            if channel_id is not None:
                result = await self._transport.send(
                    functions.channels.GetChannelsRequest([types.InputChannel(channel_id, 0)]),
                    peer=key,
                )
                chats = result.chats
            else:
                result = await self._transport.send(
                    functions.contacts.ResolveUsernameRequest(key), peer=key
                )
                if not isinstance(result.peer, types.PeerChannel):
                    raise PeerNotFound(key, "it is a user, not a channel or supergroup")
                chats = [c for c in result.chats if c.id == result.peer.channel_id]
        except _UNKNOWN as exc:
            raise PeerNotFound(key, f"Telegram says {cause_text(exc)}") from exc
        except errors.RPCError as exc:
            raise TelegramRequestFailed(key, "resolve", exc) from exc
        channel = next((c for c in chats if isinstance(c, types.Channel)), None)
        if channel is None or channel.access_hash is None:
            raise PeerNotFound(key, "not a channel or supergroup this account can see")
        return types.InputChannel(channel.id, channel.access_hash)

    async def _full_channel(self, key: str, channel: types.InputChannel) -> PeerInfo:
        request = functions.channels.GetFullChannelRequest(channel)
        try:
            full = await self._transport.send(request, peer=key)
        except _GONE as exc:
            raise PeerNotFound(key, f"Telegram says {cause_text(exc)}") from exc
        except errors.RPCError as exc:
            raise TelegramRequestFailed(key, type(request).__name__, exc) from exc
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
