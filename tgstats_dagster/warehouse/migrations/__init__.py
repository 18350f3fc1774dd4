"""Alembic migrations of the warehouse, run from code: no alembic.ini at the user's cwd.

Dagster's own PostgreSQL storage may share the database and keeps its revision in
``alembic_version``; ours lives in ``tgstats_alembic_version``. A transaction-scoped
advisory lock makes concurrent upgrades from several processes wait for one another.
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from tgstats_dagster.warehouse.database import make_engine

VERSION_TABLE = "tgstats_alembic_version"
# pg_advisory_xact_lock key taken around every upgrade (an arbitrary constant of this project).
UPGRADE_LOCK_KEY = 0x7467_5374_6174_7301

_HERE = Path(__file__).resolve().parent


def alembic_config() -> Config:
    """The Alembic configuration of the package's migrations."""
    config = Config()
    config.set_main_option("script_location", str(_HERE))
    return config


def head_revision() -> str:
    """The newest revision the package ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at (None before the first upgrade)."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(url: str) -> None:
    """Apply every pending migration to the database at ``url``, one process at a time."""
    config = alembic_config()
    with make_engine(url).begin() as connection:
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(UPGRADE_LOCK_KEY)))
        if current_revision(connection) == head_revision():
            return
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


_schema_ready: set[str] = set()
_schema_lock = threading.Lock()


def ensure_schema(url: str) -> None:
    """Bring the schema to the newest revision; cheap once it is (one query, then nothing)."""
    with _schema_lock:
        if url in _schema_ready:
            return
        with make_engine(url).connect() as connection:
            current = current_revision(connection)
        if current != head_revision():
            upgrade(url)
        _schema_ready.add(url)
