"""The embedded server: a clear error, naming the folder, when its folder is unusable."""

from __future__ import annotations

from pathlib import Path

import pytest

from tgstats_dagster.settings import Settings
from tgstats_dagster.warehouse.database import warehouse_url
from tgstats_dagster.warehouse.server import EmbeddedServerError, embedded_server_url


def test_a_file_where_the_home_folder_should_be(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder")
    with pytest.raises(
        EmbeddedServerError, match=f"cannot start the embedded PostgreSQL in {home}"
    ):
        embedded_server_url(home)


def test_a_data_folder_of_another_postgresql_version(tmp_path: Path) -> None:
    (tmp_path / "pgdata").mkdir()
    (tmp_path / "pgdata" / "PG_VERSION").write_text("9\n")
    with pytest.raises(EmbeddedServerError, match="TGSTATS_DATABASE_URL"):
        embedded_server_url(tmp_path)


def test_a_broken_data_folder(tmp_path: Path) -> None:
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("18\n")
    with pytest.raises(EmbeddedServerError, match=str(pgdata)):
        embedded_server_url(tmp_path)


def test_a_database_url_is_used_as_given(tmp_path: Path) -> None:
    url = "postgresql://warehouse@db.internal:5432/stats"
    assert warehouse_url(Settings(database_url=url, home=tmp_path / "unused")) == url
    assert not (tmp_path / "unused").exists()
