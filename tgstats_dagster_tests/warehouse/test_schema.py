"""Migrations: up on an empty database, idempotent, in their own version table, = tables.py.

Also: 0002 converts the rows a 0001 database holds.
"""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tgstats_dagster.warehouse import migrations
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.migrations import ensure_schema
from tgstats_dagster.warehouse.server import libpq_url
from tgstats_dagster.warehouse.tables import metadata
from tgstats_dagster_tests.warehouse.helpers import upgrade_to

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
        "channel_daily",
        "stats_figures",
        "post_interactions",
        "megagroup_tops",
        "channel_hourly",
        "posts",
        "post_stats",
        "post_timeline",
        "post_forwards",
        "revenue_status",
        "content_raw",
        "tgstats_alembic_version",
    }
    with make_engine(database_url).connect() as connection:
        assert migrations.current_revision(connection) == migrations.head_revision()
        version = connection.exec_driver_sql("SELECT version_num FROM tgstats_alembic_version")
        assert version.scalar_one() == migrations.head_revision()


def _differences_from_tables(url: str) -> list:
    """What Alembic's autogenerate finds between the database and tables.py."""
    with make_engine(url).connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"version_table": migrations.VERSION_TABLE, "compare_server_default": True},
        )
        return compare_metadata(context, metadata)


def test_migrated_schema_matches_the_table_definitions(database_url: str) -> None:
    migrations.upgrade(database_url)
    assert _differences_from_tables(database_url) == []


def test_migrated_keys_and_checks_match_the_table_definitions(database_url: str) -> None:
    """What autogenerate does not compare: primary keys and check constraints."""
    migrations.upgrade(database_url)
    with make_engine(database_url).connect() as connection:
        inspector = sa.inspect(connection)
        for table in metadata.sorted_tables:
            stored = inspector.get_pk_constraint(table.name)
            assert stored["name"] == table.primary_key.name
            assert stored["constrained_columns"] == [c.name for c in table.primary_key.columns]
            checks = {c["name"]: c["sqltext"] for c in inspector.get_check_constraints(table.name)}
            declared = {
                c.name: str(c.sqltext)
                for c in table.constraints
                if isinstance(c, sa.CheckConstraint)
            }
            assert set(checks) == set(declared), table.name
            for name, text in declared.items():
                # "kind IN ('a', 'b')": each value; any other condition: its text
                values = text.split("(")[1].rstrip(")").split(", ") if " IN (" in text else [text]
                for value in values:
                    assert value in checks[name], (table.name, value)


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


AT = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
PEER_ORDER = (
    "channel_id, peer_key, access_hash, title, username, kind, can_view_stats, stats_dc,"
    " participants_count, updated_at"
)


def test_0002_converts_the_rows_of_a_0001_database(database_url: str) -> None:
    upgrade_to(database_url, "0001")
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "INSERT INTO telegram_peers VALUES"
            " ('alpha', 1001, 7, 'Alpha', 'alpha', 'broadcast', true, 4, 10, %s),"
            " ('-1001002', 1002, 8, 'Beta', NULL, 'megagroup', false, NULL, NULL, %s)",
            (AT, AT),
        )
        conn.execute(
            "INSERT INTO stats_snapshots VALUES (1001, %s, 'alpha', %s, %s, '{\"followers\": 1}')",
            (AT, AT, AT),
        )
        conn.execute(
            "INSERT INTO stats_raw VALUES (1001, 'growth_graph', %s, 'inline', '[1]', NULL, NULL),"
            " (1001, 'views_graph', %s, 'error', NULL, 'NOT_ENOUGH_DATA', NULL)",
            (AT, AT),
        )

    migrations.upgrade(database_url)

    with psycopg.connect(libpq_url(database_url)) as conn:
        peers = conn.execute(
            "SELECT channel_id, peer_key, title, can_view_stats FROM telegram_peers ORDER BY 1"
        ).fetchall()
        snapshot = conn.execute(
            "SELECT channel_id, peer_key, scalars, complete, missing_graphs FROM stats_snapshots"
        ).fetchall()
        raw = conn.execute(
            "SELECT graph, kind, data, data_raw, error FROM stats_raw ORDER BY graph"
        ).fetchall()
        # a second row may now carry an entry that already names another channel
        conn.execute(
            f"INSERT INTO telegram_peers ({PEER_ORDER}) VALUES"
            " (1003, 'alpha', 9, 'Gamma', 'alpha', 'broadcast', true, 4, 10, %s)",
            (AT,),
        )
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute(
                f"INSERT INTO telegram_peers ({PEER_ORDER}) VALUES"
                " (1001, 'other', 9, 'Again', NULL, 'broadcast', true, 4, 10, %s)",
                (AT,),
            )
    assert peers == [(1001, "alpha", "Alpha", True), (1002, "-1001002", "Beta", False)]
    assert snapshot == [(1001, "alpha", {"followers": 1}, True, [])]
    assert raw == [
        ("growth_graph", "inline", [1], None, None),
        ("views_graph", "error", None, None, "NOT_ENOUGH_DATA"),
    ]


def test_the_raw_kinds_are_checked(database_url: str) -> None:
    migrations.upgrade(database_url)
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "INSERT INTO stats_raw (channel_id, graph, fetched_at, kind, error)"
            " VALUES (1, 'growth_graph', %s, 'missing', 'connection lost')",
            (AT,),
        )
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO stats_raw (channel_id, graph, fetched_at, kind)"
                " VALUES (1, 'views_graph', %s, 'lost')",
                (AT,),
            )


def test_0002_downgrades_to_0001_and_upgrades_again(database_url: str) -> None:
    migrations.upgrade(database_url)
    config = migrations.alembic_config()
    with make_engine(database_url).begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0001")
    with make_engine(database_url).connect() as connection:
        assert migrations.current_revision(connection) == "0001"
    migrations.upgrade(database_url)
    assert _differences_from_tables(database_url) == []


def test_0004_downgrades_to_0003_and_upgrades_again(database_url: str) -> None:
    migrations.upgrade(database_url)
    config = migrations.alembic_config()
    with make_engine(database_url).begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    assert "posts" not in _tables(database_url)
    assert "channel_daily" in _tables(database_url)
    migrations.upgrade(database_url)
    assert _differences_from_tables(database_url) == []


def test_0005_drops_stats_raw_days_and_downgrades_to_0004(database_url: str) -> None:
    config = migrations.alembic_config()
    with make_engine(database_url).begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
        connection.exec_driver_sql(
            "INSERT INTO stats_raw_days VALUES ('chan', '2026-11-01', 1, '2026-11-02T00:00Z')"
        )
    migrations.upgrade(database_url)
    assert "stats_raw_days" not in _tables(database_url)
    with make_engine(database_url).begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0004")
    assert "stats_raw_days" in _tables(database_url)
    migrations.upgrade(database_url)
    assert _differences_from_tables(database_url) == []


def test_a_post_is_settled_only_when_its_statistics_are_complete(database_url: str) -> None:
    migrations.upgrade(database_url)
    with psycopg.connect(libpq_url(database_url)) as conn:
        conn.execute(
            "INSERT INTO post_stats (channel_id, kind, post_id, complete, settled, fetched_at)"
            " VALUES (1, 'message', 7, true, true, %s)",
            (AT,),
        )
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO post_stats (channel_id, kind, post_id, complete, settled, fetched_at)"
                " VALUES (1, 'message', 8, false, true, %s)",
                (AT,),
            )
