"""Alembic environment: runs on the connection :func:`upgrade` passes in (online only)."""

from __future__ import annotations

from alembic import context

from tgstats_dagster.warehouse.migrations import VERSION_TABLE
from tgstats_dagster.warehouse.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    transaction_per_migration=False,
)
with context.begin_transaction():
    context.run_migrations()
