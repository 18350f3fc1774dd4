"""WarehouseIOManager through dagster.materialize: range runs over peers x days, batches."""

from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pandas as pd
import pytest
import sqlalchemy as sa

from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.io_manager import WarehouseIOManager
from tgstats_dagster.warehouse.resource import WarehouseResource
from tgstats_dagster.warehouse.tables import TABLES
from tgstats_dagster_tests.warehouse.helpers import daily_frame, table_rows

pytestmark = pytest.mark.storage

PEERS = {"alpha": 1001, "beta": 1002, "gamma": 1003}
START = date(2026, 3, 1)
peer_days = dg.MultiPartitionsDefinition(
    {
        "date": dg.DailyPartitionsDefinition(start_date="2026-03-01"),
        "peer": dg.DynamicPartitionsDefinition(name="stats_peer"),
    }
)


def _pairs(context: dg.AssetExecutionContext) -> list[tuple[str, date]]:
    dims = [key.keys_by_dimension for key in context.partition_keys]
    return [(d["peer"], date.fromisoformat(d["date"])) for d in dims]


def _rows(pairs: list[tuple[str, date]], offset: int = 0) -> pd.DataFrame:
    frames = [daily_frame({p: PEERS[p]}, day, 1, offset=offset) for p, day in pairs]
    return pd.concat(frames, ignore_index=True)


def _io_manager(database_url: str) -> dict:
    warehouse = WarehouseResource(database_url=database_url)
    return {"io_manager": WarehouseIOManager(warehouse=warehouse), "warehouse": warehouse}


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("stats_peer", list(PEERS))
        yield instance


def _range(first: tuple[str, date], last: tuple[str, date]) -> dict[str, str]:
    def key(peer: str, day: date) -> str:
        return str(dg.MultiPartitionKey({"peer": peer, "date": day.isoformat()}))

    return {
        "dagster/asset_partition_range_start": key(*first),
        "dagster/asset_partition_range_end": key(*last),
    }


def test_a_stream_of_frames_is_written_in_batches(
    database_url: str, instance: dg.DagsterInstance
) -> None:
    written: list[int] = []

    @dg.asset(
        name="channel_daily",
        partitions_def=peer_days,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def channel_daily(context: dg.AssetExecutionContext):
        pairs = _pairs(context)

        def per_peer() -> Iterator[pd.DataFrame]:
            for peer in PEERS:
                batch = _rows([pair for pair in pairs if pair[0] == peer])
                written.append(len(batch))
                yield batch

        return dg.Output(per_peer())  # a generator must be wrapped, or Dagster iterates it

    last = START + timedelta(days=3)
    result = dg.materialize(
        [channel_daily],
        instance=instance,
        resources=_io_manager(database_url),
        tags=_range(("alpha", START), ("gamma", last)),
    )
    assert result.success
    assert written == [4 * 3, 4 * 3, 4 * 3]  # one peer's rows at a time
    rows = table_rows(database_url, "channel_daily", "channel_id, day, metric")
    assert len(rows) == 3 * 4 * 3
    assert len(instance.get_materialized_partitions(dg.AssetKey("channel_daily"))) == 12

    # Re-running the same values changes nothing; a changed value is updated in place.
    again = dg.materialize(
        [channel_daily],
        instance=instance,
        resources=_io_manager(database_url),
        tags=_range(("alpha", START), ("gamma", last)),
    )
    assert again.success
    assert table_rows(database_url, "channel_daily", "channel_id, day, metric") == rows


def test_rows_outside_the_partitions_are_refused_and_nothing_is_written(
    database_url: str, instance: dg.DagsterInstance
) -> None:
    @dg.asset(name="channel_daily", partitions_def=peer_days)
    def channel_daily(context: dg.AssetExecutionContext) -> pd.DataFrame:
        ((peer, day),) = _pairs(context)
        return _rows([(peer, day), (peer, day + timedelta(days=1))])

    result = dg.materialize(
        [channel_daily],
        instance=instance,
        resources=_io_manager(database_url),
        partition_key=str(dg.MultiPartitionKey({"peer": "alpha", "date": START.isoformat()})),
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "outside the partitions being materialized" in str(failure.step_failure_data.error)
    assert table_rows(database_url, "channel_daily", "channel_id") == []


def test_downstream_assets_load_the_partitions_they_ask_for(
    database_url: str, instance: dg.DagsterInstance
) -> None:
    @dg.asset(
        name="channel_daily",
        partitions_def=peer_days,
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def channel_daily(context: dg.AssetExecutionContext) -> pd.DataFrame:
        return _rows(_pairs(context))

    @dg.asset(partitions_def=peer_days, io_manager_key="mem")
    def weekly_report(channel_daily: pd.DataFrame) -> int:
        return len(channel_daily)

    resources = {**_io_manager(database_url), "mem": dg.InMemoryIOManager()}
    last = START + timedelta(days=1)
    assert dg.materialize(
        [channel_daily],
        instance=instance,
        resources=resources,
        tags=_range(("alpha", START), ("beta", last)),
    ).success
    key = str(dg.MultiPartitionKey({"peer": "beta", "date": last.isoformat()}))
    result = dg.materialize(
        [channel_daily.to_source_asset(), weekly_report],
        instance=instance,
        resources=resources,
        partition_key=key,
    )
    assert result.output_for_node("weekly_report") == 3  # one peer, one day, three metrics


def test_an_asset_the_warehouse_does_not_hold_is_refused(
    database_url: str, instance: dg.DagsterInstance
) -> None:
    @dg.asset
    def something_else() -> pd.DataFrame:
        return pd.DataFrame({"a": [1]})

    result = dg.materialize(
        [something_else],
        instance=instance,
        resources=_io_manager(database_url),
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    stored = "telegram_peers, channel_daily, stats_figures, post_interactions"
    assert f"the warehouse stores {stored}, megagroup_tops only" in str(
        failure.step_failure_data.error
    )


def test_a_snapshot_table_loads_the_rows_of_the_snapshots_of_its_peers(
    database_url: str, instance: dg.DagsterInstance
) -> None:
    """Rows keyed by snapshot, partitioned by stats peer: a downstream partition gets the rows
    of every stored snapshot of its peer."""
    older = datetime(2026, 3, 1, 8, tzinfo=timezone.utc)
    newer = older + timedelta(days=2)
    snapshots = [("alpha", older), ("alpha", newer), ("beta", newer)]
    by_peer = dg.StaticPartitionsDefinition(list(PEERS))

    @dg.asset(name="stats_figures", partitions_def=by_peer)
    def stats_figures(context: dg.AssetExecutionContext) -> pd.DataFrame:
        rows = [
            {
                "channel_id": PEERS[p],
                "fetched_at": t,
                "figure": "followers",
                "current": 1,
                "previous": None,
                "part": None,
                "total": None,
                "period_start": older,
                "period_end": t,
            }
            for p, t in snapshots
            if p == context.partition_key
        ]
        return pd.DataFrame(rows, columns=[c.name for c in TABLES["stats_figures"].columns])

    @dg.asset(partitions_def=by_peer, io_manager_key="mem")
    def report(stats_figures: pd.DataFrame) -> list[tuple[int, datetime]]:
        return sorted(zip(stats_figures.channel_id, stats_figures.fetched_at, strict=True))

    resources = {**_io_manager(database_url), "mem": dg.InMemoryIOManager()}
    for peer in ("alpha", "beta"):
        assert dg.materialize(
            [stats_figures], instance=instance, resources=resources, partition_key=peer
        ).success
    with make_engine(database_url).begin() as conn:
        for peer, fetched_at in snapshots:
            conn.execute(
                sa.text(
                    "INSERT INTO stats_snapshots (channel_id, fetched_at, peer_key, period_min,"
                    " period_max, scalars) VALUES (:c, :t, :p, :t, :t, '{}')"
                ),
                {"c": PEERS[peer], "t": fetched_at, "p": peer},
            )
    wanted = {
        "alpha": [(PEERS["alpha"], older), (PEERS["alpha"], newer)],
        "beta": [(PEERS["beta"], newer)],
        "gamma": [],  # no stored snapshot: no row
    }
    for peer, rows in wanted.items():
        result = dg.materialize(
            [stats_figures.to_source_asset(), report],
            instance=instance,
            resources=resources,
            partition_key=peer,
        )
        got = [
            (int(c), pd.Timestamp(t).to_pydatetime()) for c, t in result.output_for_node("report")
        ]
        assert got == rows, peer
