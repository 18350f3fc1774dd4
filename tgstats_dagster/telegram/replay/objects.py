"""Scenario values -> the Telethon TL objects Telegram would send (docs/scenario-format.md)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from telethon.tl import types
from telethon.tl.types import stats as stats_types

from tgstats_dagster.telegram.replay.scenario import (
    ScenarioForward,
    ScenarioPeer,
    ScenarioPost,
    ScenarioRevenue,
    derived_access_hash,
)

#: Graph fields Telegram sends inline (as seen by Telegram Web A); the others go async.
INLINE_GRAPHS = frozenset(
    {"growth_graph", "followers_graph", "mute_graph", "top_hours_graph", "members_graph"}
)
SELF_USER_ID = 5_000_000_001
SELF_ACCESS_HASH = 0x5EF0_0A11_7E57_0001
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: Reaction keys in posts.json that are not an emoji: a custom emoji, and paid (Stars) ones.
CUSTOM_REACTION_PREFIX = "custom:"
PAID_REACTION = "paid"
STORY_LIFETIME = timedelta(hours=24)
#: The graphs of a post's or story's statistics (stats.messageStats / stats.storyStats).
POST_GRAPHS = ("views_graph", "reactions_by_emotion_graph")


def self_user() -> types.User:
    return types.User(
        id=SELF_USER_ID,
        is_self=True,
        access_hash=SELF_ACCESS_HASH,
        first_name="Replay",
        username=None,
    )


def config(this_dc: int, dc_ids: set[int]) -> types.Config:
    """help.getConfig's answer: every DC the scenario uses on a loopback address."""
    now = datetime.now(timezone.utc)
    return types.Config(
        date=now,
        expires=now,
        test_mode=False,
        this_dc=this_dc,
        dc_options=[
            types.DcOption(id=dc, ip_address=f"127.0.0.{dc}", port=443) for dc in sorted(dc_ids)
        ],
        dc_txt_domain_name="replay.invalid",
        chat_size_max=200,
        megagroup_size_max=200000,
        forwarded_count_max=100,
        online_update_period_ms=210000,
        offline_blur_timeout_ms=5000,
        offline_idle_timeout_ms=30000,
        online_cloud_timeout_ms=300000,
        notify_cloud_delay_ms=30000,
        notify_default_delay_ms=1500,
        push_chat_period_ms=60000,
        push_chat_limit=2,
        edit_time_limit=172800,
        revoke_time_limit=2147483647,
        revoke_pm_time_limit=2147483647,
        rating_e_decay=2419200,
        stickers_recent_limit=200,
        channels_read_media_period=604800,
        call_receive_timeout_ms=20000,
        call_ring_timeout_ms=90000,
        call_connect_timeout_ms=30000,
        call_packet_timeout_ms=10000,
        me_url_prefix="https://t.me/",
        caption_length_max=1024,
        message_length_max=4096,
        webfile_dc_id=4,
        suggested_lang_code="en",
        lang_pack_version=1,
        base_lang_pack_version=1,
    )


def channel(peer: ScenarioPeer) -> types.Channel:
    return types.Channel(
        id=peer.channel_id,
        title=peer.title,
        photo=types.ChatPhotoEmpty(),
        date=EPOCH,
        broadcast=peer.broadcast or None,
        megagroup=peer.megagroup or None,
        access_hash=peer.access_hash,
        username=peer.username,
        participants_count=peer.participants_count,
    )


def chat_full(peer: ScenarioPeer) -> types.messages.ChatFull:
    full = types.ChannelFull(
        id=peer.channel_id,
        about="",
        read_inbox_max_id=0,
        read_outbox_max_id=0,
        unread_count=0,
        chat_photo=types.PhotoEmpty(id=0),
        notify_settings=types.PeerNotifySettings(),
        bot_info=[],
        pts=1,
        can_view_stats=peer.can_view_stats or None,
        participants_count=peer.participants_count,
        stats_dc=peer.stats_dc if peer.can_view_stats else None,
    )
    return types.messages.ChatFull(full_chat=full, chats=[channel(peer)], users=[])


def _date(value: Any) -> datetime:
    return datetime.fromtimestamp(int(value or 0), tz=timezone.utc)


def _abs(value: Any) -> types.StatsAbsValueAndPrev:
    value = value or {}
    return types.StatsAbsValueAndPrev(
        current=float(value.get("current", 0)), previous=float(value.get("previous", 0))
    )


def _percent(value: Any) -> types.StatsPercentValue:
    value = value or {}
    return types.StatsPercentValue(
        part=float(value.get("part", 0)), total=float(value.get("total", 0))
    )


def _items(cls_by_name: dict[str, type], default: type) -> Callable[[Any], list[Any]]:
    def build(values: Any) -> list[Any]:
        out = []
        for item in values or []:
            cls = cls_by_name.get(item.get("_", default.__name__), default)
            names = inspect.signature(cls.__init__).parameters
            out.append(cls(**{k: v for k, v in item.items() if k in names}))
        return out

    return build


def _users(values: Any) -> list[types.User]:
    return [
        types.User(
            id=int(v["id"]),
            first_name=v.get("first_name"),
            last_name=v.get("last_name"),
            username=v.get("username"),
        )
        for v in values or []
    ]


_POSTS = _items(
    {
        "PostInteractionCountersMessage": types.PostInteractionCountersMessage,
        "PostInteractionCountersStory": types.PostInteractionCountersStory,
    },
    types.PostInteractionCountersMessage,
)
_BUILDERS: dict[str, Callable[[Any], Any]] = {
    "period": lambda v: types.StatsDateRangeDays(
        min_date=_date((v or {}).get("min_date")), max_date=_date((v or {}).get("max_date"))
    ),
    "enabled_notifications": _percent,
    "recent_posts_interactions": _POSTS,
    "top_posters": _items({}, types.StatsGroupTopPoster),
    "top_admins": _items({}, types.StatsGroupTopAdmin),
    "top_inviters": _items({}, types.StatsGroupTopInviter),
    "users": _users,
}


def stats_class(peer: ScenarioPeer) -> type:
    return stats_types.BroadcastStats if peer.broadcast else stats_types.MegagroupStats


def graph_fields_of(cls: type) -> tuple[str, ...]:
    return tuple(n for n in inspect.signature(cls.__init__).parameters if n.endswith("_graph"))


def stats(peer: ScenarioPeer, token_for: Callable[[str], str]) -> Any:
    """BroadcastStats / MegagroupStats from stats.json and graphs/.

    ``token_for(field)`` issues the async token of a graph that is not sent inline.
    """
    cls = stats_class(peer)
    kwargs: dict[str, Any] = {}
    for name in inspect.signature(cls.__init__).parameters:
        if name == "self":
            continue
        if name.endswith("_graph"):
            kwargs[name] = _graph(peer, name, token_for)
        elif name in _BUILDERS:
            kwargs[name] = _BUILDERS[name](peer.stats.get(name))
        else:
            kwargs[name] = _abs(peer.stats.get(name))
    return cls(**kwargs)


def _graph(peer: ScenarioPeer, field: str, token_for: Callable[[str], str]) -> Any:
    if field in peer.graph_errors:
        return types.StatsGraphError(error=peer.graph_errors[field])
    if field not in peer.graphs:
        return types.StatsGraphError(error="NOT_ENOUGH_DATA")
    if field in INLINE_GRAPHS:
        return loaded_graph(peer, field)
    return types.StatsGraphAsync(token=token_for(field))


def zoom_token(peer: ScenarioPeer, field: str) -> str:
    """The zoom token of a graph with a .zoom folder: stable, so that a token kept with a
    snapshot still loads in a later process (as Telegram's do while they are fresh)."""
    return f"replay-zoom:{peer.channel_id}:{field}"


def loaded_graph(peer: ScenarioPeer, field: str) -> types.StatsGraph:
    token = zoom_token(peer, field) if field in peer.zooms else None
    return types.StatsGraph(json=types.DataJSON(data=peer.graphs[field]), zoom_token=token)


def inline_graph(data: str) -> types.StatsGraph:
    return types.StatsGraph(json=types.DataJSON(data=data))


# -- posts and stories ----------------------------------------------------------------------


def reaction(key: str) -> Any:
    """A posts.json reaction key -> a TL Reaction (``custom:<document id>``, ``paid``)."""
    if key == PAID_REACTION:
        return types.ReactionPaid()
    if key.startswith(CUSTOM_REACTION_PREFIX):
        return types.ReactionCustomEmoji(document_id=int(key.removeprefix(CUSTOM_REACTION_PREFIX)))
    return types.ReactionEmoji(emoticon=key)


def _reaction_counts(reactions: dict[str, int]) -> list[types.ReactionCount]:
    return [types.ReactionCount(reaction=reaction(k), count=v) for k, v in reactions.items()]


def message(peer: ScenarioPeer, post: ScenarioPost) -> types.Message:
    """A channel post as messages.getHistory sends it, with its counters."""
    replies = None
    if post.replies is not None:
        replies = types.MessageReplies(replies=post.replies, replies_pts=1)
    reactions = None
    if post.reactions:
        reactions = types.MessageReactions(results=_reaction_counts(post.reactions))
    views, forwards = _views_and_forwards(post.views, post.forwards)
    return types.Message(
        id=post.id,
        peer_id=types.PeerChannel(peer.channel_id),
        date=post.date,
        message=post.text or "",
        post=True,
        views=views,
        forwards=forwards,
        replies=replies,
        reactions=reactions,
    )


def _views_and_forwards(views: int | None, forwards: int | None) -> tuple[Any, Any]:
    """A message's views and forwards share one TL flag: both are sent, or neither."""
    if views is None and forwards is None:
        return None, None
    return views or 0, forwards or 0


def story_item(story: ScenarioPost) -> types.StoryItem:
    """A story as stories.getStoriesArchive sends it, with its views."""
    views = types.StoryViews(
        views_count=story.views or 0,
        forwards_count=story.forwards,
        reactions_count=sum(story.reactions.values()) if story.reactions else None,
        reactions=_reaction_counts(story.reactions) or None,
    )
    return types.StoryItem(
        id=story.id,
        date=story.date,
        expire_date=story.date + STORY_LIFETIME,
        media=types.MessageMediaEmpty(),
        caption=story.text,
        views=views if story.views is not None else None,
    )


def channel_messages(
    peer: ScenarioPeer, posts: Sequence[ScenarioPost], count: int
) -> types.messages.ChannelMessages:
    return types.messages.ChannelMessages(
        pts=1,
        count=count,
        messages=[message(peer, p) for p in posts],
        topics=[],
        chats=[channel(peer)],
        users=[],
    )


def stories(peer: ScenarioPeer, items: Sequence[ScenarioPost], count: int) -> types.stories.Stories:
    return types.stories.Stories(
        count=count, stories=[story_item(s) for s in items], chats=[channel(peer)], users=[]
    )


def post_stats(
    kind: str, post: ScenarioPost, token_for: Callable[[str], str]
) -> types.stats.MessageStats | types.stats.StoryStats:
    """stats.messageStats / stats.storyStats: every graph as an async token (or its error)."""
    graphs: dict[str, Any] = {}
    for field in POST_GRAPHS:
        if field in post.graph_errors:
            graphs[field] = types.StatsGraphError(error=post.graph_errors[field])
        elif field not in post.graphs:
            graphs[field] = types.StatsGraphError(error="NOT_ENOUGH_DATA")
        else:
            graphs[field] = types.StatsGraphAsync(token=token_for(field))
    cls = stats_types.MessageStats if kind == "message" else stats_types.StoryStats
    return cls(**graphs)


def _forwarding_channel(forward: ScenarioForward) -> types.Channel:
    return types.Channel(
        id=forward.channel_id,
        title=forward.title,
        photo=types.ChatPhotoEmpty(),
        date=EPOCH,
        broadcast=True,
        access_hash=derived_access_hash(forward.channel_id),
        username=forward.username,
    )


def _public_forward(peer: ScenarioPeer, post: ScenarioPost, forward: ScenarioForward) -> Any:
    if forward.kind == "story":
        story = types.StoryItem(
            id=forward.message_id,
            date=forward.date,
            expire_date=forward.date + STORY_LIFETIME,
            media=types.MessageMediaEmpty(),
            views=None if forward.views is None else types.StoryViews(views_count=forward.views),
        )
        return types.PublicForwardStory(peer=types.PeerChannel(forward.channel_id), story=story)
    return types.PublicForwardMessage(
        message=types.Message(
            id=forward.message_id,
            peer_id=types.PeerChannel(forward.channel_id),
            date=forward.date,
            message="",
            post=True,
            views=forward.views,
            forwards=None if forward.views is None else 0,
            fwd_from=types.MessageFwdHeader(
                date=post.date, from_id=types.PeerChannel(peer.channel_id), channel_post=post.id
            ),
        )
    )


def public_forwards(
    peer: ScenarioPeer,
    post: ScenarioPost,
    page: Sequence[ScenarioForward],
    next_offset: str | None,
) -> types.stats.PublicForwards:
    chats = {f.channel_id: _forwarding_channel(f) for f in page}
    return types.stats.PublicForwards(
        count=len(post.public_forwards),
        forwards=[_public_forward(peer, post, f) for f in page],
        chats=list(chats.values()),
        users=[],
        next_offset=next_offset,
    )


# -- revenue --------------------------------------------------------------------------------


def _amount(value: Any, currency: str) -> Any:
    """A revenue amount: Stars as whole stars and nanos (same sign), TON in nanotons."""
    number = Decimal(str(value))
    if currency == "ton":
        return types.StarsTonAmount(amount=int(number))
    whole = int(number)  # towards zero, so the nanos keep the amount's sign
    return types.StarsAmount(amount=whole, nanos=int((number - whole) * 1_000_000_000))


def revenue_stats(revenue: ScenarioRevenue, currency: str) -> types.payments.StarsRevenueStats:
    """payments.starsRevenueStats of one currency, its graphs inline."""
    status = revenue.status
    next_withdrawal = status.get("next_withdrawal_at")
    graphs: dict[str, Any] = {}
    for field in ("revenue_graph", "top_hours_graph"):
        if field in revenue.graph_errors:
            graphs[field] = types.StatsGraphError(error=revenue.graph_errors[field])
        elif field in revenue.graphs:
            graphs[field] = inline_graph(revenue.graphs[field])
    graphs.setdefault("revenue_graph", types.StatsGraphError(error="NOT_ENOUGH_DATA"))
    return types.payments.StarsRevenueStats(
        status=types.StarsRevenueStatus(
            current_balance=_amount(status.get("current_balance", 0), currency),
            available_balance=_amount(status.get("available_balance", 0), currency),
            overall_revenue=_amount(status.get("overall_revenue", 0), currency),
            withdrawal_enabled=bool(status.get("withdrawal_enabled")) or None,
            next_withdrawal_at=None if next_withdrawal is None else int(next_withdrawal),
        ),
        usd_rate=revenue.usd_rate,
        **graphs,
    )
