"""The warehouse database: its URL and engines."""

from __future__ import annotations

import functools

import sqlalchemy as sa

from tgstats_dagster.settings import Settings
from tgstats_dagster.warehouse.server import embedded_server_url, with_driver


def warehouse_url(settings: Settings) -> str:
    """``TGSTATS_DATABASE_URL``, or the embedded server's under ``TGSTATS_HOME`` (plain URL)."""
    if settings.database_url:
        return settings.database_url
    return embedded_server_url(settings.home)


@functools.cache
def make_engine(url: str) -> sa.Engine:
    """One engine per URL per process, on psycopg 3 (which the COPY path needs)."""
    return sa.create_engine(with_driver(url, "psycopg"), pool_pre_ping=True)
