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

from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage

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


class TgstatsStorage(DagsterPostgresStorage):
    """Dagster's own PostgreSQL storage, on the project's database."""

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
