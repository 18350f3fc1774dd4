"""DataFrame columns -> checked Python values -> PostgreSQL binary COPY (psycopg's write_row).

Each column is converted once, through its distinct values (``pandas.factorize``) where the
values can be hashed: the warehouse's columns repeat a lot (a few channels, days, metrics
and snapshots per batch), so the per-value Python work is done per distinct value, not per
row. psycopg then dumps each row in the binary format of the table's column types.

Rules, checked before anything is sent:
- a null (None, NaN, NaT, pd.NA) becomes SQL NULL, except in the ``numeric`` columns where a
  float NaN is refused (it more often means a computation went wrong than "no value"):
  there, a missing value is None or pd.NA in an object or nullable column;
- a null in a NOT NULL column is refused, naming the column;
- integers stay exact (never through a float); a float into an integer column must be whole;
- timestamps must be timezone-aware.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd
import psycopg
import sqlalchemy as sa
from psycopg import sql
from psycopg.types.json import set_json_dumps
from sqlalchemy.dialects import postgresql

from tgstats_dagster.warehouse.errors import WarehouseDataError

# Whole floats up to here are written as integers (a float64 holds them exactly).
_EXACT_FLOAT_INT = 2**53


def _as_given(text: str) -> str:
    """jsonb values arrive as JSON text already (see :func:`_json`)."""
    return text


def _json(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, allow_nan=False)


def _text(value: Any) -> str:
    return str(value)


def _integer(value: Any) -> int:
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{value!r} is a boolean, not a number")
    if isinstance(value, float | np.floating) and not float(value).is_integer():
        raise ValueError(f"{value!r} is not a whole number")
    return int(value)


def _numeric(value: Any) -> int | Decimal:
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{value!r} is a boolean, not a number")
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a number PostgreSQL should store")
        if number.is_integer() and abs(number) <= _EXACT_FLOAT_INT:
            return int(number)
        return Decimal(repr(number))  # the shortest text that reads back as this float
    try:
        decimal = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not decimal.is_finite():
        raise ValueError(f"{value!r} is not a number PostgreSQL should store")
    return decimal


def _date(value: Any) -> date:
    if isinstance(value, str):
        return date.fromisoformat(value)
    if isinstance(value, datetime):
        stamp = pd.Timestamp(value)
        if stamp != stamp.normalize():
            raise ValueError(f"{value!r} is a moment, not a day")
        return stamp.date()
    if isinstance(value, date):
        return value
    raise ValueError(f"{value!r} is not a day")


def _timestamptz(value: Any) -> datetime:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone (give UTC-aware times)")
    return stamp.to_pydatetime()


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{value!r} is not a boolean")
    return bool(value)


def _binary(value: Any) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise ValueError(f"{type(value).__name__} is not bytes")
    return bytes(value)


def _text_array(value: Any) -> list[str]:
    if not isinstance(value, list | tuple | np.ndarray):
        raise ValueError(f"{value!r} is not a list")
    return [str(item) for item in value]


def _is_numeric(column: sa.Column) -> bool:
    return isinstance(column.type, sa.Numeric) and not isinstance(column.type, sa.Float)


def _converter(column: sa.Column) -> Callable[[Any], Any]:
    kind = column.type
    converters: list[tuple[type, Callable[[Any], Any]]] = [
        (sa.JSON, _json),
        (sa.ARRAY, _text_array),
        (sa.LargeBinary, _binary),
        (sa.Integer, _integer),
        (sa.DateTime, _timestamptz),
        (sa.Date, _date),
        (sa.Boolean, _boolean),
    ]
    if _is_numeric(column):
        return _numeric
    return next((convert for base, convert in converters if isinstance(kind, base)), _text)


def _refuse_nan(series: pd.Series, name: str) -> None:
    if isinstance(series.dtype, np.dtype) and series.dtype.kind == "f":
        bad = np.isnan(series.to_numpy())
    elif series.dtype == object:
        bad = np.fromiter(
            (isinstance(v, float) and math.isnan(v) for v in series.to_numpy()), bool, len(series)
        )
    else:
        return
    if bad.any():
        row = series.index[bad.argmax()]
        raise WarehouseDataError(
            f"column {name!r}: NaN at row {row!r}; write a missing value as None or pd.NA "
            "(an object or nullable column), never NaN"
        )


def _unhashable(column: sa.Column) -> bool:
    """Whether the column's values may be lists or dicts (no factorize for those)."""
    return isinstance(column.type, sa.ARRAY | sa.JSON)


def _is_null(value: Any) -> bool:
    if isinstance(value, list | tuple | dict | np.ndarray):
        return False
    return bool(pd.isna(value))


def _refuse_null(series: pd.Series, nulls: np.ndarray, name: str) -> None:
    if nulls.any():
        raise WarehouseDataError(
            f"column {name!r} may not be null (row {series.index[nulls.argmax()]!r})"
        )


def _convert_each(convert: Callable[[Any], Any], values: Sequence[Any], name: str) -> list[Any]:
    try:
        return [convert(value) for value in values]
    except (ValueError, TypeError) as exc:
        raise WarehouseDataError(f"column {name!r}: {exc}") from None


def column_values(series: pd.Series, column: sa.Column) -> list[Any]:
    """One column as the Python values psycopg dumps into the column's type (None: NULL)."""
    name = column.name
    if _is_numeric(column):
        _refuse_nan(series, name)
    numpy_int = isinstance(series.dtype, np.dtype) and series.dtype.kind in "iu"
    if numpy_int and isinstance(column.type, sa.Numeric | sa.Integer):
        return series.tolist()
    convert = _converter(column)
    if _unhashable(column):
        values = series.tolist()
        nulls = np.fromiter(map(_is_null, values), bool, len(values))
        if not column.nullable:
            _refuse_null(series, nulls, name)
        present = [v for v, null in zip(values, nulls, strict=True) if not null]
        filled = iter(_convert_each(convert, present, name))
        return [None if null else next(filled) for null in nulls]
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    if not column.nullable:
        _refuse_null(series, codes < 0, name)
    converted = [*_convert_each(convert, list(uniques), name), None]
    table = np.empty(len(converted), dtype=object)
    table[:] = converted
    return table[codes].tolist()


def frame_values(frame: pd.DataFrame, columns: Sequence[sa.Column]) -> list[list[Any]]:
    """The given table columns of ``frame``, converted; a missing column is an error."""
    missing = [c.name for c in columns if c.name not in frame.columns]
    if missing:
        raise WarehouseDataError(f"missing column(s) {', '.join(missing)}")
    return [column_values(frame[column.name], column) for column in columns]


def sql_type(column: sa.Column) -> str:
    """The column's PostgreSQL type as SQL text (``bigint``, ``timestamp with time zone``)."""
    return str(column.type.compile(dialect=postgresql.dialect())).lower()


def copy_rows(
    connection: psycopg.Connection,
    target: sql.Composable,
    columns: Sequence[sa.Column],
    values: Sequence[list[Any]],
) -> None:
    """COPY the converted columns into ``target`` (a table with these column names)."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        target, sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
    )
    with connection.cursor() as cursor:
        set_json_dumps(_as_given, context=cursor)
        with cursor.copy(statement) as copy:
            copy.set_types([sql_type(c) for c in columns])
            for row in zip(*values, strict=True):
                copy.write_row(row)
