"""Writing DataFrames into the warehouse tables: one transaction per write, idempotent.

Per table a :class:`WriteRule` says what a write means:
- ``stats_raw``, ``stats_snapshots``, each snapshot's figures (``stats_figures``,
  ``post_interactions``, ``megagroup_tops``), ``content_raw`` and ``revenue_status`` (one
  row set per fetch) are written once: a key already stored is left as it is
  (``ON CONFLICT DO NOTHING``).
- the other tables are upserted: a stored row is rewritten only when one of the
  ``compare`` columns differs (``IS DISTINCT FROM``, so NULL counts as a value) and, where
  the rule names a ``newer`` column, only when the new row is from the same or a newer
  snapshot: an older snapshot never replaces a newer one. An unchanged re-run rewrites no
  row. ``channel_hourly``, ``posts``, ``post_stats``, ``post_timeline`` and ``post_forwards``
  work like ``channel_daily``: the newest fetch (``fetched_at``) wins. ``telegram_peers`` is
  keyed by ``channel_id``: the configured entry that names a channel (``peer_key``) is one
  of its values, so a new entry for a known channel updates its row.

Duplicate keys inside one batch are an error naming the key (there is no sensible
"last one wins" for two different values of one day). NULL in a nullable column is
stored as NULL: in ``channel_daily.value`` it means "no figure for that day in that
snapshot" and, like any value, replaces a stored figure; NaN is refused (see
:mod:`copy_rows`).

How a batch is written. Writers of a table take transaction-scoped advisory locks on the
batch's first key column values (``channel_id`` or ``peer_key``), in sorted order, so two
writers of overlapping partitions run one after the other and never deadlock. Under those
locks: when no stored row can share a key with the batch (checked per first-key value
over the batch's range of the second key column), the batch is COPied straight into the
table; otherwise it is COPied into a temporary table and merged with
``INSERT ... SELECT ... ORDER BY key ON CONFLICT``. Both paths are one transaction: a
dropped connection leaves the old rows.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pandas as pd
import psycopg
import sqlalchemy as sa
from psycopg import sql

from tgstats_dagster.warehouse.copy_rows import copy_rows, frame_values, sql_type
from tgstats_dagster.warehouse.errors import WarehouseDataError
from tgstats_dagster.warehouse.tables import TABLES


@dataclass(frozen=True)
class WriteRule:
    """What writing a batch into one table means."""

    key: tuple[str, ...]
    compare: tuple[str, ...] = ()
    """A stored row counts as changed when one of these differs."""
    carry: tuple[str, ...] = ()
    """Written along with a change, never compared."""
    stamp: str | None = None
    """Set to now() when a row changes (its default fills it on insert)."""
    newer: str | None = None
    """A change is taken only when this is >= the stored one."""
    once: bool = False
    """Written once, never overwritten."""

    def columns(self, table: sa.Table) -> list[str]:
        if self.once:
            return [c.name for c in table.columns]
        return [*self.key, *self.compare, *self.carry]


def _newest_wins(key: tuple[str, ...], compare: tuple[str, ...]) -> WriteRule:
    """An upsert where the newest fetch wins, stamped like ``channel_daily``."""
    return WriteRule(
        key=key, compare=compare, carry=("fetched_at",), stamp="updated_at", newer="fetched_at"
    )


RULES: dict[str, WriteRule] = {
    "telegram_peers": WriteRule(
        key=("channel_id",),
        compare=(
            "peer_key",
            "access_hash",
            "title",
            "username",
            "kind",
            "can_view_stats",
            "stats_dc",
            "participants_count",
        ),
        carry=("updated_at",),
    ),
    "stats_snapshots": WriteRule(key=("channel_id", "fetched_at"), once=True),
    "stats_raw": WriteRule(key=("channel_id", "graph", "fetched_at"), once=True),
    "stats_figures": WriteRule(key=("channel_id", "fetched_at", "figure"), once=True),
    "post_interactions": WriteRule(key=("channel_id", "fetched_at", "kind", "post_id"), once=True),
    "megagroup_tops": WriteRule(key=("channel_id", "fetched_at", "top", "user_id"), once=True),
    "channel_daily": WriteRule(
        key=("channel_id", "day", "metric"),
        compare=("peer_key", "value"),
        carry=("fetched_at",),
        stamp="updated_at",
        newer="fetched_at",
    ),
    "channel_hourly": _newest_wins(("channel_id", "hour", "metric"), ("value",)),
    "posts": _newest_wins(
        ("channel_id", "kind", "post_id"),
        (
            "published_at",
            "views",
            "forwards",
            "replies",
            "reactions",
            "reactions_by_emoji",
            "text",
        ),
    ),
    "post_stats": _newest_wins(
        ("channel_id", "kind", "post_id"), ("complete", "settled", "missing")
    ),
    "post_timeline": _newest_wins(("channel_id", "kind", "post_id", "ts", "metric"), ("value",)),
    "post_forwards": _newest_wins(
        ("channel_id", "kind", "post_id", "source_channel_id", "source_message_id"),
        ("source_kind", "forwarded_at", "views", "title", "username"),
    ),
    "revenue_status": WriteRule(key=("channel_id", "fetched_at", "currency"), once=True),
    "content_raw": WriteRule(key=("channel_id", "source", "graph", "fetched_at"), once=True),
}


@dataclass(frozen=True)
class WriteCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.unchanged + other.unchanged,
        )


@contextmanager
def write_transaction(engine: sa.Engine) -> Iterator[psycopg.Connection]:
    """A psycopg 3 connection of ``engine`` inside one transaction (committed on success)."""
    pooled = engine.raw_connection()
    try:
        connection: psycopg.Connection = pooled.driver_connection  # type: ignore[assignment]
        with connection.transaction():
            yield connection
    except psycopg.OperationalError:
        pooled.invalidate()
        raise
    finally:
        pooled.close()


def check_unique_keys(frame: pd.DataFrame, key: Sequence[str], table: str) -> None:
    """Refuse a batch that holds one key twice, naming the first such key."""
    duplicated = frame.duplicated(subset=list(key), keep=False).to_numpy()
    if duplicated.any():
        first = frame.loc[frame.index[duplicated.argmax()], list(key)]
        shown = ", ".join(
            f"{name}={first[name]!r}" if isinstance(first[name], str) else f"{name}={first[name]}"
            for name in key
        )
        count = int(((frame[list(key)] == first).all(axis=1)).sum())
        raise WarehouseDataError(
            f"{table}: the batch holds {count} rows for the key ({shown}); "
            "each key may appear once in a write"
        )


def write(connection: psycopg.Connection, table_name: str, frame: pd.DataFrame) -> WriteCounts:
    """Write ``frame`` into ``table_name`` by its rule; call inside one transaction."""
    table = TABLES[table_name]
    rule = RULES[table_name]
    names = rule.columns(table)
    columns = [table.c[name] for name in names]
    try:
        values = frame_values(frame, columns)
    except WarehouseDataError as exc:
        raise WarehouseDataError(f"{table_name}: {exc}") from None
    if len(frame) == 0:
        return WriteCounts()
    check_unique_keys(frame, rule.key, table_name)
    by_name = dict(zip(names, values, strict=True))
    _lock(connection, table_name, by_name[rule.key[0]])
    if not _any_stored(connection, table, rule, by_name):
        copy_rows(connection, sql.Identifier(table_name), columns, values)
        return WriteCounts(inserted=len(frame))
    stage = sql.Identifier(f"stage_{table_name}")
    connection.execute(
        sql.SQL("CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT {} FROM {} WITH NO DATA").format(
            stage, sql.SQL(", ").join(map(sql.Identifier, names)), sql.Identifier(table_name)
        )
    )
    copy_rows(connection, stage, columns, values)
    inserted, updated = _merge(connection, table_name, rule, names, stage)
    return WriteCounts(inserted, updated, len(frame) - inserted - updated)


def _lock(connection: psycopg.Connection, table: str, first_key: list[Any]) -> None:
    table_tag = _int32(table)
    keys = sorted({_int32(f"{table}:{value}") for value in first_key})
    connection.execute(
        "SELECT pg_advisory_xact_lock(%s, k) FROM unnest(%s::int4[]) AS k", (table_tag, keys)
    )


def _int32(text: str) -> int:
    return zlib.crc32(text.encode()) - 2**31


def _any_stored(
    connection: psycopg.Connection,
    table: sa.Table,
    rule: WriteRule,
    values: dict[str, list[Any]],
) -> bool:
    """Whether a stored row may share a key with the batch (False: COPY straight in)."""
    first = rule.key[0]
    second = rule.key[1] if len(rule.key) > 1 else first
    pairs = set(zip(values[first], values[second], strict=True))
    query = sql.SQL(
        "WITH r AS (SELECT g::{gt} AS g, k::{kt} AS k"
        " FROM unnest(%s::text[], %s::text[]) AS u(g, k)),"
        " b AS (SELECT g, min(k) AS lo, max(k) AS hi FROM r GROUP BY g)"
        " SELECT EXISTS (SELECT 1 FROM b JOIN {t} AS t"
        " ON t.{gc} = b.g AND t.{kc} BETWEEN b.lo AND b.hi)"
    ).format(
        gt=sql.SQL(sql_type(table.c[first])),
        kt=sql.SQL(sql_type(table.c[second])),
        t=sql.Identifier(table.name),
        gc=sql.Identifier(first),
        kc=sql.Identifier(second),
    )
    texts = ([str(g) for g, _ in pairs], [str(k) for _, k in pairs])
    row = connection.execute(query, texts).fetchone()
    return bool(row and row[0])


def change_condition(rule: WriteRule, stored: str, new: str) -> sql.Composable:
    """SQL true when the row ``new`` changes the row ``stored`` (both table aliases) by the
    rule: a ``compare`` column differs and, where the rule names ``newer``, ``new`` is at
    least as new."""

    def row(alias: str) -> sql.Composable:
        return sql.SQL(", ").join(
            sql.SQL("{}.{}").format(sql.SQL(alias), sql.Identifier(n)) for n in rule.compare
        )

    changed = sql.SQL("({}) IS DISTINCT FROM ({})").format(row(stored), row(new))
    if rule.newer:
        changed = sql.SQL("{} AND {new}.{n} >= {stored}.{n}").format(
            changed, new=sql.SQL(new), stored=sql.SQL(stored), n=sql.Identifier(rule.newer)
        )
    return changed


def _merge(
    connection: psycopg.Connection,
    table: str,
    rule: WriteRule,
    names: Sequence[str],
    stage: sql.Identifier,
) -> tuple[int, int]:
    """INSERT the staged rows; returns (inserted, updated)."""
    columns = sql.SQL(", ").join(map(sql.Identifier, names))
    key = sql.SQL(", ").join(map(sql.Identifier, rule.key))
    insert = sql.SQL("INSERT INTO {t} AS t ({c}) SELECT {c} FROM {s} ORDER BY {k}").format(
        t=sql.Identifier(table), c=columns, s=stage, k=key
    )
    if rule.once:
        cursor = connection.execute(sql.SQL("{} ON CONFLICT ({}) DO NOTHING").format(insert, key))
        return cursor.rowcount, 0
    assignments = [
        sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(name))
        for name in (*rule.compare, *rule.carry)
    ]
    if rule.stamp:
        assignments.append(sql.SQL("{} = now()").format(sql.Identifier(rule.stamp)))
    changed = change_condition(rule, "t", "EXCLUDED")
    statement = sql.SQL(
        "WITH w AS ({insert} ON CONFLICT ({key}) DO UPDATE SET {set} WHERE {changed}"
        " RETURNING xmax = 0 AS inserted)"
        " SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM w"
    ).format(insert=insert, key=key, set=sql.SQL(", ").join(assignments), changed=changed)
    row = connection.execute(statement).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])
