"""WarehouseIOManager: pandas DataFrames <-> the warehouse tables, partition-aware.

The table is the asset key's last path component. Partitions are read only through
``context.asset_partition_keys`` (``asset_partition_key_range`` fails on selections that
span several peers and several days): a peer x date key is parsed into its "peer" and
"date" dimensions, a peer-only key is the peer key itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa

from tgstats_dagster.warehouse import snapshots
from tgstats_dagster.warehouse.copy_format import WarehouseDataError
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.migrations import ensure_schema
from tgstats_dagster.warehouse.tables import TABLES
from tgstats_dagster.warehouse.upsert import WriteCounts, write, write_transaction

PEER_DAY_TABLES = ("stats_raw", "channel_daily")
PEER_TABLES = ("telegram_peers",)
PeerDay = tuple[str, date]


def peer_days(keys: Sequence[str], partitions_def: dg.PartitionsDefinition) -> list[PeerDay]:
    """Peer x date partition keys -> (peer_key, day) pairs, in the given order."""
    if not isinstance(partitions_def, dg.MultiPartitionsDefinition):
        raise WarehouseDataError("expected peer x date partitions (a MultiPartitionsDefinition)")
    pairs = []
    for key in keys:
        multi = (
            key
            if isinstance(key, dg.MultiPartitionKey)
            else partitions_def.get_partition_key_from_str(key)
        )
        dims = multi.keys_by_dimension
        if set(dims) != {"peer", "date"}:
            raise WarehouseDataError(f"partition {key!r}: expected dimensions 'peer' and 'date'")
        pairs.append((dims["peer"], date.fromisoformat(dims["date"])))
    return pairs


def column_schema(table: sa.Table) -> dg.TableSchema:
    """The table's columns as Dagster shows them on the asset page."""
    return dg.TableSchema(
        columns=[
            dg.TableColumn(
                name=column.name,
                type=str(column.type).lower(),
                constraints=dg.TableColumnConstraints(
                    nullable=column.nullable, unique=bool(column.unique)
                ),
            )
            for column in table.columns
        ]
    )


def _table_of(asset_key: dg.AssetKey) -> str:
    name = asset_key.path[-1]
    if name not in (*PEER_DAY_TABLES, *PEER_TABLES):
        raise WarehouseDataError(
            f"asset {asset_key.to_user_string()!r}: the warehouse holds telegram_peers, "
            "stats_raw and channel_daily only"
        )
    return name


def _as_day(value: Any) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value)
    return pd.Timestamp(value).date()


def _check_within(frame: pd.DataFrame, partitions: Sequence[PeerDay], table: str) -> None:
    """Refuse rows outside the output's partitions (they would be written unaccounted for)."""
    wanted = set(partitions)
    for peer, day in frame[["peer_key", "day"]].drop_duplicates().itertuples(index=False):
        if (peer, _as_day(day)) not in wanted:
            raise WarehouseDataError(
                f"{table}: rows for peer {peer!r} on {_as_day(day)} are outside the "
                "partitions being materialized"
            )


def _snapshot_days(snapshots: pd.DataFrame, partitions: Sequence[PeerDay]) -> pd.DataFrame:
    """stats_raw_days rows: every output partition -> the newest snapshot of its peer."""
    newest = snapshots.sort_values("fetched_at").groupby("peer_key", sort=False).last()
    missing = sorted({peer for peer, _ in partitions} - set(newest.index))
    if missing:
        raise WarehouseDataError(
            f"stats_raw: the DataFrame has no snapshot for peer(s) {', '.join(missing)}, "
            "whose partitions are being materialized"
        )
    peers = [peer for peer, _ in partitions]
    return pd.DataFrame(
        {
            "peer_key": peers,
            "day": [day for _, day in partitions],
            "channel_id": newest.loc[peers, "channel_id"].to_numpy(),
            "fetched_at": newest.loc[peers, "fetched_at"].to_numpy(),
        }
    )


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Stores telegram_peers, stats_raw and channel_daily in the warehouse (PostgreSQL)."""

    database_url: str

    def _engine(self) -> sa.Engine:
        ensure_schema(self.database_url)
        return make_engine(self.database_url)

    def handle_output(self, context: dg.OutputContext, obj: pd.DataFrame) -> None:
        if not isinstance(obj, pd.DataFrame):
            raise WarehouseDataError(
                f"the warehouse stores pandas DataFrames, got {type(obj).__name__}"
            )
        table = _table_of(context.asset_key)
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else None
        engine = self._engine()
        if table == "stats_raw":
            if keys is None:
                raise WarehouseDataError("stats_raw must be partitioned by peer x date")
            counts, extra = self._write_stats_raw(
                engine, obj, peer_days(keys, context.asset_partitions_def)
            )
        else:
            if keys is not None and table in PEER_DAY_TABLES:
                _check_within(obj, peer_days(keys, context.asset_partitions_def), table)
            elif keys is not None:
                outside = sorted(set(obj["peer_key"]) - set(keys))
                if outside:
                    raise WarehouseDataError(
                        f"{table}: rows for peer(s) {', '.join(outside)} are outside the "
                        "partitions being materialized"
                    )
            with write_transaction(engine) as connection:
                counts = write(connection, table, obj)
            extra = {}
        with engine.connect() as connection:
            table_rows = connection.execute(
                sa.select(sa.func.count()).select_from(TABLES[table])
            ).scalar_one()
        # The same metadata goes to every partition of the run: a per-partition count is
        # only true when the run wrote one partition.
        one_partition = {"dagster/partition_row_count": len(obj)} if len(keys or ()) == 1 else {}
        context.add_output_metadata(
            {
                "dagster/row_count": table_rows,
                **one_partition,
                "rows_written": len(obj),
                "dagster/table_name": table,
                "dagster/column_schema": column_schema(TABLES[table]),
                "rows_inserted": counts.inserted,
                "rows_updated": counts.updated,
                "rows_unchanged": counts.unchanged,
                "partitions": len(keys) if keys is not None else 0,
                **extra,
            }
        )

    @staticmethod
    def _write_stats_raw(
        engine: sa.Engine, frame: pd.DataFrame, partitions: list[PeerDay]
    ) -> tuple[WriteCounts, dict[str, int]]:
        stored = snapshots.snapshot_rows(frame)
        outside = sorted(set(frame["peer_key"]) - {peer for peer, _ in partitions})
        if outside:
            raise WarehouseDataError(
                f"stats_raw: rows for peer(s) {', '.join(outside)} are outside the partitions "
                "being materialized"
            )
        days = _snapshot_days(stored, partitions)
        with write_transaction(engine) as connection:
            snapshot_counts, counts = snapshots.write_snapshots(connection, frame, stored)
            day_counts = write(connection, "stats_raw_days", days)
        return counts, {
            "snapshots_inserted": snapshot_counts.inserted,
            "raw_days_inserted": day_counts.inserted,
            "raw_days_updated": day_counts.updated,
            "raw_days_unchanged": day_counts.unchanged,
        }

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        table = _table_of(context.asset_key)
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else None
        engine = self._engine()
        if table == "telegram_peers":
            return snapshots.peer_rows(engine, keys)
        partitions = peer_days(keys, context.asset_partitions_def) if keys is not None else None
        if table == "channel_daily":
            return snapshots.channel_daily_rows(engine, partitions)
        if partitions is None:
            raise WarehouseDataError("stats_raw must be partitioned by peer x date")
        return snapshots.stats_raw_rows(engine, partitions)
