"""Open a connected TelegramClient: live (StringSession) or the offline Telegram."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telethon import TelegramClient
from telethon.sessions import StringSession

from tgstats_dagster.settings import ConfigError, Settings


def client_options(settings: Settings) -> dict[str, Any]:
    """TelegramClient keyword arguments shared by the live and the offline client.

    ``lang_code='en'`` keeps graph series names stable; no updates are received (this
    client only reads statistics); the last RPC error is raised rather than Telethon's
    generic "Request was unsuccessful" ValueError.
    """
    return {
        "lang_code": "en",
        "system_lang_code": "en",
        "flood_sleep_threshold": settings.flood_sleep_threshold,
        "raise_last_call_error": True,
        "receive_updates": False,
    }


def check_credentials(settings: Settings) -> None:
    """ConfigError naming the missing live-Telegram variables (never their values)."""
    missing = settings.missing_credentials()
    if missing:
        raise ConfigError(
            f"live Telegram needs {', '.join(missing)} (run `tgstats login` to create "
            "TG_SESSION), or set TGSTATS_TELEGRAM_REPLAY to a scenario folder"
        )


def build_client(settings: Settings) -> TelegramClient:
    """A TelegramClient, not yet connected, for the settings (live or offline)."""
    if settings.replay_dir is not None:
        from tgstats_dagster.telegram.replay import ReplayTelegram, replay_client

        telegram = ReplayTelegram.load(settings.replay_dir, settings.replay_log)
        return replay_client(telegram, **client_options(settings))
    check_credentials(settings)
    try:
        session = StringSession(settings.session)
    except Exception:
        raise ConfigError("TG_SESSION is not a valid Telethon StringSession") from None
    return TelegramClient(session, settings.api_id, settings.api_hash, **client_options(settings))


@asynccontextmanager
async def open_client(settings: Settings) -> AsyncIterator[TelegramClient]:
    """A connected, authorized TelegramClient; disconnected on exit."""
    client = build_client(settings)
    await client.connect()
    try:
        if not await client.is_user_authorized():
            raise ConfigError(
                "TG_SESSION is not authorized (expired or logged out): run `tgstats login`"
            )
        yield client
    finally:
        await client.disconnect()
