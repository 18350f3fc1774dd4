"""The Dagster instance's storage: PostgreSQL, named by ``TGSTATS_DAGSTER_PG_URL`` or else the
embedded server under ``TGSTATS_HOME``.

``dagster.yaml`` names this class, so the standard commands (``dagster dev``, ``dagster
definitions validate``, ``dg``) work in the repository root with no environment set, on the
same embedded database as ``tgstats``; a deployment sets ``TGSTATS_DAGSTER_PG_URL``. The URL is
read from the environment in every process, never written into the instance's config (it
may hold a password).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from dagster._core.storage.base_storage import DagsterStorage
from dagster._serdes import ConfigurableClassData
from dagster_postgres import (
    DagsterPostgresStorage,
    PostgresEventLogStorage,
    PostgresRunStorage,
    PostgresScheduleStorage,
)

PG_URL_VARIABLE = "TGSTATS_DAGSTER_PG_URL"


def instance_database_url() -> str:
    """``TGSTATS_DAGSTER_PG_URL``, or the embedded server's URL (psycopg2 driver, which
    Dagster's PostgreSQL storage needs)."""
    from tgstats_dagster.warehouse.server import embedded_server_url, with_driver

    configured = os.environ.get(PG_URL_VARIABLE, "").strip()
    if configured:
        return configured
    home = Path(os.environ.get("TGSTATS_HOME", "").strip() or ".tgstats")
    return with_driver(embedded_server_url(home), "psycopg2")


class _CheckedOnCheckout:
    """For Dagster's PostgreSQL storages: in the webserver, each keeps a connection open
    (Dagster's pool of one, not checked on checkout), so after the database server restarted
    the UI's next request on each storage failed on the dead connection (an error in the UI,
    HTTP 500 from its API). There, a connection is checked when it is checked out, and a dead
    one replaced by a new connection."""

    _engine: sa.Engine

    def optimize_for_webserver(
        self, statement_timeout: int, pool_recycle: int, max_overflow: int
    ) -> None:
        super().optimize_for_webserver(  # type: ignore[misc]
            statement_timeout=statement_timeout,
            pool_recycle=pool_recycle,
            max_overflow=max_overflow,
        )
        sa.event.listen(self._engine, "checkout", _ping_on_checkout)


class _RunStorage(_CheckedOnCheckout, PostgresRunStorage):
    pass


class _EventLogStorage(_CheckedOnCheckout, PostgresEventLogStorage):
    pass


class _ScheduleStorage(_CheckedOnCheckout, PostgresScheduleStorage):
    pass


def _ping_on_checkout(dbapi_connection: Any, connection_record: Any, proxy: Any) -> None:
    """A pool's checkout hook: a connection that does not answer is dropped (SQLAlchemy then
    checks out another, or connects anew)."""
    try:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("SELECT 1")
        finally:
            cursor.close()
    except Exception as exc:  # psycopg2's OperationalError, InterfaceError (closed), ...
        raise sa.exc.DisconnectionError(f"the database connection is gone: {exc}") from exc


class TgstatsStorage(DagsterPostgresStorage):
    """Dagster's own PostgreSQL storage, on the project's database; in the webserver, its
    connections survive a restart of the database server."""

    def __init__(self, postgres_url: str, inst_data: ConfigurableClassData | None = None) -> None:
        # DagsterPostgresStorage's constructor, with the storages above.
        self.postgres_url = postgres_url
        self.should_autocreate_tables = True
        self._inst_data = inst_data
        self._run_storage = _RunStorage(postgres_url, True)
        self._event_log_storage = _EventLogStorage(postgres_url, True)
        self._schedule_storage = _ScheduleStorage(postgres_url, True)
        DagsterStorage.__init__(self)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Any
    ) -> TgstatsStorage:
        return cls(postgres_url=instance_database_url(), inst_data=inst_data)

    @property
    def event_storage_data(self) -> None:
        return None

    @property
    def run_storage_data(self) -> None:
        return None

    @property
    def schedule_storage_data(self) -> None:
        return None
