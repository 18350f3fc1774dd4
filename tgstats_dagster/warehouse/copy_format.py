"""DataFrame columns -> PostgreSQL COPY text format, column at a time.

Each column is encoded once, vectorized where the dtype allows and otherwise through its
distinct values (``pandas.factorize``): the warehouse's columns repeat a lot (a few
channels, days, metrics and snapshots per batch), so the per-value Python work is done per
distinct value, not per row. Rows are joined in chunks while the server ingests the
previous chunk.

Rules, checked before anything is sent:
- a null (None, NaN, NaT, pd.NA) becomes SQL NULL, except in the ``numeric`` columns where a
  float NaN is refused (it more often means a computation went wrong than "no value"):
  there, a missing value is None or pd.NA in an object or nullable column;
- a null in a NOT NULL column is refused, naming the column;
- integers are written from their exact decimal text, never through a float;
- timestamps must be timezone-aware.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
# Whole floats up to here are written as integers (a float64 holds them exactly).
_EXACT_FLOAT_INT = 2**53


class WarehouseDataError(ValueError):
    """A DataFrame cannot be written as it is; the message names the column or key."""


def _text(value: Any) -> str:
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False)
    return str(value).translate(_ESCAPES)


def _integer(value: Any) -> str:
    if isinstance(value, float | np.floating) and not float(value).is_integer():
        raise ValueError(f"{value!r} is not a whole number")
    return str(int(value))


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a number PostgreSQL should store")
    if value.is_integer() and abs(value) <= _EXACT_FLOAT_INT:
        return str(int(value))
    return repr(value)


def _numeric(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        raise ValueError(f"{value!r} is a boolean, not a number")
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        return _float(float(value))
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a number PostgreSQL should store")
    return str(number)


def _date(value: Any) -> str:
    if isinstance(value, str):
        return date.fromisoformat(value).isoformat()
    if isinstance(value, datetime):
        stamp = pd.Timestamp(value)
        if stamp != stamp.normalize():
            raise ValueError(f"{value!r} is a moment, not a day")
        return stamp.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise ValueError(f"{value!r} is not a day")


def _timestamptz(value: Any) -> str:
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone (give UTC-aware times)")
    return stamp.isoformat()


def _boolean(value: Any) -> str:
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{value!r} is not a boolean")
    return "t" if value else "f"


def _formatter(column: sa.Column) -> Callable[[Any], str]:
    kind = column.type
    if isinstance(kind, sa.Numeric) and not isinstance(kind, sa.Float):
        return _numeric
    if isinstance(kind, sa.Integer):
        return _integer
    if isinstance(kind, sa.DateTime):
        return _timestamptz
    if isinstance(kind, sa.Date):
        return _date
    if isinstance(kind, sa.Boolean):
        return _boolean
    return _text


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


def encode_column(series: pd.Series, column: sa.Column) -> np.ndarray:
    """One column as COPY text fields (object array of str, NULL as ``\\N``)."""
    name = column.name
    is_numeric = isinstance(column.type, sa.Numeric) and not isinstance(column.type, sa.Float)
    if is_numeric:
        _refuse_nan(series, name)
    numpy_int = isinstance(series.dtype, np.dtype) and series.dtype.kind in "iu"
    if numpy_int and isinstance(column.type, sa.Numeric | sa.Integer):
        return series.to_numpy().astype(str).astype(object)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    if (codes < 0).any() and not column.nullable:
        row = series.index[(codes < 0).argmax()]
        raise WarehouseDataError(f"column {name!r} may not be null (row {row!r})")
    format_value = _formatter(column)
    fields = []
    for value in uniques:
        try:
            fields.append(format_value(value))
        except (ValueError, TypeError) as exc:
            raise WarehouseDataError(f"column {name!r}: {exc}") from None
    fields.append(NULL)
    return np.asarray(fields, dtype=object)[codes]


def encode_columns(frame: pd.DataFrame, columns: Sequence[sa.Column]) -> list[np.ndarray]:
    """The given table columns of ``frame``, encoded; a missing column is an error."""
    missing = [c.name for c in columns if c.name not in frame.columns]
    if missing:
        raise WarehouseDataError(f"missing column(s) {', '.join(missing)}")
    prepared = []
    for column in columns:
        series = frame[column.name]
        if series.dtype == object and isinstance(column.type, sa.JSON):
            series = series.map(lambda v: json.dumps(v) if isinstance(v, dict | list) else v)
        prepared.append(encode_column(series, column))
    return prepared


def copy_chunks(fields: Sequence[np.ndarray], rows_per_chunk: int = 50_000) -> Iterator[bytes]:
    """The COPY text stream of the encoded columns, a chunk of rows at a time."""
    total = len(fields[0]) if fields else 0
    for start in range(0, total, rows_per_chunk):
        part = [column[start : start + rows_per_chunk] for column in fields]
        yield ("\n".join(map("\t".join, zip(*part, strict=True))) + "\n").encode()
