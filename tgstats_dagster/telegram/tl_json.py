"""TL objects of a stats response -> JSON-ready values (dates as unix seconds, no Telethon)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from telethon.tl import types
from telethon.tl.tlobject import TLObject

GRAPH_TYPES = (types.StatsGraph, types.StatsGraphAsync, types.StatsGraphError)
#: List items whose TL type is one of several constructors keep their "_" in scalars.
_POLYMORPHIC_ITEMS = frozenset({"PostInteractionCountersMessage", "PostInteractionCountersStory"})
#: What a supergroup's ``users`` list keeps of each user (no access hash, no phone).
_USER_FIELDS = ("id", "first_name", "last_name", "username")


def utc(moment: datetime) -> datetime:
    """An aware UTC datetime (Telethon's naive datetimes are UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def graph_fields(stats: TLObject) -> tuple[str, ...]:
    """The graph fields of a BroadcastStats / MegagroupStats object, in TL order."""
    return tuple(name for name, value in vars(stats).items() if isinstance(value, GRAPH_TYPES))


def jsonable(value: Any) -> Any:
    """A TL value -> JSON-ready: dates as unix seconds, integral doubles as ints."""
    if isinstance(value, TLObject):
        if isinstance(value, types.User):
            return {n: getattr(value, n) for n in _USER_FIELDS if getattr(value, n) is not None}
        out = {
            name: jsonable(item)
            for name, item in vars(value).items()
            if not name.startswith("_") and item is not None
        }
        if type(value).__name__ in _POLYMORPHIC_ITEMS:
            return {"_": type(value).__name__, **out}
        return out
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    if isinstance(value, datetime):
        return int(utc(value).timestamp())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def scalars_of(stats: TLObject) -> dict[str, Any]:
    """Every non-graph field of a stats object, by TL name, JSON-ready."""
    return {
        name: jsonable(value)
        for name, value in vars(stats).items()
        if not name.startswith("_") and not isinstance(value, GRAPH_TYPES)
    }
