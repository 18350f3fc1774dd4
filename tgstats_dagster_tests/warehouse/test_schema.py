"""Migrations: up on an empty database, idempotent, in their own version table, = tables.py."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tgstats_dagster.warehouse import migrations
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.migrations import ensure_schema
from tgstats_dagster.warehouse.tables import metadata

pytestmark = pytest.mark.storage


def _tables(url: str) -> set[str]:
    with make_engine(url).connect() as connection:
        rows = connection.exec_driver_sql(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).all()
    return {row[0] for row in rows}


def test_upgrade_creates_the_tables_and_its_own_version_table(database_url: str) -> None:
    migrations.upgrade(database_url)

    assert _tables(database_url) == {
        "telegram_peers",
        "stats_snapshots",
        "stats_raw",
        "stats_raw_days",
        "channel_daily",
        "tgstats_alembic_version",
    }
    with make_engine(database_url).connect() as connection:
        assert migrations.current_revision(connection) == migrations.head_revision()
        version = connection.exec_driver_sql("SELECT version_num FROM tgstats_alembic_version")
        assert version.scalar_one() == migrations.head_revision()


def test_migrated_schema_matches_the_table_definitions(database_url: str) -> None:
    migrations.upgrade(database_url)
    with make_engine(database_url).connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": migrations.VERSION_TABLE}
        )
        assert compare_metadata(context, metadata) == []


def test_ensure_schema_twice_is_a_no_op(database_url: str) -> None:
    ensure_schema(database_url)
    with make_engine(database_url).connect() as connection:
        before = connection.exec_driver_sql(
            "SELECT xmin::text FROM tgstats_alembic_version"
        ).scalar_one()
    ensure_schema(database_url)
    migrations.upgrade(database_url)
    with make_engine(database_url).connect() as connection:
        after = connection.exec_driver_sql(
            "SELECT xmin::text FROM tgstats_alembic_version"
        ).scalar_one()
    assert after == before


def test_dagster_alembic_version_table_is_left_alone(database_url: str) -> None:
    with make_engine(database_url).begin() as connection:
        connection.exec_driver_sql("CREATE TABLE alembic_version (version_num text PRIMARY KEY)")
        connection.exec_driver_sql("INSERT INTO alembic_version VALUES ('dagster_head')")
    migrations.upgrade(database_url)
    with make_engine(database_url).connect() as connection:
        rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    assert [row[0] for row in rows] == ["dagster_head"]


def test_concurrent_upgrades_wait_for_one_another(database_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            migrations.upgrade(database_url)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert "channel_daily" in _tables(database_url)
