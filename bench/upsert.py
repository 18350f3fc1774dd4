"""The warehouse upsert path against plain COPY, to_sql and row-by-row inserts.

Usage: python bench/upsert.py [--rows N]. The database is TGSTATS_DATABASE_URL's server,
else an embedded PostgreSQL in a temporary TGSTATS_HOME; the run works in a scratch
database it creates and drops. Prints rows/s for each method, then last the line
``upsert_vs_copy=R1 rerun_vs_copy=R2 upsert_vs_to_sql=R3 upsert_vs_row_by_row=R4
write_row_rows_s=N``.

- copy: COPY of the already-encoded rows (COPY text) into the empty, indexed channel_daily
  (the limit; encoding the DataFrame is not counted).
- upsert: the IO manager's write of new rows (upsert.write in one transaction), from the
  DataFrame, encoding included.
- rerun: the same write again, every row unchanged.
- to_sql, row_by_row: sampled on fewer rows into an empty table of the same shape.
- write_row: the DataFrame checked, converted and COPied into the empty table by psycopg's
  ``copy.write_row`` (binary COPY), as the upsert does when no stored row shares a key.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date, datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from tgstats_dagster.warehouse.copy_rows import copy_rows, frame_values
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.migrations import ensure_schema
from tgstats_dagster.warehouse.server import embedded_server_url, libpq_url
from tgstats_dagster.warehouse.tables import channel_daily
from tgstats_dagster.warehouse.upsert import write, write_transaction

COLUMNS = ["channel_id", "day", "metric", "peer_key", "value", "fetched_at"]


def make_frame(rows: int) -> pd.DataFrame:
    """rows of channel_daily: 100 metrics x up to 100 days x as many channels as needed."""
    metrics, days = 100, 100
    index = np.arange(rows)
    channel = 1_000_000_000 + index // (metrics * days)
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "peer_key": pd.Series(channel).map(lambda c: f"peer{c}"),
            "channel_id": channel,
            "day": pd.Series(
                np.datetime64(date(2026, 1, 1), "D") + (index // metrics) % days
            ).dt.date,
            "metric": pd.Series(index % metrics).map(lambda m: f"views_by_source.m{m}"),
            "value": rng.integers(0, 10**9, rows),
            "fetched_at": datetime(2026, 4, 15, 6, 0, tzinfo=timezone.utc),
        }
    )


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def truncate(url: str, table: str = "channel_daily") -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(f"TRUNCATE {table}")
        conn.execute("CHECKPOINT")


def copy_text(frame: pd.DataFrame) -> bytes:
    """The rows in COPY text format (the bench's values need no escaping)."""
    return frame[COLUMNS].to_csv(sep="\t", header=False, index=False).encode()


def plain_copy(url: str, stream: bytes) -> None:
    with psycopg.connect(libpq_url(url)) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY channel_daily ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            copy.write(stream)
        conn.commit()


def write_row_load(url: str, frame: pd.DataFrame) -> None:
    columns = [channel_daily.c[n] for n in COLUMNS]
    with psycopg.connect(libpq_url(url)) as conn:
        copy_rows(conn, sql.Identifier("channel_daily"), columns, frame_values(frame, columns))
        conn.commit()


def upsert(url: str, frame: pd.DataFrame) -> None:
    with write_transaction(make_engine(url)) as connection:
        write(connection, "channel_daily", frame)


def to_sql(url: str, frame: pd.DataFrame) -> None:
    frame[COLUMNS].to_sql(
        "bench_target",
        make_engine(url),
        if_exists="append",
        index=False,
        method="multi",
        chunksize=1000,
    )


def row_by_row(url: str, frame: pd.DataFrame) -> None:
    statement = (
        f"INSERT INTO bench_target ({', '.join(COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (channel_id, day, metric) DO UPDATE SET value = EXCLUDED.value"
        " WHERE bench_target.value IS DISTINCT FROM EXCLUDED.value"
    )
    with psycopg.connect(libpq_url(url)) as conn:
        for row in frame[COLUMNS].itertuples(index=False):
            conn.execute(statement, tuple(row))
        conn.commit()


def run(server_url: str, rows: int, sample: int) -> None:
    name = f"tgstats_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    try:
        ensure_schema(url)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute("CREATE TABLE bench_target (LIKE channel_daily INCLUDING ALL)")
        frame = make_frame(rows)
        stream = copy_text(frame)
        copy_s, upsert_s, write_row_s = [], [], []
        for _ in range(3):  # alternate, keep the best of each
            truncate(url)
            copy_s.append(timed(lambda: plain_copy(url, stream)))
            truncate(url)
            write_row_s.append(timed(lambda: write_row_load(url, frame)))
            truncate(url)
            upsert_s.append(timed(lambda: upsert(url, frame)))
        rerun_s = timed(lambda: upsert(url, frame))
        part = frame.iloc[:sample]
        truncate(url, "bench_target")
        to_sql_s = timed(lambda: to_sql(url, part))
        few = frame.iloc[: max(1, sample // 4)]
        truncate(url, "bench_target")
        row_s = timed(lambda: row_by_row(url, few))
    finally:
        make_engine(url).dispose()
        with psycopg.connect(libpq_url(server_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    rates = {
        "copy": rows / min(copy_s),
        "upsert": rows / min(upsert_s),
        "rerun": rows / rerun_s,
        "to_sql": len(part) / to_sql_s,
        "row_by_row": len(few) / row_s,
        "write_row": rows / min(write_row_s),
    }
    print(f"rows={rows} sample_to_sql={len(part)} sample_row_by_row={len(few)}")
    for method, rate in rates.items():
        print(f"{method}_rows_per_s={rate:.0f}")
    print(
        f"upsert_vs_copy={rates['upsert'] / rates['copy']:.2f} "
        f"rerun_vs_copy={rates['rerun'] / rates['copy']:.2f} "
        f"upsert_vs_to_sql={rates['upsert'] / rates['to_sql']:.1f} "
        f"upsert_vs_row_by_row={rates['upsert'] / rates['row_by_row']:.1f} "
        f"write_row_rows_s={rates['write_row']:.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sample", type=int, default=40_000, help="rows for to_sql")
    args = parser.parse_args()
    url = os.environ.get("TGSTATS_DATABASE_URL", "").strip()
    if url:
        run(url, args.rows, args.sample)
        return
    with tempfile.TemporaryDirectory(prefix="tgstats-bench-") as home:
        os.chmod(home, 0o755)  # the embedded server runs as its own user when started as root
        run(embedded_server_url(Path(home)), args.rows, args.sample)


if __name__ == "__main__":
    main()
