"""Scenario values -> the Telethon TL objects Telegram would send (docs/scenario-format.md)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from telethon.tl import types
from telethon.tl.types import stats as stats_types

from tgstats_dagster.telegram.replay.scenario import ScenarioPeer

#: Graph fields Telegram sends inline (as seen by Telegram Web A); the others go async.
INLINE_GRAPHS = frozenset(
    {"growth_graph", "followers_graph", "mute_graph", "top_hours_graph", "members_graph"}
)
SELF_USER_ID = 5_000_000_001
SELF_ACCESS_HASH = 0x5EF0_0A11_7E57_0001
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


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


def loaded_graph(peer: ScenarioPeer, field: str) -> types.StatsGraph:
    return types.StatsGraph(json=types.DataJSON(data=peer.graphs[field]))
