"""The upsert path: idempotence, exact numbers, refused batches, atomicity, concurrency."""

from __future__ import annotations

import threading
import time
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
import psycopg
import pytest

from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.errors import WarehouseDataError
from tgstats_dagster.warehouse.migrations import ensure_schema
from tgstats_dagster.warehouse.server import libpq_url
from tgstats_dagster.warehouse.upsert import WriteCounts, write, write_transaction
from tgstats_dagster_tests.warehouse.helpers import (
    SNAPSHOT_AT,
    daily_frame,
    table_rows,
)

pytestmark = pytest.mark.storage

PEERS = {"alpha": 1001, "beta": 1002}
DAY = date(2026, 3, 1)


def _write(url: str, table: str, frame: pd.DataFrame) -> WriteCounts:
    with write_transaction(make_engine(url)) as connection:
        return write(connection, table, frame)


def _xmins(url: str) -> dict[tuple, str]:
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute(
            "SELECT channel_id, day, metric, xmin::text FROM channel_daily"
        ).fetchall()
    return {row[:3]: row[3] for row in rows}


@pytest.fixture
def url(database_url: str) -> str:
    ensure_schema(database_url)
    return database_url


def test_an_unchanged_rerun_rewrites_no_row(url: str) -> None:
    frame = daily_frame(PEERS, DAY, days=5)
    assert _write(url, "channel_daily", frame) == WriteCounts(inserted=30)
    before_rows = table_rows(url, "channel_daily", "channel_id, day, metric")
    before_xmins = _xmins(url)

    assert _write(url, "channel_daily", frame) == WriteCounts(unchanged=30)

    assert table_rows(url, "channel_daily", "channel_id, day, metric") == before_rows
    assert _xmins(url) == before_xmins


def test_changed_and_new_rows_are_updated_and_inserted_in_place(url: str) -> None:
    _write(url, "channel_daily", daily_frame(PEERS, DAY, days=5))
    before = _xmins(url)
    later = SNAPSHOT_AT + timedelta(days=1)
    # days 3..7: days 3 and 4 overlap with changed values, days 5..7 are new
    counts = _write(
        url,
        "channel_daily",
        daily_frame(PEERS, DAY + timedelta(days=3), 5, offset=7, fetched_at=later),
    )
    assert counts == WriteCounts(inserted=18, updated=12)
    after = _xmins(url)
    assert len(after) == 48
    untouched = [k for k in before if k[1] < DAY + timedelta(days=3)]
    assert all(after[k] == before[k] for k in untouched)
    rows = {(r[0], r[1], r[2]): r for r in table_rows(url, "channel_daily", "1, 2, 3")}
    changed = rows[(1001, DAY + timedelta(days=3), "growth.m0")]
    assert changed[4] == Decimal(1 * 10_000 + 0 * 10 + 0 + 7)
    assert changed[5] == later  # the snapshot that wrote the current value


def test_an_older_snapshot_never_replaces_a_newer_one(url: str) -> None:
    later = SNAPSHOT_AT + timedelta(hours=1)
    _write(url, "channel_daily", daily_frame(PEERS, DAY, 2, fetched_at=later))
    counts = _write(url, "channel_daily", daily_frame(PEERS, DAY, 2, offset=5))
    assert counts == WriteCounts(unchanged=12)
    values = {r[4] for r in table_rows(url, "channel_daily", "1, 2, 3")}
    assert Decimal(1_0005) not in values


def test_integers_stay_exact_and_fractions_are_not_truncated(url: str) -> None:
    big = 2**53 + 1
    frame = pd.DataFrame(
        {
            "peer_key": "alpha",
            "channel_id": [2**62 + 1, 1001, 1001, 1001, 1001],
            "day": [DAY] * 5,
            "metric": ["a", "b", "c", "d", "e"],
            "value": pd.Series([big, 10**30, 0.1, Decimal("2.50"), None], dtype=object),
            "fetched_at": SNAPSHOT_AT,
        }
    )
    _write(url, "channel_daily", frame)
    stored = {r[2]: (r[0], r[4]) for r in table_rows(url, "channel_daily", "1, 2, 3")}
    assert stored["a"] == (2**62 + 1, Decimal(big))
    assert stored["b"][1] == Decimal(10**30)
    assert stored["c"][1] == Decimal("0.1")
    assert stored["d"][1] == Decimal("2.50")
    assert stored["e"][1] is None

    int_frame = frame.iloc[:1].assign(value=pd.Series([big], dtype="int64"), metric="f")
    _write(url, "channel_daily", int_frame)
    stored = {r[2]: r[4] for r in table_rows(url, "channel_daily", "1, 2, 3")}
    assert stored["f"] == Decimal(big)


def test_nan_is_refused_naming_the_column(url: str) -> None:
    frame = daily_frame(PEERS, DAY, 1).astype({"value": "float64"})
    frame.loc[2, "value"] = float("nan")
    with pytest.raises(WarehouseDataError, match=r"channel_daily: column 'value': NaN at row 2"):
        _write(url, "channel_daily", frame)
    assert table_rows(url, "channel_daily", "1") == []


def test_duplicate_keys_in_a_batch_are_refused_naming_the_key(url: str) -> None:
    frame = daily_frame(PEERS, DAY, 2)
    frame = pd.concat([frame, frame.iloc[[4]].assign(value=1)], ignore_index=True)
    with pytest.raises(
        WarehouseDataError,
        match=r"2 rows for the key \(channel_id=1001, day=2026-03-02, "
        r"metric='growth.m1'\)",
    ):
        _write(url, "channel_daily", frame)


def test_null_in_a_key_column_is_refused(url: str) -> None:
    frame = daily_frame(PEERS, DAY, 1).astype({"metric": object})
    frame.loc[0, "metric"] = None
    with pytest.raises(WarehouseDataError, match="column 'metric' may not be null"):
        _write(url, "channel_daily", frame)


def test_raw_rows_are_written_once_and_never_overwritten(url: str) -> None:
    raw = pd.DataFrame(
        {
            "channel_id": [1001, 1001],
            "graph": ["growth_graph", "views_graph"],
            "fetched_at": SNAPSHOT_AT,
            "kind": ["inline", "error"],
            "data": ['{"columns": [["x", 1]]}', None],
            "data_raw": [None, None],
            "error": [None, "NOT_ENOUGH_DATA"],
            "zoom_token": [None, None],
        }
    )
    assert _write(url, "stats_raw", raw) == WriteCounts(inserted=2)
    changed = raw.assign(data=['{"columns": []}', '{"x": 1}'], kind="inline")
    assert _write(url, "stats_raw", changed) == WriteCounts(unchanged=2)
    rows = table_rows(url, "stats_raw", "graph")
    assert [(r[3], r[4]) for r in rows] == [("inline", {"columns": [["x", 1]]}), ("error", None)]


def _slow_insert_trigger(url: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(
            "CREATE FUNCTION slow_down() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN PERFORM pg_sleep(30); RETURN NULL; END $$"
        )
        conn.execute(
            "CREATE TRIGGER slow_down BEFORE INSERT ON channel_daily"
            " FOR EACH STATEMENT EXECUTE FUNCTION slow_down()"
        )


def _terminate_the_sleeping_writer(url: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        for _ in range(200):
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event = 'PgSleep'"
            ).fetchone()
            if row:
                conn.execute("SELECT pg_terminate_backend(%s)", (row[0],))
                return
            time.sleep(0.05)
    raise AssertionError("the writer never reached the slow trigger")


@pytest.mark.parametrize("path", ["copy straight in", "stage and merge"])
def test_a_dropped_connection_mid_write_leaves_the_old_rows(url: str, path: str) -> None:
    old = daily_frame({"alpha": 1001}, DAY, 3)
    _write(url, "channel_daily", old)
    before = table_rows(url, "channel_daily", "1, 2, 3")
    if path == "copy straight in":
        new = daily_frame({"beta": 1002}, DAY, 3)
    else:
        new = daily_frame({"alpha": 1001, "beta": 1002}, DAY, 4, offset=3)
    _slow_insert_trigger(url)
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            _write(url, "channel_daily", new)
        except psycopg.OperationalError as exc:
            failures.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    _terminate_the_sleeping_writer(url)
    thread.join(timeout=60)

    assert len(failures) == 1
    assert table_rows(url, "channel_daily", "1, 2, 3") == before
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("DROP TRIGGER slow_down ON channel_daily")
    counts = _write(url, "channel_daily", new)
    assert counts.inserted + counts.updated > 0
    assert len(table_rows(url, "channel_daily", "1, 2, 3")) == len(
        pd.concat([old, new]).drop_duplicates(["channel_id", "day", "metric"])
    )


def test_two_writers_on_overlapping_partitions_serialize(url: str) -> None:
    peers = {"alpha": 1001, "beta": 1002, "gamma": 1003}
    for round_ in range(4):
        base = DAY + timedelta(days=10 * round_)
        first = daily_frame(peers, base, 6, metrics=20, offset=1)
        second = daily_frame(
            dict(reversed(peers.items())), base + timedelta(days=2), 6, 20, offset=2
        )
        second = second.sample(frac=1, random_state=round_).reset_index(drop=True)
        barrier = threading.Barrier(2)
        errors: list[BaseException] = []

        def run(
            frame: pd.DataFrame,
            barrier: threading.Barrier = barrier,
            errors: list[BaseException] = errors,
        ) -> None:
            barrier.wait()
            try:
                _write(url, "channel_daily", frame)
            except BaseException as exc:  # collected and asserted below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(f,)) for f in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []

        def expected(*frames: pd.DataFrame) -> dict[tuple, Decimal]:
            merged = pd.concat(frames).drop_duplicates(["channel_id", "day", "metric"], keep="last")
            return {
                (r.channel_id, r.day, r.metric): Decimal(int(r.value)) for r in merged.itertuples()
            }

        stored = {
            (r[0], r[1], r[2]): r[4]
            for r in table_rows(url, "channel_daily", "1, 2, 3")
            if base <= r[1] < base + timedelta(days=10)
        }
        assert len(stored) == 3 * 8 * 20
        assert stored in (expected(first, second), expected(second, first))


def test_a_naive_timestamp_is_refused_naming_the_column(url: str) -> None:
    frame = daily_frame(PEERS, DAY, 1).assign(fetched_at=SNAPSHOT_AT.replace(tzinfo=None))
    with pytest.raises(
        WarehouseDataError, match=r"channel_daily: column 'fetched_at': .* has no time zone"
    ):
        _write(url, "channel_daily", frame)


def test_a_fraction_in_an_integer_column_is_refused(url: str) -> None:
    frame = daily_frame(PEERS, DAY, 1).assign(channel_id=1001.5)
    with pytest.raises(WarehouseDataError, match=r"column 'channel_id': 1001.5 is not a whole"):
        _write(url, "channel_daily", frame)
