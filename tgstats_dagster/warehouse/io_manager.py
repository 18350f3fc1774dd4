"""WarehouseIOManager: asset outputs -> warehouse tables, by each table's write rule.

Which table an asset writes, and how, is declared once: ``ASSET_TABLES`` here and the
table's ``WriteRule`` in :mod:`upsert` (its key, what counts as unchanged). An output is a
DataFrame, or an iterator of DataFrames that is written batch by batch (one transaction
each), so a run over many peers never holds all its rows. Partitions are read only through
``context.asset_partition_keys`` (the key range APIs fail on selections that span several
peers and several days). Run totals go to the run's log, never onto every partition's
materialization.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any

import dagster as dg
import pandas as pd
import sqlalchemy as sa
from dagster._core.definitions.partitions.subset.default import DefaultPartitionsSubset

from tgstats_dagster.partitions import PeerDay
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.errors import WarehouseDataError
from tgstats_dagster.warehouse.migrations import ensure_schema
from tgstats_dagster.warehouse.resource import WarehouseResource
from tgstats_dagster.warehouse.tables import TABLES
from tgstats_dagster.warehouse.upsert import WriteCounts, write, write_transaction

#: A streamed output is written in transactions of about this many rows: few enough
#: transactions to be cheap, few enough rows to keep a run's memory flat.
BATCH_ROWS = 50_000
#: asset name -> the table its output is written to.
ASSET_TABLES = {
    "telegram_peers": "telegram_peers",
    "channel_daily": "channel_daily",
    "stats_figures": "stats_figures",
    "post_interactions": "post_interactions",
    "megagroup_tops": "megagroup_tops",
}


def table_metadata(table: str) -> dict[str, Any]:
    """Definition metadata of an asset stored in ``table``: its name and columns in the UI."""
    return {"dagster/table_name": table, "dagster/column_schema": column_schema(TABLES[table])}


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
    if name not in ASSET_TABLES:
        raise WarehouseDataError(
            f"asset {asset_key.to_user_string()!r}: the warehouse stores "
            f"{', '.join(ASSET_TABLES)} only"
        )
    return ASSET_TABLES[name]


def _batches(obj: object) -> Iterator[pd.DataFrame]:
    """The output as DataFrames of about ``BATCH_ROWS`` rows (small frames are joined)."""
    if isinstance(obj, pd.DataFrame):
        yield obj
        return
    if isinstance(obj, Iterable) and not isinstance(obj, str | bytes | dict):
        pending: list[pd.DataFrame] = []
        rows = 0
        for batch in obj:
            if not isinstance(batch, pd.DataFrame):
                raise WarehouseDataError(
                    f"the warehouse stores pandas DataFrames, got a batch of {type(batch).__name__}"
                )
            pending.append(batch)
            rows += len(batch)
            if rows >= BATCH_ROWS:
                yield _joined(pending)
                pending, rows = [], 0
        if pending:
            yield _joined(pending)
        return
    raise WarehouseDataError(
        f"the warehouse stores a pandas DataFrame or an iterator of them, got {type(obj).__name__}"
    )


def _joined(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [frame for frame in frames if len(frame)] or frames[:1]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def _partition_pairs(keys: list[str]) -> set[tuple[str, date]]:
    try:
        return {(pair.peer, pair.day) for pair in map(PeerDay.of, keys)}
    except (ValueError, KeyError) as exc:
        raise WarehouseDataError(f"expected peer x date partition keys: {exc}") from None


def _check_within(frame: pd.DataFrame, keys: list[str] | None, table: str) -> None:
    """Refuse rows outside the output's partitions (they would be written unaccounted for).

    A snapshot's figures are keyed by snapshot, not by partition: those tables have neither
    ``day`` nor ``peer_key``, and the rows of one snapshot serve every day it covers.
    """
    if keys is None or frame.empty or "peer_key" not in frame.columns:
        return
    if "day" in frame.columns:
        wanted = _partition_pairs(keys)
        for peer, day in frame[["peer_key", "day"]].drop_duplicates().itertuples(index=False):
            if (peer, pd.Timestamp(day).date()) not in wanted:
                raise WarehouseDataError(
                    f"{table}: rows for peer {peer!r} on {pd.Timestamp(day).date()} are outside "
                    "the partitions being materialized"
                )
        return
    outside = sorted(set(frame["peer_key"]) - set(keys))
    if outside:
        raise WarehouseDataError(
            f"{table}: rows for peer(s) {', '.join(outside)} are outside the partitions "
            "being materialized"
        )


class _SortedPartitionsSubset(DefaultPartitionsSubset):
    """A partition subset whose keys come out sorted: for ``date|peer`` keys, oldest day first."""

    def get_partition_keys(self) -> list[str]:
        return sorted(self.subset)


def _newest_day_last(context: dg.OutputContext) -> None:
    """Make Dagster write a ranged output's materializations oldest day first.

    Dagster writes one materialization per partition of the output, in the order of the
    output's partition subset. For a range of peers and days that subset is a set, so the
    asset's "Latest materialization" in the UI would be a day picked by string hashing, not
    the newest day. Dagster offers no public way to set this order, so the subset that the
    same context hands to the event writer, after this method returns, is swapped for a sorted
    one. A test pins this behaviour, so a Dagster release that changes it is noticed.
    """
    subset = getattr(context, "_asset_partitions_subset", None)
    if type(subset) is DefaultPartitionsSubset:
        context._asset_partitions_subset = _SortedPartitionsSubset(set(subset.subset))


class WarehouseIOManager(dg.ConfigurableIOManager):
    """Stores the assets' tables in the warehouse, idempotently; loads them back as
    DataFrames for downstream assets."""

    warehouse: WarehouseResource

    def _engine(self) -> sa.Engine:
        url = self.warehouse.url
        ensure_schema(url)
        return make_engine(url)

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        table = _table_of(context.asset_key)
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else None
        _newest_day_last(context)
        engine = self._engine()
        total = WriteCounts()
        batches = 0
        for frame in _batches(obj):
            _check_within(frame, keys, table)
            with write_transaction(engine) as connection:
                total += write(connection, table, frame)
            batches += 1
        context.log.info(
            f"{table}: {total.inserted} row(s) inserted, {total.updated} updated, "
            f"{total.unchanged} unchanged, in {batches} transaction(s)"
        )

    def load_input(self, context: dg.InputContext) -> pd.DataFrame:
        """The rows of the input's partitions: a peer's entity; a peer x day's rows; for a
        snapshot's figures (by stats peer), the rows of every stored snapshot of those peers."""
        table = TABLES[_table_of(context.asset_key)]
        keys = list(context.asset_partition_keys) if context.has_asset_partitions else None
        with self._engine().connect() as connection:
            if keys is None:
                return _select(connection, table)
            if "day" in table.c:
                return _rows_of_days(connection, table, _partition_pairs(keys))
            if "peer_key" in table.c:
                return _select(connection, table, table.c.peer_key.in_(keys))
            snapshots = TABLES["stats_snapshots"]
            of_peers = sa.select(snapshots.c.channel_id, snapshots.c.fetched_at).where(
                snapshots.c.peer_key.in_(keys)
            )
            columns = sa.tuple_(table.c.channel_id, table.c.fetched_at)
            return _select(connection, table, columns.in_(of_peers))


def _select(
    connection: sa.Connection, table: sa.Table, *where: sa.ColumnElement[bool]
) -> pd.DataFrame:
    rows = connection.execute(sa.select(table).where(*where)).all()
    return pd.DataFrame([tuple(row) for row in rows], columns=[c.name for c in table.columns])


def _rows_of_days(
    connection: sa.Connection, table: sa.Table, pairs: set[tuple[str, date]]
) -> pd.DataFrame:
    """The rows of these (peer, day) pairs: selected by peers and the days' span (one short
    query for any number of partitions), then exactly."""
    days = [day for _, day in pairs]
    frame = _select(
        connection,
        table,
        table.c.peer_key.in_(sorted({peer for peer, _ in pairs})),
        table.c.day.between(min(days), max(days)),
    )
    wanted = [(peer, day) in pairs for peer, day in zip(frame.peer_key, frame.day, strict=True)]
    return frame.loc[pd.Series(wanted, index=frame.index, dtype=bool)].reset_index(drop=True)
