"""The offline Telegram: answers TL requests from a scenario as Telegram's servers would.

It sees requests as they are on the wire (decoded from their bytes by the sender stand-in),
routes by data centre like Telegram (stats only on the peer's stats DC, authorization
imported before a non-home DC answers anything), injects the scenario's faults, and logs
one JSON line per request answered. Its rules are documented for scenario writers in
docs/scenario-format.md.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from telethon.tl import functions, types

from tgstats_dagster.telegram.replay import objects
from tgstats_dagster.telegram.replay.scenario import (
    CONNECTION_DROPPED,
    END_YESTERDAY,
    NO_ANSWER,
    Fault,
    Scenario,
    ScenarioPeer,
    ScenarioPost,
    load_scenario,
)
from tgstats_dagster.telegram.replay.window import end_yesterday

_WRAPPERS = (
    functions.InvokeWithLayerRequest,
    functions.InitConnectionRequest,
    functions.InvokeWithoutUpdatesRequest,
    functions.InvokeAfterMsgRequest,
)
#: Requests a DC answers before an authorization was imported there.
_WITHOUT_AUTH = ("GetConfigRequest", "PingRequest", "ImportAuthorizationRequest")
_STATS_REQUESTS = {
    "GetBroadcastStatsRequest": True,  # -> needs a broadcast channel
    "GetMegagroupStatsRequest": False,
}
#: Telegram's cap on messages.getHistory, stories.getStoriesArchive and public forwards.
PAGE_LIMIT = 100
DAY_MS = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@dataclass(frozen=True)
class _Issued:
    """What an async token stands for: a channel graph, or a post's or story's graph."""

    peer: str  # the peer key
    field: str
    post_kind: str | None = None  # "message" / "story" for a post's graph
    post_id: int | None = None


class ReplayRpcError(Exception):
    """An RPC error the offline Telegram answers with (code as Telegram would use)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = error_code(message) if code is None else code


class NoAnswer(Exception):
    """The offline Telegram does not answer this request (a ``NO_ANSWER`` fault)."""


def error_code(message: str) -> int:
    """The RPC error code Telegram uses for an error message."""
    if message.startswith(("FLOOD_WAIT_", "FLOOD_PREMIUM_WAIT_", "SLOWMODE_WAIT_")):
        return 420
    if "_MIGRATE_" in message:
        return 303
    if message in ("AUTH_KEY_UNREGISTERED", "SESSION_REVOKED", "USER_DEACTIVATED"):
        return 401
    if message.endswith("_FAIL") or message in ("INTERNAL", "TIMEOUT", "NO_WORKERS_RUNNING"):
        return 500
    return 400


def innermost(request: Any) -> Any:
    """The request inside InvokeWithLayer / InitConnection / InvokeWithoutUpdates wrappers."""
    while isinstance(request, _WRAPPERS):
        request = request.query
    return request


class ReplayTelegram:
    """Telegram's servers for one scenario, shared by every sender of a client."""

    def __init__(
        self, scenario: Scenario, log_path: Path | None = None, latency: float | None = None
    ) -> None:
        self.scenario = scenario
        self.log_path = log_path
        self.latency = scenario.latency if latency is None else latency
        #: Every request answered, as logged: {"dc", "request", "peer", "outcome"}.
        self.entries: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        #: [fault, failures left, matching requests to answer first]
        self._faults: list[list[Any]] = [[f, f.times, f.after] for f in scenario.faults]
        self._tokens: dict[str, _Issued] = {}
        self._token_numbers = itertools.count(1)
        self._exported: dict[int, bytes] = {}
        self._authorized = {scenario.home_dc}
        self.dc_ids = {1, 2, 3, 4, 5, scenario.home_dc} | {
            p.stats_dc for p in scenario.peers if p.stats_dc
        }

    @classmethod
    def load(
        cls, root: Path, log_path: Path | None = None, today: date | None = None
    ) -> ReplayTelegram:
        """The offline Telegram for a scenario folder; ``today`` (UTC, default: now) places
        a window that ends yesterday (scenario.json ``"end": "yesterday"``)."""
        scenario = load_scenario(root)
        if scenario.end == END_YESTERDAY:
            scenario = end_yesterday(scenario, today or datetime.now(timezone.utc).date())
        return cls(scenario, log_path)

    @property
    def home_dc(self) -> int:
        return self.scenario.home_dc

    def add_fault(self, fault: Fault) -> None:
        """Inject a fault at run time (tests); same meaning as in scenario.json."""
        self._faults.append([fault, fault.times, fault.after])

    # -- answering ------------------------------------------------------------------------

    def answer(self, dc: int, request: Any) -> Any:
        """The TL answer to one request on DC ``dc``, or ReplayRpcError / ConnectionError."""
        inner = innermost(request)
        name = type(inner).__name__
        peer = self._peer_key(inner)
        try:
            self._inject_fault(dc, name, peer)
            if dc not in self._authorized and name not in _WITHOUT_AUTH:
                raise ReplayRpcError("AUTH_KEY_UNREGISTERED")
            result = self._handle(dc, inner, name)
        except ReplayRpcError as exc:
            self._log(dc, name, peer, exc.message)
            raise
        except ConnectionError:
            self._log(dc, name, peer, CONNECTION_DROPPED)
            raise
        except NoAnswer:
            self._log(dc, name, peer, NO_ANSWER)
            raise
        self._log(dc, name, peer, "ok")
        return result

    def _inject_fault(self, dc: int, name: str, peer: str | None) -> None:
        for entry in self._faults:
            fault, left, before = entry
            if left <= 0 or fault.request != name:
                continue
            if fault.dc is not None and fault.dc != dc:
                continue
            if fault.peer is not None and fault.peer != peer:
                continue
            if before > 0:
                entry[2] = before - 1
                continue
            entry[1] = left - 1
            if fault.error == CONNECTION_DROPPED:
                raise ConnectionError("the offline Telegram dropped the connection (fault)")
            if fault.error == NO_ANSWER:
                raise NoAnswer(name)
            raise ReplayRpcError(fault.error, fault.code)

    def _log(self, dc: int, name: str, peer: str | None, outcome: str) -> None:
        entry = {"dc": dc, "request": name, "peer": peer, "outcome": outcome}
        self.entries.append(entry)
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with self.log_path.open("a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")

    def _peer_key(self, request: Any) -> str | None:
        if isinstance(request, functions.contacts.ResolveUsernameRequest):
            found = self.scenario.by_username(request.username)
            return found.key if found else request.username.lower()
        if isinstance(request, functions.stats.LoadAsyncGraphRequest):
            issued = self._tokens.get(request.token)
            if issued is not None:
                return issued.peer
            zoomed = self._zoomed(request.token)
            return zoomed[0].key if zoomed else None
        channel = getattr(request, "channel", None) or getattr(request, "peer", None)
        if channel is None and isinstance(request, functions.channels.GetChannelsRequest):
            channel = request.id[0] if request.id else None
        channel_id = getattr(channel, "channel_id", None)
        if channel_id is None:
            return None
        found = self.scenario.by_id(channel_id)
        return found.key if found else str(channel_id)

    def _channel(self, channel: Any, *, allow_zero_hash: bool = False) -> ScenarioPeer:
        found = self.scenario.by_id(getattr(channel, "channel_id", -1))
        if found is None:
            raise ReplayRpcError("CHANNEL_INVALID")
        if channel.access_hash != found.access_hash and not (
            allow_zero_hash and channel.access_hash == 0
        ):
            raise ReplayRpcError("CHANNEL_INVALID")
        return found

    def _handle(self, dc: int, request: Any, name: str) -> Any:
        now = datetime.now(timezone.utc)
        if isinstance(request, functions.help.GetConfigRequest):
            return objects.config(dc, self.dc_ids)
        if isinstance(request, functions.PingRequest):
            return types.Pong(msg_id=0, ping_id=request.ping_id)
        if isinstance(request, functions.users.GetUsersRequest):
            return [
                objects.self_user() if isinstance(u, types.InputUserSelf) else types.UserEmpty(0)
                for u in request.id
            ]
        if isinstance(request, functions.updates.GetStateRequest):
            return types.updates.State(pts=1, qts=0, date=now, seq=0, unread_count=0)
        if isinstance(request, functions.updates.GetDifferenceRequest):
            return types.updates.DifferenceEmpty(date=now, seq=0)
        if isinstance(request, functions.auth.ExportAuthorizationRequest):
            return self._export_authorization(dc, request.dc_id)
        if isinstance(request, functions.auth.ImportAuthorizationRequest):
            if self._exported.get(dc) != request.bytes:
                raise ReplayRpcError("AUTH_BYTES_INVALID")
            self._authorized.add(dc)
            return types.auth.Authorization(user=objects.self_user())
        if isinstance(request, functions.contacts.ResolveUsernameRequest):
            peer = self.scenario.by_username(request.username)
            if peer is None:
                raise ReplayRpcError("USERNAME_NOT_OCCUPIED")
            return types.contacts.ResolvedPeer(
                peer=types.PeerChannel(peer.channel_id), chats=[objects.channel(peer)], users=[]
            )
        if isinstance(request, functions.channels.GetChannelsRequest):
            found = [self._channel(c, allow_zero_hash=True) for c in request.id]
            return types.messages.Chats(chats=[objects.channel(p) for p in found])
        if isinstance(request, functions.channels.GetFullChannelRequest):
            return objects.chat_full(self._channel(request.channel))
        if name in _STATS_REQUESTS:
            return self._stats(dc, request, broadcast=_STATS_REQUESTS[name])
        if isinstance(request, functions.stats.LoadAsyncGraphRequest):
            return self._load_async_graph(dc, request)
        if isinstance(request, functions.messages.GetHistoryRequest):
            return self._history(self._channel(request.peer), request)
        if isinstance(request, functions.stories.GetStoriesArchiveRequest):
            return self._stories_archive(self._channel(request.peer), request)
        if isinstance(request, functions.stats.GetMessageStatsRequest):
            peer, post = self._post(dc, request.channel, "message", request.msg_id)
            return objects.post_stats("message", post, self._post_tokens(peer, "message", post))
        if isinstance(request, functions.stats.GetStoryStatsRequest):
            peer, post = self._post(dc, request.peer, "story", request.id)
            return objects.post_stats("story", post, self._post_tokens(peer, "story", post))
        if isinstance(request, functions.stats.GetMessagePublicForwardsRequest):
            peer, post = self._post(dc, request.channel, "message", request.msg_id)
            return self._public_forwards(peer, post, request.offset, request.limit)
        if isinstance(request, functions.stats.GetStoryPublicForwardsRequest):
            peer, post = self._post(dc, request.peer, "story", request.id)
            return self._public_forwards(peer, post, request.offset, request.limit)
        if isinstance(request, functions.payments.GetStarsRevenueStatsRequest):
            return self._revenue(self._channel(request.peer), bool(request.ton))
        raise ReplayRpcError("INPUT_METHOD_INVALID")

    def _export_authorization(self, dc: int, target: int) -> Any:
        if dc != self.home_dc or target == dc or target not in self.dc_ids:
            raise ReplayRpcError("DC_ID_INVALID")
        token = hashlib.sha256(f"replay-export:{target}".encode()).digest()
        self._exported[target] = token
        return types.auth.ExportedAuthorization(id=objects.SELF_USER_ID, bytes=token)

    def _stats(self, dc: int, request: Any, *, broadcast: bool) -> Any:
        peer = self._channel(request.channel)
        stats_dc = peer.stats_dc or self.home_dc
        if dc != stats_dc:
            raise ReplayRpcError(f"STATS_MIGRATE_{stats_dc}")
        if not peer.can_view_stats:
            raise ReplayRpcError("CHAT_ADMIN_REQUIRED")
        if broadcast and not peer.broadcast:
            raise ReplayRpcError("BROADCAST_REQUIRED")
        if not broadcast and not peer.megagroup:
            raise ReplayRpcError("MEGAGROUP_REQUIRED")
        return objects.stats(peer, lambda field: self._issue_token(peer, field))

    def _issue_token(self, peer: ScenarioPeer, field: str) -> str:
        return self._issue(_Issued(peer.key, field))

    def _issue(self, issued: _Issued) -> str:
        token = f"replay:{issued.peer}:{issued.field}:{next(self._token_numbers)}"
        self._tokens[token] = issued
        return token

    def _post_tokens(self, peer: ScenarioPeer, kind: str, post: ScenarioPost) -> Any:
        return lambda field: self._issue(_Issued(peer.key, field, kind, post.id))

    def _stats_dc(self, peer: ScenarioPeer) -> int:
        return peer.stats_dc or self.home_dc

    def _zoomed(self, token: str) -> tuple[ScenarioPeer, str] | None:
        """The peer and graph field of a zoom token (objects.zoom_token), if it is one."""
        for peer in self.scenario.peers:
            for field in peer.zooms:
                if objects.zoom_token(peer, field) == token:
                    return peer, field
        return None

    def _load_async_graph(self, dc: int, request: Any) -> Any:
        zoomed = self._zoomed(request.token)
        if zoomed is not None:
            return self._zoom(dc, *zoomed, request.x)
        issued = self._tokens.get(request.token)
        if issued is None:
            raise ReplayRpcError("GRAPH_INVALID_RELOAD")
        peer = next(p for p in self.scenario.peers if p.key == issued.peer)
        if dc != self._stats_dc(peer):
            raise ReplayRpcError("GRAPH_INVALID_RELOAD")
        if request.x is not None:
            return types.StatsGraphError(error="NOT_ENOUGH_DATA")  # not a zoom token
        if issued.post_kind is None:
            return objects.loaded_graph(peer, issued.field)
        post = (peer.post if issued.post_kind == "message" else peer.story)(issued.post_id)
        assert post is not None  # the token was issued for one of the scenario's posts
        return objects.inline_graph(post.graphs[issued.field])

    def _zoom(self, dc: int, peer: ScenarioPeer, field: str, x: int | None) -> Any:
        """The zoomed graph of the day at ``x`` (ms): graphs/<field>.zoom/<day>.json."""
        if dc != self._stats_dc(peer) or x is None:
            raise ReplayRpcError("GRAPH_INVALID_RELOAD")
        day = (_EPOCH + timedelta(milliseconds=x)).date()
        text = peer.zooms[field].get(day)
        if text is None:
            return types.StatsGraphError(error="NOT_ENOUGH_DATA")
        return objects.inline_graph(text)

    # -- posts, stories, revenue ----------------------------------------------------------

    def _post(self, dc: int, channel: Any, kind: str, post_id: int) -> tuple[ScenarioPeer, Any]:
        """The post or story a post-stats request names, checked as Telegram checks it."""
        peer = self._channel(channel)
        stats_dc = self._stats_dc(peer)
        if dc != stats_dc:
            raise ReplayRpcError(f"STATS_MIGRATE_{stats_dc}")
        if not peer.can_view_stats:
            raise ReplayRpcError("CHAT_ADMIN_REQUIRED")
        post = peer.post(post_id) if kind == "message" else peer.story(post_id)
        if post is None:
            raise ReplayRpcError("MESSAGE_ID_INVALID" if kind == "message" else "STORY_ID_INVALID")
        return peer, post

    def _history(self, peer: ScenarioPeer, request: Any) -> Any:
        """messages.getHistory with Telegram's paging, newest first."""
        newest_first = sorted(peer.posts, key=lambda p: p.id, reverse=True)
        within = [
            p
            for p in newest_first
            if (not request.max_id or p.id < request.max_id)
            and (not request.min_id or p.id > request.min_id)
        ]
        offset_date = request.offset_date
        if offset_date is not None and offset_date <= _EPOCH:
            offset_date = None
        start = 0
        if request.offset_id:
            start = _first(within, lambda p: p.id < request.offset_id)
        elif offset_date is not None:
            start = _first(within, lambda p: p.date < offset_date)
        start = max(start + request.add_offset, 0)
        page = within[start : start + _page_limit(request.limit)]
        return objects.channel_messages(peer, page, len(newest_first))

    def _stories_archive(self, peer: ScenarioPeer, request: Any) -> Any:
        newest_first = sorted(peer.stories, key=lambda p: p.id, reverse=True)
        older = [s for s in newest_first if not request.offset_id or s.id < request.offset_id]
        return objects.stories(peer, older[: _page_limit(request.limit)], len(newest_first))

    def _public_forwards(self, peer: ScenarioPeer, post: Any, offset: str, limit: int) -> Any:
        """One page of public forwards; ``next_offset`` (the next index) while more remain."""
        try:
            start = int(offset) if offset else 0
        except ValueError:
            raise ReplayRpcError("OFFSET_INVALID") from None
        end = start + _page_limit(limit)
        page = post.public_forwards[start:end]
        more = end < len(post.public_forwards)
        return objects.public_forwards(peer, post, page, str(end) if more else None)

    def _revenue(self, peer: ScenarioPeer, ton: bool) -> Any:
        currency = "ton" if ton else "stars"
        revenue = peer.revenue.get(currency)
        if revenue is None:
            raise ReplayRpcError("CHAT_ADMIN_REQUIRED")  # not monetized, or not the owner
        return objects.revenue_stats(revenue, currency)


def _page_limit(limit: int) -> int:
    """Telegram's answer size for a ``limit``: at most 100; 0 or less means its default."""
    return PAGE_LIMIT if limit <= 0 else min(limit, PAGE_LIMIT)


def _first(items: list[Any], wanted: Any) -> int:
    """The index of the first item ``wanted`` accepts (len(items) when none)."""
    return next((i for i, item in enumerate(items) if wanted(item)), len(items))
