"""Open a connected TelegramClient: live (StringSession) or the offline Telegram."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from telethon import TelegramClient
from telethon.sessions import StringSession

from tgstats_dagster.settings import ConfigError, Settings
from tgstats_dagster.telegram.retry import RetryPolicy


def client_options() -> dict[str, Any]:
    """TelegramClient keyword arguments shared by the live and the offline client.

    ``lang_code='en'`` keeps graph series names stable; no updates are received (this
    client only reads statistics); the last RPC error is raised rather than Telethon's
    generic "Request was unsuccessful" ValueError. Telethon neither retries nor sleeps by
    itself: ``request_retries=0`` sends each request once (Telethon counts retries after the
    first attempt), and ``flood_sleep_threshold=0`` raises every flood wait, so the
    RetryPolicy (retry.py) decides, the same on every DC. Telethon still pauses 2 s after a
    5xx answer on the home DC before handing it over; that pause is its own and cannot be
    configured away.
    """
    return {
        "lang_code": "en",
        "system_lang_code": "en",
        "flood_sleep_threshold": 0,
        "request_retries": 0,
        "raise_last_call_error": True,
        "receive_updates": False,
    }


def retry_policy(settings: Settings) -> RetryPolicy:
    """The retry policy the settings ask for (MTPROTO_FLOOD_SLEEP_THRESHOLD,
    MTPROTO_REQUEST_TIMEOUT)."""
    return RetryPolicy(
        flood_sleep_threshold=settings.flood_sleep_threshold,
        request_timeout=settings.request_timeout,
    )


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
        return replay_client(telegram, **client_options())
    check_credentials(settings)
    try:
        session = StringSession(settings.session)
    except Exception:
        raise ConfigError("TG_SESSION is not a valid Telethon StringSession") from None
    return TelegramClient(session, settings.api_id, settings.api_hash, **client_options())


async def _connect(client: TelegramClient) -> bool:
    """Connect and say whether the session is authorized; disconnected again on failure, so
    that another attempt starts from scratch.

    ``get_me(input_peer=True)`` answers from what ``connect`` learnt when the session is
    authorized; unlike ``is_user_authorized`` it lets a flood wait through instead of
    reading it as "not authorized".
    """
    try:
        await client.connect()
        return await client.get_me(input_peer=True) is not None
    except BaseException:
        await client.disconnect()
        raise


@asynccontextmanager
async def open_client(
    settings: Settings, policy: RetryPolicy | None = None
) -> AsyncIterator[TelegramClient]:
    """A connected, authorized TelegramClient; disconnected on exit.

    The connection set-up runs under ``policy`` (default: ``retry_policy(settings)``): a
    short flood wait or a dropped connection is waited out, a long flood wait raises
    FloodWaitTooLong.
    """
    client = build_client(settings)
    policy = policy or retry_policy(settings)
    authorized = await policy.run(lambda: _connect(client), what="connect")
    try:
        if not authorized:
            raise ConfigError(
                "TG_SESSION is not authorized (expired or logged out): run `tgstats login`"
            )
        yield client
    finally:
        await client.disconnect()
