"""A channel's posts of some days (``messages.getHistory``) and its stories
(``stories.getStoriesArchive``), with their counters, as Post values.

Both are paged as Telegram pages them: newest first, at most 100 a page, the next page
below the oldest id seen. History starts at the end of the last day asked
(``offset_date``) and stops at the first post before the first day asked, so a day range
costs its posts / 100 requests (plus one when a page ends exactly on the range's edge).
Both go to the home DC.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from telethon import errors
from telethon.tl import functions, types

from tgstats_dagster.telegram.content_models import Post
from tgstats_dagster.telegram.errors import (
    NoStatsRights,
    PeerNotFound,
    TelegramRequestFailed,
    cause_text,
)
from tgstats_dagster.telegram.models import PeerInfo
from tgstats_dagster.telegram.tl_json import utc
from tgstats_dagster.telegram.transport import Transport

#: Telegram's most messages (or stories) a page.
PAGE_LIMIT = 100
#: Keys of reactions_by_emoji that are not an emoji (docs/scenario-format.md uses the same).
CUSTOM_REACTION_PREFIX = "custom:"
PAID_REACTION = "paid"


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


def reaction_key(reaction: Any) -> str:
    """An emoji as sent; ``custom:<document id>`` for a custom emoji; ``paid`` for Stars."""
    if isinstance(reaction, types.ReactionEmoji):
        return reaction.emoticon
    if isinstance(reaction, types.ReactionCustomEmoji):
        return f"{CUSTOM_REACTION_PREFIX}{reaction.document_id}"
    if isinstance(reaction, types.ReactionPaid):
        return PAID_REACTION
    return type(reaction).__name__


def _by_reaction(counts: Sequence[Any] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for count in counts or ():
        key = reaction_key(count.reaction)
        out[key] = out.get(key, 0) + int(count.count)
    return out


def post_of_message(message: types.Message, fetched_at: datetime) -> Post:
    """A channel message's counters; ``reactions`` is None when Telegram sent none."""
    by_emoji = _by_reaction(message.reactions.results if message.reactions else None)
    replies = message.replies.replies if message.replies is not None else None
    return Post(
        kind="message",
        post_id=message.id,
        published_at=utc(message.date),
        views=message.views,
        forwards=message.forwards,
        replies=replies,
        reactions=sum(by_emoji.values()) if message.reactions is not None else None,
        reactions_by_emoji=by_emoji,
        text=message.message,
        fetched_at=fetched_at,
    )


def post_of_story(story: types.StoryItem, fetched_at: datetime) -> Post:
    """A story's counters (``StoryViews``), its caption as the text."""
    views = story.views
    by_emoji = _by_reaction(views.reactions if views is not None else None)
    reactions = views.reactions_count if views is not None else None
    if reactions is None and by_emoji:
        reactions = sum(by_emoji.values())
    return Post(
        kind="story",
        post_id=story.id,
        published_at=utc(story.date),
        views=views.views_count if views is not None else None,
        forwards=views.forwards_count if views is not None else None,
        replies=None,
        reactions=reactions,
        reactions_by_emoji=by_emoji,
        text=story.caption,
        fetched_at=fetched_at,
    )


class PostLister:
    """Lists a channel's posts and stories through one Transport (home DC)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def posts(
        self, peer: PeerInfo, first: date, last: date, counter: Counter[str] | None = None
    ) -> tuple[Post, ...]:
        """Every message published on the days ``first`` .. ``last`` (UTC), oldest first.

        Raises PeerNotFound (the channel is gone), FloodWaitTooLong, TelegramRequestFailed.
        """
        start, end = day_start(first), day_start(last + timedelta(days=1))
        channel = types.InputPeerChannel(peer.channel_id, peer.access_hash)
        found: dict[int, Post] = {}
        offset_id = 0
        while True:
            request = functions.messages.GetHistoryRequest(
                peer=channel,
                offset_id=offset_id,
                offset_date=None if offset_id else end,
                add_offset=0,
                limit=PAGE_LIMIT,
                max_id=0,
                min_id=0,
                hash=0,
            )
            page = await self._send(peer, request, counter)
            fetched_at = datetime.now(timezone.utc)
            messages = [m for m in page.messages if not isinstance(m, types.MessageEmpty)]
            for message in messages:
                if isinstance(message, types.Message) and start <= utc(message.date) < end:
                    found[message.id] = post_of_message(message, fetched_at)
            if len(page.messages) < PAGE_LIMIT or not messages:
                break
            if min(utc(m.date) for m in messages) < start:
                break
            offset_id = min(m.id for m in messages)
        return tuple(sorted(found.values(), key=lambda p: (p.published_at, p.post_id)))

    async def stories(
        self,
        peer: PeerInfo,
        first: date | None = None,
        last: date | None = None,
        counter: Counter[str] | None = None,
    ) -> tuple[Post, ...]:
        """The channel's archived stories (published ``first`` .. ``last`` when given),
        oldest first. Raises NoStatsRights when Telegram refuses (CHAT_ADMIN_REQUIRED)."""
        start = day_start(first) if first is not None else None
        end = day_start(last + timedelta(days=1)) if last is not None else None
        channel = types.InputPeerChannel(peer.channel_id, peer.access_hash)
        found: dict[int, Post] = {}
        offset_id = 0
        while True:
            request = functions.stories.GetStoriesArchiveRequest(
                peer=channel, offset_id=offset_id, limit=PAGE_LIMIT
            )
            page = await self._send(peer, request, counter)
            fetched_at = datetime.now(timezone.utc)
            items = [s for s in page.stories if isinstance(s, types.StoryItem)]
            for story in items:
                moment = utc(story.date)
                if (start is None or moment >= start) and (end is None or moment < end):
                    found[story.id] = post_of_story(story, fetched_at)
            ids = [s.id for s in page.stories]
            if len(ids) < PAGE_LIMIT:
                break
            if start is not None and items and min(utc(s.date) for s in items) < start:
                break
            offset_id = min(ids)
        return tuple(sorted(found.values(), key=lambda p: (p.published_at, p.post_id)))

    async def _send(self, peer: PeerInfo, request: Any, counter: Counter[str] | None) -> Any:
        name = type(request).__name__
        try:
            return await self._transport.send(request, peer=peer.key, counter=counter)
        except (errors.ChannelInvalidError, errors.ChannelPrivateError) as exc:
            raise PeerNotFound(peer.key, f"Telegram says {cause_text(exc)} to {name}") from exc
        except errors.ChatAdminRequiredError as exc:
            raise NoStatsRights(peer.key, f"Telegram says {cause_text(exc)} to {name}") from exc
        except errors.RPCError as exc:
            raise TelegramRequestFailed(peer.key, name, exc) from exc
