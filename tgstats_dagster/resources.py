"""Dagster resources: the Telegram client (one per run) and the warehouse."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field, PrivateAttr
from sqlalchemy.engine import Engine

from tgstats_dagster.settings import Settings
from tgstats_dagster.telegram.connect import open_client
from tgstats_dagster.telegram.stats import StatsClient
from tgstats_dagster.warehouse import snapshots
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.migrations import ensure_schema


class TelegramResource(dg.ConfigurableResource):
    """MTProto statistics through Telethon: live, or the offline Telegram of a scenario folder.

    The client is connected once per run, on the run's event loop, and only for steps that
    need it. The session string and API hash come from ``EnvVar``s: Dagster shows where
    they come from, never their values.
    """

    mtproto_enabled: bool = Field(default=False, description="MTPROTO_ENABLED")
    stats_enabled: bool = Field(default=False, description="MTPROTO_STATS_ENABLED")
    api_id: str | None = Field(default=None, description="TG_API_ID")
    api_hash: str | None = Field(default=None, description="TG_API_HASH (secret)")
    session: str | None = Field(default=None, description="TG_SESSION: a StringSession (secret)")
    replay_dir: str | None = Field(
        default=None,
        description="TGSTATS_TELEGRAM_REPLAY: a scenario folder for the offline Telegram",
    )
    replay_log: str | None = Field(default=None, description="TGSTATS_REPLAY_LOG")
    concurrency: int = Field(default=3, description="MTPROTO_STATS_CONCURRENCY: peers at once")
    flood_sleep_threshold: int = Field(
        default=60, description="flood waits up to this many seconds are slept, longer ones retried"
    )
    snapshot_max_age_hours: int = Field(
        default=6, description="a stored snapshot younger than this is reused instead of fetched"
    )

    _stats = PrivateAttr(default=None)

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
            mtproto_enabled=settings.mtproto_enabled,
            stats_enabled=settings.stats_enabled,
            replay_dir=str(settings.replay_dir) if settings.replay_dir else None,
            replay_log=str(settings.replay_log) if settings.replay_log else None,
            concurrency=settings.concurrency,
            flood_sleep_threshold=settings.flood_sleep_threshold,
            snapshot_max_age_hours=int(settings.snapshot_max_age / timedelta(hours=1)),
            **secrets,
        )

    def to_settings(self) -> Settings:
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
            snapshot_max_age=timedelta(hours=self.snapshot_max_age_hours),
        )

    @property
    def disabled_reason(self) -> str | None:
        return self.to_settings().disabled_reason

    @property
    def snapshot_max_age(self) -> timedelta:
        return timedelta(hours=self.snapshot_max_age_hours)

    @asynccontextmanager
    async def yield_for_execution(
        self, context: dg.InitResourceContext
    ) -> AsyncIterator[TelegramResource]:
        settings = self.to_settings()
        if not settings.enabled:
            yield self
            return
        async with open_client(settings) as client:
            self._stats = StatsClient(
                client,
                flood_sleep_threshold=settings.flood_sleep_threshold,
                concurrency=settings.concurrency,
            )
            try:
                yield self
            finally:
                self._stats = None

    @property
    def stats(self) -> StatsClient:
        if self._stats is None:
            raise dg.Failure(self.disabled_reason or "the Telegram client is not connected")
        return self._stats


class WarehouseResource(dg.ConfigurableResource):
    """The PostgreSQL warehouse, for reads the assets make (known peers, stored snapshots)."""

    database_url: str = Field(description="TGSTATS_DATABASE_URL, or the embedded server's")

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        ensure_schema(self.database_url)

    @property
    def engine(self) -> Engine:
        return make_engine(self.database_url)

    def known_peer(self, peer_key: str) -> dict | None:
        return snapshots.known_peer(self.engine, peer_key)

    def latest_snapshot(self, peer_key: str, newer_than: datetime) -> pd.DataFrame | None:
        return snapshots.latest_snapshot(self.engine, peer_key, newer_than)

    def store_snapshot(self, frame: pd.DataFrame) -> None:
        """Keep a fetched snapshot at once (write-once), so that no later failure wastes it."""
        snapshots.store_snapshot(self.engine, frame)
