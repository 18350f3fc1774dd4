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
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from telethon.tl import functions, types

from tgstats_dagster.telegram.replay import objects
from tgstats_dagster.telegram.replay.scenario import (
    CONNECTION_DROPPED,
    END_YESTERDAY,
    Fault,
    Scenario,
    ScenarioPeer,
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


class ReplayRpcError(Exception):
    """An RPC error the offline Telegram answers with (code as Telegram would use)."""

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = error_code(message) if code is None else code


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
        self._faults: list[list[Any]] = [[f, f.times] for f in scenario.faults]
        self._tokens: dict[str, tuple[str, str]] = {}
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
        self._faults.append([fault, fault.times])

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
        self._log(dc, name, peer, "ok")
        return result

    def _inject_fault(self, dc: int, name: str, peer: str | None) -> None:
        for entry in self._faults:
            fault, left = entry
            if left <= 0 or fault.request != name:
                continue
            if fault.dc is not None and fault.dc != dc:
                continue
            if fault.peer is not None and fault.peer != peer:
                continue
            entry[1] = left - 1
            if fault.error == CONNECTION_DROPPED:
                raise ConnectionError("the offline Telegram dropped the connection (fault)")
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
            return issued[0] if issued else None
        channel = getattr(request, "channel", None)
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
        token = f"replay:{peer.channel_id}:{field}:{next(self._token_numbers)}"
        self._tokens[token] = (peer.key, field)
        return token

    def _load_async_graph(self, dc: int, request: Any) -> Any:
        issued = self._tokens.get(request.token)
        if issued is None:
            raise ReplayRpcError("GRAPH_INVALID_RELOAD")
        peer = next(p for p in self.scenario.peers if p.key == issued[0])
        if dc != (peer.stats_dc or self.home_dc):
            raise ReplayRpcError("GRAPH_INVALID_RELOAD")
        if request.x is not None:
            return types.StatsGraphError(error="NOT_ENOUGH_DATA")  # no zoom data recorded
        return objects.loaded_graph(peer, issued[1])
