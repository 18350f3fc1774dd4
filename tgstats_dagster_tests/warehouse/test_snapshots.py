"""SnapshotStore on a real PostgreSQL: write once, complete or not, every payload kept."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import psycopg
import pytest

from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.errors import WarehouseDataError
from tgstats_dagster.warehouse.migrations import ensure_schema
from tgstats_dagster.warehouse.server import libpq_url
from tgstats_dagster.warehouse.snapshots import SnapshotStore, StoredGraph, StoredSnapshot
from tgstats_dagster_tests.warehouse.helpers import SNAPSHOT_AT, table_rows

pytestmark = pytest.mark.storage

CHANNEL = 1001
GROWTH = '{"columns": [["x", 1741564800000], ["y0", 5]], "types": {"x": "x", "y0": "line"}}'
UNSTORABLE = {
    "nul_escape": '{"names": {"y0": "a\\u0000b"}}',
    "lone_surrogate_escape": '{"names": {"y0": "\\ud800"}}',
    "nan": '{"columns": [["y0", NaN]]}',
    "deep": "[" * 1000 + "]" * 1000,
    "not_json": "<html>502 Bad Gateway</html>",
    "raw_nul": '{"names": {"y0": "a\x00b"}}',
    "raw_lone_surrogate": '{"names": {"y0": "\udc80"}}',
}


def _snapshot(
    graphs: tuple[StoredGraph, ...], fetched_at: datetime = SNAPSHOT_AT
) -> StoredSnapshot:
    return StoredSnapshot(
        channel_id=CHANNEL,
        peer_key="alpha",
        fetched_at=fetched_at,
        period_min=fetched_at - timedelta(days=30),
        period_max=fetched_at,
        scalars={"followers": {"current": 120, "previous": 100}},
        graphs=graphs,
    )


def _inline(graph: str, data: str) -> StoredGraph:
    return StoredGraph(graph=graph, kind="inline", data=data, error=None, zoom_token=None)


LOADED = (
    _inline("growth_graph", GROWTH),
    StoredGraph("languages_graph", "async", '{"columns": []}', None, "zoom-token"),
    StoredGraph("views_graph", "error", None, "NOT_ENOUGH_DATA", None),
)
MISSING = StoredGraph("followers_graph", "missing", None, "connection lost", None)


@pytest.fixture
def store(database_url: str) -> SnapshotStore:
    ensure_schema(database_url)
    return SnapshotStore(make_engine(database_url))


def test_put_twice_stores_once(store: SnapshotStore, database_url: str) -> None:
    snapshot = _snapshot(LOADED)
    assert store.put(snapshot) is True
    assert store.put(snapshot) is False
    assert store.put(_snapshot((_inline("growth_graph", "[2]"),))) is False
    assert len(table_rows(database_url, "stats_snapshots", "1, 2")) == 1
    raw = table_rows(database_url, "stats_raw", "graph")
    assert [row[1] for row in raw] == ["growth_graph", "languages_graph", "views_graph"]
    assert raw[0][4] == json.loads(GROWTH)


def test_get_returns_what_was_put(store: SnapshotStore) -> None:
    store.put(_snapshot(LOADED))
    got = store.get(CHANNEL, SNAPSHOT_AT)
    assert got.peer_key == "alpha"
    assert got.fetched_at == SNAPSHOT_AT and got.fetched_at.tzinfo == timezone.utc
    assert (got.period_min, got.period_max) == (SNAPSHOT_AT - timedelta(days=30), SNAPSHOT_AT)
    assert got.scalars == {"followers": {"current": 120, "previous": 100}}
    assert [(g.graph, g.kind, g.error, g.zoom_token) for g in got.graphs] == [
        (g.graph, g.kind, g.error, g.zoom_token) for g in LOADED
    ]
    assert [g.data and json.loads(g.data) for g in got.graphs] == [
        g.data and json.loads(g.data) for g in LOADED
    ]
    assert got.complete and got.missing_graphs == ()


def test_get_of_an_unknown_snapshot_raises(store: SnapshotStore) -> None:
    with pytest.raises(LookupError, match="no snapshot of channel 1001"):
        store.get(CHANNEL, SNAPSHOT_AT)


def test_an_incomplete_snapshot_is_stored_but_never_reused(
    store: SnapshotStore, database_url: str
) -> None:
    older = _snapshot(LOADED, SNAPSHOT_AT - timedelta(hours=2))
    newer = _snapshot((*LOADED, MISSING))
    assert not newer.complete and newer.missing_graphs == ("followers_graph",)
    store.put(older)
    store.put(newer)

    since = SNAPSHOT_AT - timedelta(days=1)
    assert store.latest_complete(CHANNEL, since) == store.get(CHANNEL, older.fetched_at)
    assert store.latest_complete(CHANNEL, older.fetched_at) is None
    stored = store.get(CHANNEL, SNAPSHOT_AT)
    assert not stored.complete and stored.missing_graphs == ("followers_graph",)
    with psycopg.connect(libpq_url(database_url)) as conn:
        flags = conn.execute(
            "SELECT complete, missing_graphs FROM stats_snapshots ORDER BY fetched_at"
        ).fetchall()
    assert flags == [(True, []), (False, ["followers_graph"])]


def test_latest_complete_takes_the_newest(store: SnapshotStore) -> None:
    for hours in (3, 1, 2):
        store.put(_snapshot(LOADED, SNAPSHOT_AT - timedelta(hours=hours)))
    latest = store.latest_complete(CHANNEL, SNAPSHOT_AT - timedelta(days=1))
    assert latest is not None and latest.fetched_at == SNAPSHOT_AT - timedelta(hours=1)
    assert store.latest_complete(CHANNEL + 1, SNAPSHOT_AT - timedelta(days=1)) is None


def test_payloads_jsonb_cannot_hold_are_kept_byte_for_byte(
    store: SnapshotStore, database_url: str
) -> None:
    graphs = (
        _inline("growth_graph", GROWTH),
        *(_inline(f"{name}_graph", payload) for name, payload in UNSTORABLE.items()),
    )
    assert store.put(_snapshot(graphs)) is True

    got = {g.graph: g.data for g in store.get(CHANNEL, SNAPSHOT_AT).graphs}
    for name, payload in UNSTORABLE.items():
        assert got[f"{name}_graph"] == payload, name
    assert json.loads(got["growth_graph"]) == json.loads(GROWTH)
    with psycopg.connect(libpq_url(database_url)) as conn:
        rows = conn.execute(
            "SELECT graph, data IS NOT NULL, data_raw FROM stats_raw ORDER BY graph"
        ).fetchall()
    stored = {graph: (as_jsonb, raw) for graph, as_jsonb, raw in rows}
    assert stored["growth_graph"] == (True, None)
    for name, payload in UNSTORABLE.items():
        assert stored[f"{name}_graph"] == (False, payload.encode("utf-8", "surrogatepass"))


def test_a_naive_time_is_refused(store: SnapshotStore) -> None:
    naive = _snapshot(LOADED, datetime(2026, 3, 10, 12, 0))
    with pytest.raises(WarehouseDataError, match=r"column 'fetched_at'.*no time zone"):
        store.put(naive)
    with pytest.raises(WarehouseDataError, match=r"newer_than .* no time zone"):
        store.latest_complete(CHANNEL, datetime(2026, 3, 10))


def test_an_unknown_graph_kind_is_refused() -> None:
    with pytest.raises(WarehouseDataError, match="kind 'lost' is not one of"):
        StoredGraph("growth_graph", "lost", None, None, None)
