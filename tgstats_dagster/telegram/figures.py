"""A stats response's figures beyond its graphs, read from its JSON-ready scalars.

The scalars are what :func:`tl_json.scalars_of` keeps of a ``BroadcastStats`` or
``MegagroupStats`` (and what a scenario's ``stats.json`` holds): the headline figures, the
interactions of the most recent posts and stories, and a supergroup's tops with the users
the response names. The warehouse's upgrade to revision 0003 applies the same rules in SQL.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The headline figures each kind of peer has (TL field names).
REQUIRED_FIGURES: dict[str, tuple[str, ...]] = {
    "broadcast": (
        "followers",
        "views_per_post",
        "shares_per_post",
        "reactions_per_post",
        "views_per_story",
        "shares_per_story",
        "reactions_per_story",
        "enabled_notifications",
    ),
    "megagroup": ("members", "messages", "viewers", "posters"),
}
#: The figure that says how large a peer's audience is, by kind of peer.
AUDIENCE: dict[str, str] = {"broadcast": "followers", "megagroup": "members"}
#: What each top counts, by its name without ``top_`` (``StatsGroupTopPoster`` and so on).
TOP_COUNTERS: dict[str, tuple[str, ...]] = {
    "posters": ("messages", "avg_chars"),
    "admins": ("deleted", "kicked", "banned"),
    "inviters": ("invitations",),
}
_VALUE_FIELDS = ("current", "previous", "part", "total")
_STORY = "PostInteractionCountersStory"


@dataclass(frozen=True)
class Figure:
    """A ``StatsAbsValueAndPrev`` (``current``, ``previous``) or ``StatsPercentValue``
    (``part``, ``total``) of the response, by its TL field name."""

    figure: str
    current: int | float | None = None
    previous: int | float | None = None
    part: int | float | None = None
    total: int | float | None = None


@dataclass(frozen=True)
class PostCounters:
    """One item of ``recent_posts_interactions``: a channel post or a story."""

    kind: str  # "message" or "story"
    post_id: int
    views: int
    forwards: int
    reactions: int


@dataclass(frozen=True)
class TopMember:
    """One member of a supergroup's top, with what the response's ``users`` says of them."""

    top: str  # "posters", "admins" or "inviters"
    user_id: int
    rank: int  # the position in Telegram's list, from 1
    messages: int | None = None
    avg_chars: int | None = None
    deleted: int | None = None
    kicked: int | None = None
    banned: int | None = None
    invitations: int | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value


def figures(scalars: Mapping[str, Any]) -> list[Figure]:
    """Every headline figure of the response, in the response's order."""
    return [
        Figure(name, **{f: _number(value.get(f)) for f in _VALUE_FIELDS})
        for name, value in scalars.items()
        if isinstance(value, Mapping) and any(f in value for f in _VALUE_FIELDS)
    ]


def _items(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def post_interactions(scalars: Mapping[str, Any]) -> list[PostCounters]:
    """The recent posts and stories, newest first as Telegram lists them; a post listed twice
    keeps its first counters."""
    out: dict[tuple[str, int], PostCounters] = {}
    for item in _items(scalars.get("recent_posts_interactions")):
        story = item.get("_") == _STORY
        counters = PostCounters(
            kind="story" if story else "message",
            post_id=int(item["story_id" if story else "msg_id"]),
            views=int(item["views"]),
            forwards=int(item["forwards"]),
            reactions=int(item["reactions"]),
        )
        out.setdefault((counters.kind, counters.post_id), counters)
    return list(out.values())


def megagroup_tops(scalars: Mapping[str, Any]) -> list[TopMember]:
    """The top posters, admins and inviters in Telegram's order, named from ``users``; a
    member listed twice in one top keeps the first place."""
    users: dict[int, Mapping[str, Any]] = {}
    for user in _items(scalars.get("users")):
        users.setdefault(int(user["id"]), user)
    out: dict[tuple[str, int], TopMember] = {}
    for top, counters in TOP_COUNTERS.items():
        for rank, item in enumerate(_items(scalars.get(f"top_{top}")), start=1):
            user_id = int(item["user_id"])
            user = users.get(user_id, {})
            member = TopMember(
                top=top,
                user_id=user_id,
                rank=rank,
                **{name: _optional_int(item.get(name)) for name in counters},
                first_name=user.get("first_name"),
                last_name=user.get("last_name"),
                username=user.get("username"),
            )
            out.setdefault((top, user_id), member)
    return list(out.values())


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def missing_figures(kind: str, present: set[str]) -> list[str]:
    """The figures a peer of that kind must have that ``present`` lacks."""
    return [name for name in REQUIRED_FIGURES.get(kind, ()) if name not in present]
