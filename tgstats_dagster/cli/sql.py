"""``tgstats db sql``: a read-only query on the warehouse, printed as a table.

The embedded PostgreSQL listens on a socket of its own and stops with the last process that
uses it, so this is how the README's example queries run on the demo data, with no psql.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

import psycopg

from tgstats_dagster.warehouse.migrations import ensure_schema
from tgstats_dagster.warehouse.server import libpq_url


def run_query(url: str, query: str, out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    """Run ``query`` in a read-only transaction and print what it returns; 1 if it fails."""
    if not query.strip():
        print("no query: give it as an argument or on standard input", file=err)
        return 2
    ensure_schema(url)
    with psycopg.connect(libpq_url(url)) as connection:
        connection.read_only = True
        try:
            cursor = connection.execute(query)
        except psycopg.Error as exc:
            print(f"the query failed: {str(exc).strip()}", file=err)
            return 1
        if cursor.description is None:
            print("the query returned no rows", file=out)
            return 0
        columns = [column.name for column in cursor.description]
        print_table(columns, cursor.fetchall(), out)
    return 0


def print_table(columns: list[str], rows: list[tuple[Any, ...]], out: TextIO) -> None:
    cells = [["" if value is None else str(value) for value in row] for row in rows]
    widths = [max([len(name), *(len(row[i]) for row in cells)]) for i, name in enumerate(columns)]
    print(
        "  ".join(name.ljust(width) for name, width in zip(columns, widths, strict=True)), file=out
    )
    print("  ".join("-" * width for width in widths), file=out)
    for row in cells:
        print(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)), file=out
        )
    print(f"({len(rows)} row{'' if len(rows) == 1 else 's'})", file=out)
