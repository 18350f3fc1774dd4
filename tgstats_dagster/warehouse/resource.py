"""The warehouse as a Dagster resource: the embedded PostgreSQL starts when first used."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import sqlalchemy as sa
from pydantic import Field

from tgstats_dagster.warehouse.content import ContentStore
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.migrations import ensure_schema
from tgstats_dagster.warehouse.peers import PeerStore
from tgstats_dagster.warehouse.server import embedded_server_url
from tgstats_dagster.warehouse.snapshots import SnapshotStore


class WarehouseResource(dg.ConfigurableResource):
    """The PostgreSQL warehouse: ``TGSTATS_DATABASE_URL``, or an embedded server under
    ``TGSTATS_HOME`` started (or joined) when a run, sensor or schedule first uses it."""

    database_url: str | None = Field(
        default=None, description="TGSTATS_DATABASE_URL (unset: the embedded PostgreSQL)"
    )
    home: str = Field(default=".tgstats", description="TGSTATS_HOME: the embedded server's files")

    @property
    def url(self) -> str:
        return self.database_url or embedded_server_url(Path(self.home))

    @property
    def engine(self) -> sa.Engine:
        url = self.url
        ensure_schema(url)
        return make_engine(url)

    @property
    def snapshots(self) -> SnapshotStore:
        return SnapshotStore(self.engine)

    @property
    def peers(self) -> PeerStore:
        return PeerStore(self.engine)

    @property
    def content(self) -> ContentStore:
        return ContentStore(self.engine)
