"""WarehouseIOManager through dagster.materialize: range runs over peers x days."""

import json
from datetime import date, timedelta

import dagster as dg
import pandas as pd
import pytest

from tgstats_dagster.warehouse.copy_format import WarehouseDataError
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.io_manager import WarehouseIOManager
from tgstats_dagster.warehouse.snapshots import (
    known_peer,
    latest_snapshot,
    peers_without_stats_rights,
    store_snapshot,
)
from tgstats_dagster.warehouse.upsert import WriteCounts
from tgstats_dagster_tests.warehouse.helpers import SNAPSHOT_AT, table_rows

pytestmark = pytest.mark.storage

PEERS = {"alpha": 1001, "beta": 1002, "gamma": 1003}
START = date(2026, 3, 1)
peer_partitions = dg.DynamicPartitionsDefinition(name="peer")
peer_days = dg.MultiPartitionsDefinition(
    {"date": dg.DailyPartitionsDefinition(start_date="2026-03-01"), "peer": peer_partitions}
)


def _pairs(keys: list[str]) -> list[tuple[str, date]]:
    parsed = [peer_days.get_partition_key_from_str(k).keys_by_dimension for k in keys]
    return [(p["peer"], date.fromisoformat(p["date"])) for p in parsed]


def _key(peer: str, day: date) -> str:
    return dg.MultiPartitionKey({"peer": peer, "date": day.isoformat()})


@dg.asset(partitions_def=peer_days, backfill_policy=dg.BackfillPolicy.single_run())
def channel_daily(context: dg.AssetExecutionContext) -> pd.DataFrame:
    rows = [
        {
            "peer_key": peer,
            "channel_id": PEERS[peer],
            "day": day,
            "metric": metric,
            "value": PEERS[peer] * 100 + day.day + (2**53 if metric == "big" else 0),
            "fetched_at": SNAPSHOT_AT,
        }
        for peer, day in _pairs(context.partition_keys)
        for metric in ("growth.total_followers", "big")
    ]
    return pd.DataFrame(rows)


def _raw_frame(peers: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "peer_key": peer,
                "channel_id": PEERS[peer],
                "fetched_at": SNAPSHOT_AT,
                "period_min": SNAPSHOT_AT - timedelta(days=30),
                "period_max": SNAPSHOT_AT,
                "scalars": json.dumps({"followers": {"current": PEERS[peer]}}),
                "graph": graph,
                "kind": "inline" if graph == "growth_graph" else "error",
                "data": json.dumps({"peer": peer}) if graph == "growth_graph" else None,
                "error": None if graph == "growth_graph" else "NOT_ENOUGH_DATA",
                "zoom_token": None,
            }
            for peer in peers
            for graph in ("growth_graph", "languages_graph")
        ]
    )


@dg.asset(partitions_def=peer_days, backfill_policy=dg.BackfillPolicy.single_run())
def stats_raw(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return _raw_frame(sorted({peer for peer, _ in _pairs(context.partition_keys)}))


@dg.asset(partitions_def=peer_partitions, backfill_policy=dg.BackfillPolicy.single_run())
def telegram_peers(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "peer_key": peer,
                "channel_id": PEERS[peer],
                "access_hash": -(2**63) + PEERS[peer],
                "title": f"The {peer} channel",
                "username": peer if peer != "gamma" else None,
                "kind": "broadcast" if peer != "gamma" else "megagroup",
                "can_view_stats": peer != "beta",
                "stats_dc": 4 if peer != "beta" else None,
                "participants_count": 10 * PEERS[peer],
                "updated_at": SNAPSHOT_AT,
            }
            for peer in context.partition_keys
        ]
    )


seen: dict[str, pd.DataFrame] = {}


@dg.asset(partitions_def=peer_days, backfill_policy=dg.BackfillPolicy.single_run())
def daily_reader(channel_daily: pd.DataFrame, stats_raw: pd.DataFrame) -> dg.MaterializeResult:
    seen["channel_daily"] = channel_daily
    seen["stats_raw"] = stats_raw
    return dg.MaterializeResult()


def _range_tags(first: str, last: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
    }


@pytest.fixture
def instance() -> dg.DagsterInstance:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("peer", list(PEERS))
        yield instance


def test_range_runs_across_peers_and_days(database_url: str, instance: dg.DagsterInstance) -> None:
    io_manager = WarehouseIOManager(database_url=database_url)
    last_day = START + timedelta(days=4)
    tags = _range_tags(_key("alpha", START), _key("gamma", last_day))

    result = dg.materialize(
        [channel_daily, stats_raw],
        instance=instance,
        resources={"io_manager": io_manager},
        tags=tags,
    )
    assert result.success
    rows = table_rows(database_url, "channel_daily", "channel_id, day, metric")
    assert len(rows) == 3 * 5 * 2
    big = {(r[0], r[1]): r[4] for r in rows if r[2] == "big"}
    assert big[(1003, last_day)] == 1003 * 100 + 5 + 2**53
    assert len(table_rows(database_url, "stats_raw_days", "peer_key, day")) == 15
    assert len(table_rows(database_url, "stats_raw", "channel_id, graph")) == 6

    metadata = result.asset_materializations_for_node("channel_daily")[0].metadata
    assert metadata["dagster/row_count"].value == 30  # the table's rows
    assert metadata["rows_written"].value == 30
    assert "dagster/partition_row_count" not in metadata  # not true of each of 15 partitions
    assert metadata["dagster/table_name"].value == "channel_daily"
    assert metadata["rows_inserted"].value == 30
    schema = metadata["dagster/column_schema"].value
    assert [c.name for c in schema.columns][:3] == ["channel_id", "day", "metric"]

    again = dg.materialize(
        [channel_daily, stats_raw],
        instance=instance,
        resources={"io_manager": io_manager},
        tags=tags,
    )
    metadata = again.asset_materializations_for_node("channel_daily")[0].metadata
    assert (metadata["rows_inserted"].value, metadata["rows_updated"].value) == (0, 0)
    assert metadata["rows_unchanged"].value == 30
    raw_metadata = again.asset_materializations_for_node("stats_raw")[0].metadata
    assert raw_metadata["rows_unchanged"].value == 6
    assert raw_metadata["raw_days_unchanged"].value == 15

    # downstream: beta..gamma x days 2..3 only
    result = dg.materialize(
        [daily_reader, channel_daily.to_source_asset(), stats_raw.to_source_asset()],
        instance=instance,
        resources={"io_manager": io_manager},
        selection=[daily_reader],
        tags=_range_tags(
            _key("beta", START + timedelta(days=1)), _key("gamma", START + timedelta(days=2))
        ),
    )
    assert result.success
    wanted = {(p, START + timedelta(days=d)) for p in ("beta", "gamma") for d in (1, 2)}
    daily = seen["channel_daily"]
    assert set(zip(daily["peer_key"], daily["day"], strict=True)) == wanted
    assert len(daily) == 8
    assert (daily.loc[daily["metric"] == "big", "value"] > 2**53).all()
    assert daily["value"].dtype == "int64"
    raw = seen["stats_raw"]
    assert set(zip(raw["peer_key"], raw["day"], strict=True)) == wanted
    assert len(raw) == 8
    assert list(raw.columns[:6]) == [
        "peer_key",
        "channel_id",
        "fetched_at",
        "period_min",
        "period_max",
        "scalars",
    ]
    growth = raw[(raw["graph"] == "growth_graph") & (raw["peer_key"] == "beta")]
    assert json.loads(growth["data"].iloc[0]) == {"peer": "beta"}


def test_peer_only_asset_and_read_api(database_url: str, instance: dg.DagsterInstance) -> None:
    io_manager = WarehouseIOManager(database_url=database_url)
    result = dg.materialize(
        [telegram_peers, stats_raw],
        instance=instance,
        resources={"io_manager": io_manager},
        selection=[telegram_peers],
        tags=_range_tags("alpha", "gamma"),
    )
    assert result.success
    engine = make_engine(database_url)
    beta = known_peer(engine, "beta")
    assert beta is not None
    assert beta["access_hash"] == -(2**63) + 1002
    assert type(beta["access_hash"]) is int
    assert beta["stats_dc"] is None
    assert beta["can_view_stats"] is False
    assert known_peer(engine, "nobody") is None
    assert peers_without_stats_rights(database_url) == {"beta"}

    assert store_snapshot(engine, _raw_frame(["gamma"])) == WriteCounts(inserted=2)
    assert store_snapshot(engine, _raw_frame(["gamma"])) == WriteCounts(unchanged=2)
    stored = latest_snapshot(engine, "gamma", SNAPSHOT_AT - timedelta(hours=1))
    assert stored is not None
    assert json.loads(stored["scalars"].iloc[0]) == {"followers": {"current": 1003}}

    assert latest_snapshot(engine, "alpha", SNAPSHOT_AT - timedelta(hours=1)) is None
    dg.materialize(
        [stats_raw],
        instance=instance,
        resources={"io_manager": io_manager},
        partition_key=_key("alpha", START),
    )
    snapshot = latest_snapshot(engine, "alpha", SNAPSHOT_AT - timedelta(hours=1))
    assert snapshot is not None
    assert snapshot["graph"].tolist() == ["growth_graph", "languages_graph"]
    assert snapshot["fetched_at"].iloc[0] == SNAPSHOT_AT
    assert latest_snapshot(engine, "alpha", SNAPSHOT_AT) is None


def test_empty_daily_frame_is_valid(database_url: str, instance: dg.DagsterInstance) -> None:
    @dg.asset(name="channel_daily", partitions_def=peer_days)
    def empty_daily() -> pd.DataFrame:
        return pd.DataFrame(
            columns=["peer_key", "channel_id", "day", "metric", "value", "fetched_at"]
        )

    result = dg.materialize(
        [empty_daily],
        instance=instance,
        resources={"io_manager": WarehouseIOManager(database_url=database_url)},
        partition_key=_key("alpha", START),
    )
    metadata = result.asset_materializations_for_node("channel_daily")[0].metadata
    assert metadata["dagster/row_count"].value == 0
    assert metadata["dagster/partition_row_count"].value == 0


def test_a_partition_whose_peer_has_no_snapshot_is_an_error(
    database_url: str, instance: dg.DagsterInstance
) -> None:
    @dg.asset(name="stats_raw", partitions_def=peer_days)
    def only_alpha() -> pd.DataFrame:
        return _raw_frame(["alpha"])

    with pytest.raises(WarehouseDataError, match="no snapshot for peer\\(s\\) beta"):
        dg.materialize(
            [only_alpha],
            instance=instance,
            resources={"io_manager": WarehouseIOManager(database_url=database_url)},
            tags=_range_tags(_key("alpha", START), _key("beta", START)),
        )
    assert table_rows(database_url, "stats_raw", "1") == []
