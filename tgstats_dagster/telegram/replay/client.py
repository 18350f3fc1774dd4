"""A real TelegramClient whose transport is the offline Telegram.

The home DC's sender is replaced by a ReplaySender, and the client's
``_create_exported_sender`` (on this instance only) builds ReplaySenders for other DCs,
doing what Telethon's own does: look the DC up in the config, connect, export the
authorization on the home DC and import it on the new one. Everything above the sender
(entity cache, ``_call``'s flood and retry handling, exported-sender borrowing) is Telethon's.
"""

from __future__ import annotations

import types as pytypes
from typing import Any

from telethon import TelegramClient
from telethon.sessions import StringSession
from telethon.tl import functions
from telethon.tl.alltlobjects import LAYER

from tgstats_dagster.telegram.replay.sender import ReplaySender
from tgstats_dagster.telegram.replay.telegram import ReplayTelegram

#: The offline Telegram checks no credentials; these only satisfy TelegramClient.
REPLAY_API_ID = 1
REPLAY_API_HASH = "0" * 32


async def _create_exported_sender(self: TelegramClient, dc_id: int) -> ReplaySender:
    dc = await self._get_dc(dc_id)
    sender = ReplaySender(self._replay)
    await sender.connect(
        self._connection(
            dc.ip_address,
            dc.port,
            dc.id,
            loggers=self._log,
            proxy=self._proxy,
            local_addr=self._local_addr,
        )
    )
    auth = await self(functions.auth.ExportAuthorizationRequest(dc_id))
    self._init_request.query = functions.auth.ImportAuthorizationRequest(
        id=auth.id, bytes=auth.bytes
    )
    await sender.send(functions.InvokeWithLayerRequest(LAYER, self._init_request))
    return sender


def replay_client(telegram: ReplayTelegram, **options: Any) -> TelegramClient:
    """A TelegramClient (not yet connected) served by ``telegram``; home DC per scenario.

    ``options`` are TelegramClient keyword arguments (connect.client_options gives the
    production ones), so the client under test is configured as the live one.
    """
    session = StringSession()
    session.set_dc(telegram.home_dc, f"127.0.0.{telegram.home_dc}", 443)
    client = TelegramClient(
        session,
        REPLAY_API_ID,
        REPLAY_API_HASH,
        **options,
    )
    client._replay = telegram
    client._sender = ReplaySender(telegram)
    client._create_exported_sender = pytypes.MethodType(_create_exported_sender, client)
    return client
