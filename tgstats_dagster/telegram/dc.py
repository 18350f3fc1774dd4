"""Talking to a data centre other than the home one: the only use of Telethon's privates.

Telethon offers no public way to send a request to another DC with the same authorization;
``client._borrow_exported_sender`` / ``_return_exported_sender`` are what its own
``get_stats`` uses. They are private, so they live here alone and the Telethon range is
pinned in setup.py. On this path Telethon neither sleeps flood waits nor retries: the
retry policy (retry.py) does both, as it does on the home DC.
"""

from __future__ import annotations

from typing import Any

from telethon import TelegramClient
from telethon.tl.tlobject import TLRequest


def home_dc(client: TelegramClient) -> int:
    """The DC the client's own connection (and authorization) lives on."""
    return int(client.session.dc_id)


async def send_on_dc(client: TelegramClient, dc_id: int, request: TLRequest) -> Any:
    """Send one request on DC ``dc_id`` through a borrowed exported sender."""
    sender = await client._borrow_exported_sender(dc_id)
    try:
        return await sender.send(request)
    finally:
        await client._return_exported_sender(sender)
