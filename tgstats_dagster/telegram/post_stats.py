"""A post's or story's own statistics and its public forwards, on the peer's stats DC.

``stats.getMessageStats`` / ``stats.getStoryStats`` answer ``views_graph`` and
``reactions_by_emotion_graph`` (inline, async or StatsGraphError); async tokens are loaded
on the stats DC; a stale token costs one more stats request for that post, then each stale
graph is loaded once more. ``stats.getMessagePublicForwards`` / ``getStoryPublicForwards``
are paged 100 a page by ``next_offset`` until Telegram gives none.

Complete or say so: a graph that kept failing is ``missing`` (with its cause) and named in
``PostStats.missing``, as are the forwards (``public_forwards``) when a page kept failing
(the forwards read before it are kept). Raised instead: NoStatsRights (CHAT_ADMIN_REQUIRED),
PostNotFound (MESSAGE_ID_INVALID / STORY_ID_INVALID), PeerNotFound, and FloodWaitTooLong on
the stats request (Telegram asks to wait: the peer's work stops there).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from telethon import errors
from telethon.tl import functions, types

from tgstats_dagster.telegram.content_models import PostKind, PostStats, PublicForward
from tgstats_dagster.telegram.errors import (
    FloodWaitTooLong,
    NoStatsRights,
    PeerNotFound,
    PostNotFound,
    TelegramStatsError,
    cause_text,
    rpc_text,
)
from tgstats_dagster.telegram.models import PeerInfo, RawGraph
from tgstats_dagster.telegram.stats_route import StaleToken, StatsRoute, missing
from tgstats_dagster.telegram.tl_json import utc

log = logging.getLogger(__name__)

POST_GRAPHS = ("views_graph", "reactions_by_emotion_graph")
#: PostStats.missing names the forwards so when a page of them kept failing.
FORWARDS = "public_forwards"
#: Telegram's most public forwards a page.
FORWARDS_PAGE = 100
_NOT_FOUND = frozenset({"MESSAGE_ID_INVALID", "STORY_ID_INVALID", "STORIES_NEVER_CREATED"})


class PostStatsFetcher:
    """Fetches posts' and stories' statistics through a StatsRoute."""

    def __init__(self, route: StatsRoute) -> None:
        self._route = route

    async def fetch(
        self, peer: PeerInfo, kind: PostKind, post_id: int, counter: Counter[str] | None = None
    ) -> PostStats:
        """The statistics and every public forward of one message or story of ``peer``."""
        counter = Counter() if counter is None else counter
        fetched_at = datetime.now(timezone.utc)
        graphs = await self._graphs(peer, kind, post_id, counter)
        forwards, complete = await self._forwards(peer, kind, post_id, counter)
        missing_parts = [g.field for g in graphs if g.kind == "missing"]
        if not complete:
            missing_parts.append(FORWARDS)
        stats = PostStats(
            kind=kind,
            post_id=post_id,
            graphs=graphs,
            forwards=forwards,
            fetched_at=fetched_at,
            missing=tuple(missing_parts),
        )
        if not stats.complete:
            log.warning(
                "peer %s: statistics of %s %d incomplete: %s",
                peer.key,
                kind,
                post_id,
                ", ".join(stats.missing),
            )
        return stats

    # -- graphs ---------------------------------------------------------------------------

    async def _stats(
        self, peer: PeerInfo, kind: PostKind, post_id: int, counter: Counter[str]
    ) -> Any:
        """The MessageStats / StoryStats; a failure that outlasted the retries -> its cause."""
        if kind == "message":
            channel = types.InputChannel(peer.channel_id, peer.access_hash)
            request: Any = functions.stats.GetMessageStatsRequest(channel=channel, msg_id=post_id)
        else:
            channel = types.InputPeerChannel(peer.channel_id, peer.access_hash)
            request = functions.stats.GetStoryStatsRequest(peer=channel, id=post_id)
        try:
            return await self._route.send(peer, request, counter)
        except FloodWaitTooLong:
            raise
        except errors.RPCError as exc:
            self._refuse(peer, kind, post_id, type(request).__name__, exc)
            return cause_text(exc)
        except TelegramStatsError as exc:
            return cause_text(exc)

    @staticmethod
    def _refuse(peer: PeerInfo, kind: str, post_id: int, name: str, exc: BaseException) -> None:
        """Raise what an RPC error on a post's request means, when it is not transient."""
        said = f"Telegram says {cause_text(exc)} to {name}"
        if isinstance(exc, (errors.ChatAdminRequiredError, errors.ChannelPrivateError)):
            raise NoStatsRights(peer.key, said) from exc
        if isinstance(exc, errors.ChannelInvalidError):
            raise PeerNotFound(peer.key, said) from exc
        if rpc_text(exc) in _NOT_FOUND:
            raise PostNotFound(peer.key, kind, post_id, said) from exc

    async def _graphs(
        self, peer: PeerInfo, kind: PostKind, post_id: int, counter: Counter[str]
    ) -> tuple[RawGraph, ...]:
        stats = await self._stats(peer, kind, post_id, counter)
        if isinstance(stats, str):
            return tuple(missing(field, stats) for field in POST_GRAPHS)
        graphs: dict[str, RawGraph] = {}
        stale: dict[str, str] = {}
        for field in POST_GRAPHS:
            try:
                graphs[field] = await self._route.graph(
                    peer, field, getattr(stats, field, None), counter
                )
            except StaleToken as exc:
                stale[field] = str(exc)
        if stale:
            fresh = await self._stats(peer, kind, post_id, counter)
            for field, first in stale.items():
                if isinstance(fresh, str):
                    graphs[field] = missing(field, f"{first}; fetching again failed: {fresh}")
                    continue
                try:
                    graphs[field] = await self._route.graph(
                        peer, field, getattr(fresh, field, None), counter
                    )
                except StaleToken as exc:
                    graphs[field] = missing(field, str(exc))
        return tuple(graphs[field] for field in POST_GRAPHS)

    # -- public forwards ------------------------------------------------------------------

    async def _forwards(
        self, peer: PeerInfo, kind: PostKind, post_id: int, counter: Counter[str]
    ) -> tuple[tuple[PublicForward, ...], bool]:
        """Every public forward, page by page; False when a page kept failing."""
        out: list[PublicForward] = []
        offset = ""
        seen_offsets: set[str] = set()
        while True:
            if kind == "message":
                channel = types.InputChannel(peer.channel_id, peer.access_hash)
                request: Any = functions.stats.GetMessagePublicForwardsRequest(
                    channel=channel, msg_id=post_id, offset=offset, limit=FORWARDS_PAGE
                )
            else:
                channel = types.InputPeerChannel(peer.channel_id, peer.access_hash)
                request = functions.stats.GetStoryPublicForwardsRequest(
                    peer=channel, id=post_id, offset=offset, limit=FORWARDS_PAGE
                )
            try:
                page = await self._route.send(peer, request, counter)
            except errors.RPCError as exc:
                self._refuse(peer, kind, post_id, type(request).__name__, exc)
                log.warning("peer %s: forwards of %s %d: %s", peer.key, kind, post_id, exc)
                return tuple(out), False
            except TelegramStatsError as exc:
                log.warning("peer %s: forwards of %s %d: %s", peer.key, kind, post_id, exc)
                return tuple(out), False
            out.extend(public_forwards(page.forwards, page.chats))
            seen_offsets.add(offset)
            if not page.next_offset or not page.forwards:
                return tuple(out), True
            if page.next_offset in seen_offsets:  # Telegram would page forever: say so
                log.warning("peer %s: forwards of %s %d do not advance", peer.key, kind, post_id)
                return tuple(out), False
            offset = page.next_offset


def public_forwards(forwards: Sequence[Any], chats: Sequence[Any]) -> list[PublicForward]:
    """PublicForwardMessage / PublicForwardStory -> PublicForward, names from ``chats``."""
    by_id = {c.id: c for c in chats if isinstance(c, (types.Channel, types.Chat))}
    out = []
    for forward in forwards:
        if isinstance(forward, types.PublicForwardMessage):
            message = forward.message
            channel_id = getattr(message.peer_id, "channel_id", None)
            if channel_id is None or isinstance(message, types.MessageEmpty):
                continue
            kind: PostKind = "message"
            source_id, moment, views = message.id, message.date, getattr(message, "views", None)
        elif isinstance(forward, types.PublicForwardStory):
            channel_id = getattr(forward.peer, "channel_id", None)
            story = forward.story
            if channel_id is None or not isinstance(story, types.StoryItem):
                continue
            kind = "story"
            source_id, moment = story.id, story.date
            views = story.views.views_count if story.views is not None else None
        else:
            continue
        chat = by_id.get(channel_id)
        out.append(
            PublicForward(
                source_kind=kind,
                source_channel_id=channel_id,
                source_message_id=source_id,
                forwarded_at=utc(moment),
                views=views,
                title=getattr(chat, "title", None),
                username=getattr(chat, "username", None),
            )
        )
    return out
