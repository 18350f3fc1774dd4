"""The hourly detail of a stats snapshot's graphs: ``stats.loadAsyncGraph(zoom_token, x)``.

A graph that can zoom carries a ``zoom_token``; loaded with ``x`` = 00:00 UTC of a day (ms)
on the stats DC, it answers the zoomed graph of that day. Telegram's zooms span the 7 days
around the day asked (168 hourly points), so the loader asks the middle of each run of 7
days still wanted, reads which whole days each answer covered, and asks again only for the
days an answer left out (asking that day itself). When the middle day has no zoom (an
error, or a failure), the 7 days around it are left for next time (``uncovered``) rather
than asked one by one: a graph without hourly detail costs one request a week of days.
Days already kept are not asked at all: what Telegram serves once is loaded once.

A zoom Telegram answers with a StatsGraphError (``NOT_ENOUGH_DATA``) is kept as such. A zoom
that could not be loaded is kept as ``missing`` with its cause: a stale token ends that
graph's zooms (the snapshot must be fetched again for a fresh one), a flood wait over the
threshold ends all of them (Telegram asks to wait); ``uncovered`` says which days are left.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from datetime import date, datetime, timedelta, timezone
from typing import Literal

from telethon import errors
from telethon.tl import types

from tgstats_dagster.telegram.content_models import ZoomedGraph
from tgstats_dagster.telegram.errors import FloodWaitTooLong, TelegramStatsError, cause_text
from tgstats_dagster.telegram.graphs import GraphFormatError, XStep, parse_graph, x_day
from tgstats_dagster.telegram.models import PeerInfo, RawGraph
from tgstats_dagster.telegram.stats_route import STALE_TOKEN_ERRORS, StatsRoute, missing

log = logging.getLogger(__name__)

#: Days a zoom reaches on each side of the day asked (Telegram's: 3, so 7 days in all).
ZOOM_REACH = 3
DAY_MS = 86_400_000
#: Why zooms stop early: this graph's token is stale, or Telegram asks to wait (all stop).
_Stop = Literal["field", "all"]


def day_x(day: date) -> int:
    """00:00 UTC of ``day`` in ms: the ``x`` of its zoom request."""
    return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000)


def zoom_tokens(graphs: Iterable[RawGraph]) -> dict[str, str]:
    """Graph field -> zoom_token, for a snapshot's graphs that can zoom."""
    return {g.field: g.zoom_token for g in graphs if g.zoom_token}


def zoom_days(field: str, data: str) -> frozenset[date]:
    """The UTC days a zoomed payload covers whole (every hour, or every 5 minutes, of it).

    A payload that cannot be read, or whose x axis is not hourly or 5-minute, covers none.
    """
    try:
        parsed = parse_graph(field, data)
    except GraphFormatError:
        return frozenset()
    if parsed.step not in (XStep.HOURLY, XStep.FIVE_MINUTE) or not parsed.step.step:
        return frozenset()
    per_day = DAY_MS // parsed.step.step
    counts = Counter(x_day(x) for x in parsed.x)
    return frozenset(day for day, count in counts.items() if count >= per_day)


def settled_days(zoom: ZoomedGraph) -> frozenset[date]:
    """The days a zoom answer settles: those it covers whole, or the day asked when Telegram
    answered it with an error (no detail for that day). A missing zoom settles none."""
    if zoom.graph.kind == "error":
        return frozenset({zoom.day})
    if zoom.graph.data is None:
        return frozenset()
    return zoom_days(zoom.field, zoom.graph.data)


def uncovered(
    fields: Iterable[str],
    days: Iterable[date],
    kept: Mapping[str, Collection[date]],
    zooms: Iterable[ZoomedGraph],
) -> dict[str, tuple[date, ...]]:
    """Per graph field, the days asked that are neither kept nor settled by ``zooms``
    (empty: complete). Such days are asked again next time."""
    settled: dict[str, set[date]] = defaultdict(set)
    for zoom in zooms:
        settled[zoom.field] |= settled_days(zoom)
    wanted = sorted(set(days))
    out = {}
    for field in fields:
        left = tuple(d for d in wanted if d not in kept.get(field, ()) and d not in settled[field])
        if left:
            out[field] = left
    return out


class ZoomLoader:
    """Loads zooms on the peer's stats DC through a StatsRoute."""

    def __init__(self, route: StatsRoute) -> None:
        self._route = route

    async def load(
        self,
        peer: PeerInfo,
        tokens: Mapping[str, str],
        days: Iterable[date],
        kept: Mapping[str, Collection[date]] | None = None,
        counter: Counter[str] | None = None,
    ) -> tuple[ZoomedGraph, ...]:
        """The fewest zooms that cover ``days`` not in ``kept``, for every graph field of
        ``tokens`` (field -> zoom_token, from the snapshot's graphs).

        Every answer is returned (inline, error, or missing), in the order asked. Raises
        nothing for a zoom: a long flood wait ends the loading with a ``missing`` zoom.
        """
        counter = Counter() if counter is None else counter
        kept = kept or {}
        wanted = sorted(set(days))
        out: list[ZoomedGraph] = []
        for field, token in tokens.items():
            needed = [d for d in wanted if d not in kept.get(field, ())]
            zooms, stop = await self._field(
                peer, field, token, needed, set(kept.get(field, ())), counter
            )
            out.extend(zooms)
            if stop:
                break
        return tuple(out)

    async def _field(
        self,
        peer: PeerInfo,
        field: str,
        token: str,
        needed: list[date],
        done_before: set[date],
        counter: Counter[str],
    ) -> tuple[list[ZoomedGraph], bool]:
        """One graph's zooms of the days ``needed`` (``done_before``: the days kept); True as
        well when all loading must stop (a long flood wait)."""
        out: list[ZoomedGraph] = []
        left = sorted(needed)
        asked: set[date] = set()
        while left:
            first = left[0]
            day = min(first + timedelta(days=ZOOM_REACH), left[-1])
            if day in done_before:
                # A day kept (Telegram answered it NOT_ENOUGH_DATA, say) is never asked
                # again: the latest day still needed within reach instead.
                day = max(d for d in left if d <= first + timedelta(days=ZOOM_REACH))
            if day in asked:  # the zoom of the middle day left ``first`` out: ask it itself
                day = first
            asked.add(day)
            zoom, stop = await self._zoom(peer, field, token, day, counter)
            out.append(zoom)
            if stop is not None:
                return out, stop == "all"
            if zoom.graph.kind in ("error", "missing") and day != first:
                # No zoom around ``day``: the days it would have covered wait for next time
                # (uncovered), rather than costing a request each now.
                reach = day + timedelta(days=ZOOM_REACH)
                done = {d for d in left if d <= reach}
            else:
                done = settled_days(zoom) | {day}
            left = [d for d in left if d not in done]
        return out, False

    async def _zoom(
        self, peer: PeerInfo, field: str, token: str, day: date, counter: Counter[str]
    ) -> tuple[ZoomedGraph, _Stop | None]:
        """The zoom of one day, and whether this graph's zooms (or all) must stop here."""
        fetched_at = datetime.now(timezone.utc)
        try:
            answer = await self._route.load(peer, token, counter, x=day_x(day))
        except (TelegramStatsError, errors.RPCError) as exc:
            cause = cause_text(exc)
            stop: _Stop | None = None
            if isinstance(exc, FloodWaitTooLong):
                stop = "all"
            elif isinstance(exc, STALE_TOKEN_ERRORS):
                stop = "field"
            log.warning("peer %s: zoom of %s on %s not loaded: %s", peer.key, field, day, cause)
            return ZoomedGraph(field, day, missing(field, cause), fetched_at), stop
        if isinstance(answer, types.StatsGraph):
            graph = RawGraph(field, "inline", answer.json.data, None, answer.zoom_token)
        elif isinstance(answer, types.StatsGraphError):
            graph = RawGraph(field, "error", None, answer.error, None)
        else:
            graph = missing(field, f"unexpected answer {type(answer).__name__}")
        return ZoomedGraph(field, day, graph, fetched_at), None
