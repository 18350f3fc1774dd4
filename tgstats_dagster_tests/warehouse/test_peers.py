"""telegram_peers on a real PostgreSQL: a peer is its channel, whatever entry names it.

Rows are written as the IO manager writes them (the table's write rule), read by PeerStore.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.migrations import ensure_schema
from tgstats_dagster.warehouse.peers import PEER_COLUMNS, PeerStore
from tgstats_dagster.warehouse.upsert import WriteCounts, write, write_transaction
from tgstats_dagster_tests.warehouse.helpers import SNAPSHOT_AT, table_rows

pytestmark = pytest.mark.storage

LATER = SNAPSHOT_AT + timedelta(hours=1)


def _peer(peer_key: str, channel_id: int, username: str | None, **changes: object) -> dict:
    row = {
        "peer_key": peer_key,
        "channel_id": channel_id,
        "access_hash": -(2**62) + channel_id,
        "title": f"Channel {channel_id}",
        "username": username,
        "kind": "broadcast",
        "can_view_stats": True,
        "stats_dc": 4,
        "participants_count": 1500,
        "updated_at": SNAPSHOT_AT,
    }
    return {**row, **changes}


def _frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=PEER_COLUMNS).astype(
        {"stats_dc": "Int64", "participants_count": "Int64"}
    )


class _Store(PeerStore):
    """PeerStore, plus writing rows as the IO manager does."""

    def upsert(self, frame: pd.DataFrame) -> WriteCounts:
        with write_transaction(self._engine) as connection:
            return write(connection, "telegram_peers", frame)


@pytest.fixture
def store(database_url: str) -> _Store:
    ensure_schema(database_url)
    return _Store(make_engine(database_url))


def test_an_unchanged_rerun_rewrites_no_row(store: _Store, database_url: str) -> None:
    frame = _frame(_peer("alpha", 1001, "Alpha"), _peer("beta", 1002, None, stats_dc=None))
    assert store.upsert(frame) == WriteCounts(inserted=2)
    before = table_rows(database_url, "telegram_peers", "channel_id")
    assert store.upsert(frame.assign(updated_at=LATER)) == WriteCounts(unchanged=2)
    assert table_rows(database_url, "telegram_peers", "channel_id") == before


def test_switching_an_entry_to_the_numeric_id_reuses_the_row(
    store: _Store, database_url: str
) -> None:
    store.upsert(_frame(_peer("alpha", 1001, "alpha")))
    counts = store.upsert(_frame(_peer("-1001001", 1001, "alpha", updated_at=LATER)))
    assert counts == WriteCounts(updated=1)
    rows = table_rows(database_url, "telegram_peers", "channel_id")
    assert [(r[0], r[1]) for r in rows] == [("-1001001", 1001)]
    assert set(store.known(["alpha", "-1001001", "1001"])) == {"alpha", "-1001001", "1001"}


def test_a_renamed_username_reuses_the_row(store: _Store, database_url: str) -> None:
    store.upsert(_frame(_peer("oldname", 1001, "OldName")))
    store.upsert(_frame(_peer("newname", 1001, "NewName", title="Renamed", updated_at=LATER)))
    rows = table_rows(database_url, "telegram_peers", "channel_id")
    assert len(rows) == 1
    known = store.known(["newname", "oldname"])
    assert known["newname"]["title"] == "Renamed"
    assert "oldname" not in known  # the old name may belong to another channel by now


def test_known_rows_have_python_types(store: _Store) -> None:
    store.upsert(_frame(_peer("alpha", 1001, "Alpha", stats_dc=None)))
    row = store.known(["alpha"])["alpha"]
    assert row == _peer("alpha", 1001, "Alpha", stats_dc=None)
    assert type(row["channel_id"]) is int and type(row["participants_count"]) is int
    assert type(row["can_view_stats"]) is bool
    assert store.known(["Alpha", "-1001001", "nobody", "-1009999"]).keys() == {"Alpha", "-1001001"}


def test_known_prefers_the_channel_id_then_the_entry_then_the_username(store: _Store) -> None:
    store.upsert(
        _frame(
            _peer("1002", 1001, "first"),  # an entry that looks like the id of another channel
            _peer("second", 1002, "first_old"),
            _peer("third", 1003, "second"),  # its username is another row's entry
        )
    )
    known = store.known(["1002", "second", "first"])
    assert known["1002"]["channel_id"] == 1002
    assert known["second"]["channel_id"] == 1002
    assert known["first"]["channel_id"] == 1001


def test_an_entry_that_moved_to_another_channel_names_the_newest(store: _Store) -> None:
    store.upsert(_frame(_peer("alpha", 1001, None)))
    store.upsert(_frame(_peer("alpha", 1002, "alpha", updated_at=LATER)))
    assert store.known(["alpha"])["alpha"]["channel_id"] == 1002
