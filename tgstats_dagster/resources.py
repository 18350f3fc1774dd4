"""Dagster resources: Telegram (one connection per run, opened when first needed), the
warehouse (:mod:`tgstats_dagster.warehouse.resource`) and the folder of the reports."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
from pydantic import Field, PrivateAttr

from tgstats_dagster.runs import refresh_window
from tgstats_dagster.settings import Settings
from tgstats_dagster.telegram.connect import open_client, retry_policy
from tgstats_dagster.telegram.stats import StatsClient
from tgstats_dagster.warehouse.resource import WarehouseResource

__all__ = ["ReportsResource", "TelegramResource", "WarehouseResource"]


def loader_mode(settings: Settings) -> str:
    """One line saying what the loader does with these settings (the UI and `tgstats dev`)."""
    if settings.disabled_reason:
        return f"off: {settings.disabled_reason}"
    if settings.replay_dir is not None:
        return f"on, over the offline Telegram of the scenario folder {settings.replay_dir}"
    return "on, over the live Telegram"


class TelegramResource(dg.ConfigurableResource):
    """MTProto statistics through Telethon: live, or the offline Telegram of a scenario folder.

    A run opens one connection, on its event loop, the first time a step needs Telegram (a
    step whose snapshots are all stored opens none), and closes it when the run ends. The
    session string and the API hash come from ``EnvVar``s: Dagster shows where they come
    from, never their values.
    """

    mode: str = Field(
        default="off",
        description="What the loader talks to, as configured: off (and why), the offline "
        "Telegram of a scenario folder (the demo's, after `tgstats demo`), or the live Telegram",
    )
    mtproto_enabled: bool = Field(default=False, description="MTPROTO_ENABLED: master switch")
    stats_enabled: bool = Field(default=False, description="MTPROTO_STATS_ENABLED: the loader")
    api_id: str | None = Field(default=None, description="TG_API_ID")
    api_hash: str | None = Field(default=None, description="TG_API_HASH (secret)")
    session: str | None = Field(default=None, description="TG_SESSION: a StringSession (secret)")
    replay_dir: str | None = Field(
        default=None,
        description="TGSTATS_TELEGRAM_REPLAY: a scenario folder served by the offline Telegram",
    )
    replay_log: str | None = Field(default=None, description="TGSTATS_REPLAY_LOG")
    concurrency: int = Field(default=3, description="MTPROTO_STATS_CONCURRENCY: peers at once")
    flood_sleep_threshold: int = Field(
        default=60,
        description="MTPROTO_FLOOD_SLEEP_THRESHOLD: flood waits up to this many seconds are "
        "slept, longer ones end the peer's work with a retry request",
    )
    snapshot_max_age_hours: int = Field(
        default=6,
        description="TGSTATS_SNAPSHOT_MAX_AGE_HOURS: a stored complete snapshot younger than "
        "this is reused instead of fetched",
    )
    period_days: int = Field(
        default=30,
        description="MTPROTO_STATS_PERIOD_DAYS: the days a snapshots run compares with the "
        "stored figures when its run names none (Telegram revises recent days)",
    )
    start_date: str = Field(
        default="2026-01-01", description="TGSTATS_START_DATE: the first daily partition"
    )
    post_settle_days: int = Field(
        default=7,
        description="TGSTATS_POST_SETTLE_DAYS: a post's statistics are fetched again while it "
        "is younger than this many days, then once more, never after",
    )

    _exit_stack: AsyncExitStack | None = PrivateAttr(default=None)
    _client: StatsClient | None = PrivateAttr(default=None)
    _lock: asyncio.Lock | None = PrivateAttr(default=None)

    @classmethod
    def from_settings(cls, settings: Settings) -> TelegramResource:
        """Secrets as EnvVars when they are set; everything else by value."""
        env_or_none = {
            "api_id": ("TG_API_ID", settings.api_id),
            "api_hash": ("TG_API_HASH", settings.api_hash),
            "session": ("TG_SESSION", settings.session),
        }
        secrets = {field: dg.EnvVar(name) for field, (name, value) in env_or_none.items() if value}
        return cls(
            mode=loader_mode(settings),
            mtproto_enabled=settings.mtproto_enabled,
            stats_enabled=settings.stats_enabled,
            replay_dir=str(settings.replay_dir) if settings.replay_dir else None,
            replay_log=str(settings.replay_log) if settings.replay_log else None,
            concurrency=settings.concurrency,
            flood_sleep_threshold=settings.flood_sleep_threshold,
            snapshot_max_age_hours=int(settings.snapshot_max_age / timedelta(hours=1)),
            period_days=settings.period_days,
            start_date=settings.start_date.isoformat(),
            post_settle_days=settings.post_settle_after.days,
            **secrets,
        )

    def settings(self) -> Settings:
        return Settings(
            mtproto_enabled=self.mtproto_enabled,
            stats_enabled=self.stats_enabled,
            api_id=int(self.api_id) if self.api_id else None,
            api_hash=self.api_hash,
            session=self.session,
            replay_dir=Path(self.replay_dir) if self.replay_dir else None,
            replay_log=Path(self.replay_log) if self.replay_log else None,
            concurrency=self.concurrency,
            flood_sleep_threshold=self.flood_sleep_threshold,
        )

    @property
    def disabled_reason(self) -> str | None:
        return self.settings().disabled_reason

    @property
    def snapshot_max_age(self) -> timedelta:
        return timedelta(hours=self.snapshot_max_age_hours)

    @property
    def post_settle_after(self) -> timedelta:
        return timedelta(days=self.post_settle_days)

    def refresh_window(self, today: date) -> tuple[date, date] | None:
        """The days a refresh on ``today`` compares: the last ``period_days`` complete days."""
        start = date.fromisoformat(self.start_date)
        return refresh_window(start, self.period_days, today - timedelta(days=1))

    @asynccontextmanager
    async def yield_for_execution(
        self, context: dg.InitResourceContext
    ) -> AsyncIterator[TelegramResource]:
        self._exit_stack = AsyncExitStack()
        self._lock = asyncio.Lock()
        try:
            yield self
        finally:
            await self._exit_stack.aclose()
            self._exit_stack = self._client = self._lock = None

    async def stats(self) -> StatsClient:
        """The run's stats client, connected on first use."""
        if self._lock is None or self._exit_stack is None:
            raise dg.Failure("the Telegram resource is used outside of a run")
        async with self._lock:
            if self._client is None:
                settings = self.settings()
                policy = retry_policy(settings)
                client = await self._exit_stack.enter_async_context(open_client(settings, policy))
                self._client = StatsClient(client, policy=policy, concurrency=settings.concurrency)
            return self._client

    @property
    def requests(self) -> dict[str, int]:
        """The Telegram requests of this run so far, ``<Request>@dc<N>`` -> count."""
        return dict(self._client.requests) if self._client is not None else {}


class ReportsResource(dg.ConfigurableResource):
    """Where the channel reports are written (default ``TGSTATS_HOME/reports``, as for
    ``tgstats report``)."""

    folder: str = Field(description="folder of the report pages (one HTML page per channel)")

    @classmethod
    def from_settings(cls, settings: Settings) -> ReportsResource:
        return cls(folder=str(settings.reports_dir.resolve()))

    @property
    def path(self) -> Path:
        return Path(self.folder)
