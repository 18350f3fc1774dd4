"""Bad input refused at the door: one paragraph naming the culprit and what to do, before any
Telegram request or Dagster run."""

from __future__ import annotations

import tempfile
from datetime import date, datetime, timezone

import psycopg
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from tgstats_dagster.settings import ConfigError, Settings
from tgstats_dagster.warehouse.server import libpq_url

CONNECT_TIMEOUT_SECONDS = 5


def check_database(settings: Settings) -> None:
    """A configured database URL must be PostgreSQL's and answer within seconds; without
    one, ``TGSTATS_HOME`` must be writable for the embedded server."""
    if settings.database_url is None:
        check_home(settings)
        return
    try:
        url = make_url(settings.database_url)
    except ArgumentError:
        raise ConfigError(
            "TGSTATS_DATABASE_URL is not a database URL: write it as "
            "postgresql://user:password@host:5432/database"
        ) from None
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise ConfigError(
            f"TGSTATS_DATABASE_URL names a {url.get_backend_name()!r} database; tgstats keeps its "
            "tables in PostgreSQL: write it as postgresql://user:password@host:5432/database"
        )
    where = f"{url.host or 'local socket'}:{url.port or 5432}/{url.database or ''}"
    try:
        with psycopg.connect(
            libpq_url(settings.database_url), connect_timeout=CONNECT_TIMEOUT_SECONDS
        ):
            pass
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if url.password:
            reason = reason.replace(url.password, "***")
        raise ConfigError(
            f"TGSTATS_DATABASE_URL: cannot reach PostgreSQL at {where} ({reason}). Check that "
            "the server runs and the URL is right, or unset it to use the embedded PostgreSQL"
        ) from None


def check_home(settings: Settings) -> None:
    home = settings.home.expanduser()
    try:
        home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=home, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"TGSTATS_HOME: cannot write to {home} ({exc.strerror or exc}); the embedded "
            "PostgreSQL and the Dagster instance live there. Set TGSTATS_HOME to a writable "
            "folder, or TGSTATS_DATABASE_URL to a PostgreSQL server"
        ) from None


def check_days(settings: Settings, start: date, end: date) -> None:
    """``--start`` not before the first partition, ``--end`` not in the future."""
    today = datetime.now(timezone.utc).date()
    if start < settings.start_date:
        raise ConfigError(
            f"--start {start} is before TGSTATS_START_DATE {settings.start_date}, the first day "
            "of the daily partitions: start later, or set TGSTATS_START_DATE earlier"
        )
    if end > today:
        raise ConfigError(
            f"--end {end} is in the future (today is {today} UTC): Telegram has no figures "
            "for it yet"
        )
    if end < start:
        raise ConfigError(f"--end {end} is before --start {start}")


def check_telegram(settings: Settings) -> None:
    """With the flags on: credentials present, and TG_SESSION a StringSession."""
    if not settings.enabled or settings.uses_replay:
        return
    missing = settings.missing_credentials()
    if missing:
        raise ConfigError(
            f"MTPROTO_ENABLED and MTPROTO_STATS_ENABLED are on but {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set: run `tgstats login` to create "
            "TG_SESSION, or set TGSTATS_TELEGRAM_REPLAY for the offline Telegram"
        )
    from telethon.sessions import StringSession

    try:
        StringSession(settings.session)
    except Exception:
        raise ConfigError(
            "TG_SESSION is not a Telethon StringSession (it may be cut or quoted): run "
            "`tgstats login` again and copy the whole string"
        ) from None
