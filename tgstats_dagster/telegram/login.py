"""``tgstats login``: create a Telethon StringSession interactively."""

from __future__ import annotations

import asyncio
import getpass

from telethon import TelegramClient
from telethon.sessions import StringSession

from tgstats_dagster.settings import ConfigError, Settings
from tgstats_dagster.telegram.connect import client_options


def check_api_credentials(settings: Settings) -> None:
    missing = [
        name
        for name, value in (("TG_API_ID", settings.api_id), ("TG_API_HASH", settings.api_hash))
        if not value
    ]
    if missing:
        raise ConfigError(
            f"`tgstats login` needs {' and '.join(missing)} (from https://my.telegram.org, "
            "API development tools)"
        )


async def _login(settings: Settings) -> str:
    # Signing in relies on Telethon's own retries (a phone number on another DC answers
    # PHONE_MIGRATE and is sent again there) and may sleep short flood waits.
    options = {
        **client_options(),
        "request_retries": 5,
        "flood_sleep_threshold": settings.flood_sleep_threshold,
    }
    client = TelegramClient(StringSession(), settings.api_id, settings.api_hash, **options)
    await client.start(
        phone=lambda: input("phone number (international format): "),
        code_callback=lambda: input("login code Telegram sent you: "),
        password=lambda: getpass.getpass("two-step verification password: "),
    )
    try:
        return client.session.save()
    finally:
        await client.disconnect()


def run_login(settings: Settings) -> int:
    check_api_credentials(settings)
    session = asyncio.run(_login(settings))
    print(
        "Logged in. Put this string into TG_SESSION (environment or .env). Treat it as a "
        "password: anyone who has it is logged in as you. It is shown only this once.\n"
    )
    print(session)
    return 0
