"""A stand-in for Telethon's MTProtoSender that talks to the offline Telegram.

Only the transport is replaced: every request goes through its wire form (``bytes(request)``,
decoded again as the server would), every answer through its wire form too (serialized,
then read by ``request.read_result`` as Telethon's receive loop does), and every error
reaches the future as ``rpc_message_to_error(RpcError(code, message), request)``.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct
from typing import Any

from telethon.crypto import AuthKey
from telethon.errors import rpc_message_to_error
from telethon.extensions import BinaryReader
from telethon.tl.functions import PingRequest
from telethon.tl.types import RpcError

from tgstats_dagster.telegram.replay.telegram import NoAnswer, ReplayRpcError, ReplayTelegram

_VECTOR = 0x1CB5C415


def wire_bytes(answer: Any) -> bytes:
    """A TL answer as Telegram would send it (a list is a TL Vector)."""
    if isinstance(answer, list):
        return struct.pack("<Ii", _VECTOR, len(answer)) + b"".join(bytes(x) for x in answer)
    return bytes(answer)


_NO_ANSWER = object()


class ReplaySender:
    """What TelegramClient needs of an MTProtoSender: connect, send, disconnect, state."""

    def __init__(self, telegram: ReplayTelegram, auth_key: AuthKey | None = None) -> None:
        self.telegram = telegram
        self.auth_key = auth_key or AuthKey(None)
        self.dc_id: int | None = None  # the client sets this on exported senders too
        self._connection: Any = None
        self._user_connected = False
        self._ping: int | None = None
        self._disconnected_future: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def connected_dc(self) -> int:
        return int(self._connection._dc_id)

    async def connect(self, connection: Any) -> bool:
        if self._user_connected:
            return False
        self._connection = connection
        if self.auth_key.key is None:
            # A real sender generates a key with the DC here; a stable one does for replay.
            seed = f"replay-auth-key:{connection._dc_id}".encode()
            self.auth_key.key = b"".join(
                hashlib.sha256(seed + bytes([i])).digest() for i in range(8)
            )
        self._user_connected = True
        self._disconnected_future = asyncio.get_running_loop().create_future()
        return True

    def is_connected(self) -> bool:
        return self._user_connected

    def _transport_connected(self) -> bool:
        return self._user_connected

    async def disconnect(self) -> None:
        self._user_connected = False
        for task in list(self._tasks):
            task.cancel()
        if self._disconnected_future is not None and not self._disconnected_future.done():
            self._disconnected_future.set_result(None)

    @property
    def disconnected(self) -> asyncio.Future[None]:
        if self._disconnected_future is None:
            self._disconnected_future = asyncio.get_running_loop().create_future()
            self._disconnected_future.set_result(None)
        return asyncio.shield(self._disconnected_future)

    def _keepalive_ping(self, rnd_id: int) -> None:
        self.send(PingRequest(rnd_id))

    def send(self, request: Any, ordered: bool = False) -> Any:
        if not self._user_connected:
            raise ConnectionError("Cannot send requests while disconnected")
        if isinstance(request, list):
            return [self._enqueue(r) for r in request]
        return self._enqueue(request)

    def _enqueue(self, request: Any) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        data = bytes(request)  # what would go on the wire (also validates the request)
        task = asyncio.get_running_loop().create_task(self._serve(request, data, future))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return future

    async def _serve(self, request: Any, data: bytes, future: asyncio.Future[Any]) -> None:
        telegram = self.telegram
        telegram.in_flight += 1
        telegram.max_in_flight = max(telegram.max_in_flight, telegram.in_flight)
        try:
            await asyncio.sleep(telegram.latency)
        except asyncio.CancelledError:
            telegram.in_flight -= 1
            if not future.done():
                # As Telethon's sender does when the user disconnects: pending requests are
                # cancelled (nobody is left to read an error).
                future.cancel()
            raise
        try:
            on_the_wire = BinaryReader(data).tgread_object()
            try:
                answer = telegram.answer(self.connected_dc, on_the_wire)
            except ReplayRpcError as exc:
                outcome: Any = rpc_message_to_error(RpcError(exc.code, exc.message), request)
            else:
                outcome = request.read_result(BinaryReader(wire_bytes(answer)))
        except NoAnswer:
            outcome = _NO_ANSWER
        except Exception as exc:  # a dropped connection, or a scenario the replay cannot serve
            outcome = exc
        finally:
            telegram.in_flight -= 1
        if outcome is _NO_ANSWER:
            # Like a request Telegram never answers: the future stays pending until whoever
            # awaits it gives up (its task cancelled: the future with it) or disconnects.
            try:
                await asyncio.get_running_loop().create_future()
            finally:
                if not future.done():
                    future.cancel()
        if future.done():
            return
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
