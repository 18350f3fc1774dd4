"""Telegram's graph JSON (``DataJSON.data`` of a ``StatsGraph``) -> a checked, typed value.

Rules (the lead documents them for users):

- **x step.** x must hold integers, strictly increasing (a repeated x is an error, and so is
  an x smaller than the one before it). The step is the smallest difference between two
  neighbours; every other difference must be a whole multiple of it, so a graph with a missing
  day is still DAILY (the missing day simply has no point). Known steps: 86,400,000 ms DAILY,
  3,600,000 HOURLY, 300,000 FIVE_MINUTE, 604,800,000 WEEKLY, and 1 for index axes:
  WEEKDAY_INDEX for a ``weekdays`` graph whose x lie in 0..6, HOUR_INDEX for any other graph
  whose x lie in 0..23. Any other step, or differences that are not multiples of the step,
  give IRREGULAR: the graph parses, but it has no daily points.
- **Empty graph.** Fewer than 2 x points: a valid ParsedGraph with step EMPTY (its x and
  series kept as sent) and no daily points, as Telegram's own clients treat it.
- **Values.** Every value is a JSON integer or a finite JSON number: integers stay ``int``
  (exact, however large), other numbers stay ``float``. ``null``, booleans, strings, NaN and
  Infinity are errors: a missing figure is never read as zero.
- **Days.** A DAILY point's day is the UTC date of its x timestamp.
- **Columns.** Exactly one column of type ``x`` (at any position); every column has a type
  and as many values as x; ``types`` and ``names`` may name only existing columns. A series
  without a name gets the name ``""`` (so its key is its column id). A name is kept as sent,
  even with a NUL or a lone surrogate in it; only its key must be storable text (see
  ``series_key``). ``colors`` and ``hidden`` are kept as sent, not checked against the
  columns.
- **Errors.** Any malformed input raises ``GraphFormatError(field, problem)`` and nothing else.
- Formatter keys (``xTickFormatter``...) are JavaScript source: kept as strings, never run.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import Enum
from itertools import pairwise
from typing import Any

SERIES_TYPES = frozenset({"line", "bar", "step", "area"})
FLAG_KEYS = ("y_scaled", "stacked", "percentage")
FORMATTER_KEYS = (
    "xTickFormatter",
    "xTooltipFormatter",
    "xRangeFormatter",
    "yTickFormatter",
    "yTooltipFormatter",
)
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
#: Whitespace, ASCII punctuation, control characters (category Cc: NUL, \x1f, \x7f, ...)
#: and lone surrogates (not storable text): each run of them becomes one ``_`` in a key.
_KEY_SEPARATORS = re.compile(
    r"[\s" + re.escape(string.punctuation) + r"\x00-\x1f\x7f-\x9f\ud800-\udfff]+"
)
KEY_MAX_LENGTH = 120
_KEY_HASH_LENGTH = 8

Fail = Callable[[str], "GraphFormatError"]


class GraphFormatError(ValueError):
    """A graph payload that cannot be read; the message names the graph field and the problem."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"graph {field!r}: {problem}")
        self.field = field
        self.problem = problem


class XStep(Enum):
    """What the x axis of a graph counts. ``step`` is the x difference it stands for."""

    DAILY = "daily"
    HOURLY = "hourly"
    FIVE_MINUTE = "five_minute"
    WEEKLY = "weekly"
    HOUR_INDEX = "hour_index"
    WEEKDAY_INDEX = "weekday_index"
    IRREGULAR = "irregular"
    EMPTY = "empty"

    @property
    def step(self) -> int | None:
        """The x difference between neighbours (ms, or 1 for an index); None when none is."""
        return _STEP_SIZES.get(self)

    @property
    def is_time(self) -> bool:
        """True when x holds UNIX times in milliseconds."""
        return self in _TIME_STEPS


_STEP_SIZES = {
    XStep.DAILY: 86_400_000,
    XStep.HOURLY: 3_600_000,
    XStep.FIVE_MINUTE: 300_000,
    XStep.WEEKLY: 604_800_000,
    XStep.HOUR_INDEX: 1,
    XStep.WEEKDAY_INDEX: 1,
}
_TIME_STEPS = frozenset({XStep.DAILY, XStep.HOURLY, XStep.FIVE_MINUTE, XStep.WEEKLY})
_STEP_BY_MS = {size: step for step, size in _STEP_SIZES.items() if step in _TIME_STEPS}


@dataclass(frozen=True)
class Series:
    """One y column: its id, its (localized) name as sent, its metric key, and its values."""

    column_id: str
    name: str
    key: str
    type: str
    values: tuple[int | float, ...]
    color: str | None = None


@dataclass(frozen=True)
class ParsedGraph:
    """A graph payload, checked. ``x`` holds ms timestamps, or indexes for index axes."""

    field: str
    step: XStep
    x: tuple[int, ...]
    series: tuple[Series, ...]
    title: str | None = None
    y_scaled: bool = False
    stacked: bool = False
    percentage: bool = False
    hidden: tuple[str, ...] = ()
    formatters: tuple[tuple[str, str], ...] = ()

    @property
    def is_daily(self) -> bool:
        return self.step is XStep.DAILY

    def metric(self, series: Series) -> str:
        """The ``channel_daily`` metric name of one of this graph's series."""
        return metric_name(self.field, series.key)


def metric_name(field: str, key: str) -> str:
    """``growth_graph`` + ``total_followers`` -> ``growth.total_followers``."""
    return f"{field.removesuffix('_graph')}.{key}"


def series_key(name: str) -> str:
    """A series name -> its key: lowercased, runs of whitespace, ASCII punctuation, control
    characters or lone surrogates -> ``_``, no ``_`` at either end.

    A key longer than 120 characters is cut to its first 111 + ``~`` + the first 8 hex
    digits of the SHA-1 of the whole key (UTF-8), so long names stay distinct. May be empty
    (a name of only punctuation): ``parse_graph`` then uses the column id.
    """
    key = _KEY_SEPARATORS.sub("_", name.lower()).strip("_")
    if len(key) <= KEY_MAX_LENGTH:
        return key
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:_KEY_HASH_LENGTH]
    return f"{key[: KEY_MAX_LENGTH - _KEY_HASH_LENGTH - 1]}~{digest}"


def x_day(x_ms: int) -> date:
    """The UTC day of an x timestamp in milliseconds."""
    return (_EPOCH + timedelta(milliseconds=x_ms)).date()


def daily_points(parsed: ParsedGraph) -> Iterator[tuple[date, str, int | float]]:
    """(UTC day, metric name, value) for every point of a DAILY graph; nothing for others."""
    if not parsed.is_daily:
        return
    days = [x_day(x) for x in parsed.x]
    for series in parsed.series:
        metric = parsed.metric(series)
        for day, value in zip(days, series.values, strict=True):
            yield day, metric, value


def x_time(x_ms: int) -> datetime:
    """An x timestamp in milliseconds as an aware UTC datetime."""
    return _EPOCH + timedelta(milliseconds=x_ms)


def time_points(parsed: ParsedGraph) -> Iterator[tuple[datetime, str, int | float]]:
    """(UTC time, metric name, value) for every point of a graph whose x axis is time,
    whatever its step (a post's graphs may be irregular, or a single point); nothing for an
    hour-index or weekday-index axis."""
    if parsed.step in (XStep.HOUR_INDEX, XStep.WEEKDAY_INDEX):
        return
    times = [x_time(x) for x in parsed.x]
    for series in parsed.series:
        metric = parsed.metric(series)
        for moment, value in zip(times, series.values, strict=True):
            yield moment, metric, value


def parse_graph(field: str, data: str) -> ParsedGraph:
    """Parse and check one graph payload; raise ``GraphFormatError`` for anything malformed."""
    try:
        return _parse(field, data)
    except GraphFormatError:
        raise
    except RecursionError:
        raise GraphFormatError(field, "JSON nested too deeply") from None
    except Exception as exc:  # anything unforeseen still leaves as the one typed error
        raise GraphFormatError(field, f"unreadable payload ({type(exc).__name__})") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def _is_number(value: object) -> bool:
    return type(value) is int or type(value) is float


def _parse(field: str, data: str) -> ParsedGraph:
    def fail(problem: str) -> GraphFormatError:
        return GraphFormatError(field, problem if len(problem) <= 300 else problem[:297] + "...")

    if not isinstance(data, str):
        raise fail(f"payload is a {type(data).__name__}, not a JSON string")
    try:
        doc = json.loads(data, parse_constant=_reject_constant, parse_float=_finite_float)
    except ValueError as exc:  # JSONDecodeError, NaN/Infinity, too many digits
        raise fail(f"not valid JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise fail(f"the payload is {_short(doc)}, not a JSON object")

    columns = doc.get("columns")
    types = doc.get("types")
    names = doc.get("names", {})
    colors = doc.get("colors", {})
    if not isinstance(columns, list):
        raise fail("'columns' is missing or not a list")
    if not isinstance(types, dict):
        raise fail("'types' is missing or not an object")
    if not isinstance(names, dict):
        raise fail("'names' is not an object")
    if not isinstance(colors, dict):
        raise fail("'colors' is not an object")

    by_id: dict[str, list[Any]] = {}
    for index, column in enumerate(columns):
        if (
            not isinstance(column, list)
            or not column
            or not isinstance(column[0], str)
            or not column[0]
        ):
            raise fail(f"column {index} is not a list starting with its id")
        if column[0] in by_id:
            raise fail(f"column id {column[0]!r} appears twice")
        by_id[column[0]] = column[1:]

    for column_id, kind in types.items():
        if column_id not in by_id:
            raise fail(f"'types' names column {column_id!r}, which is not in 'columns'")
        if not isinstance(kind, str) or (kind != "x" and kind not in SERIES_TYPES):
            raise fail(f"column {column_id!r} has unknown type {_short(kind)}")
    for column_id in by_id:
        if column_id not in types:
            raise fail(f"column {column_id!r} has no type")
    for column_id, name in names.items():
        if column_id not in by_id:
            raise fail(f"'names' names column {column_id!r}, which is not in 'columns'")
        if not isinstance(name, str):
            raise fail(f"the name of column {column_id!r} is not a string")
    for column_id, color in colors.items():
        if not isinstance(color, str):
            raise fail(f"the color of column {column_id!r} is not a string")

    x_ids = [column_id for column_id, kind in types.items() if kind == "x"]
    if len(x_ids) != 1:
        raise fail(f"expected exactly one x column, found {len(x_ids)}")
    x_id = x_ids[0]
    x = by_id[x_id]
    for column_id, values in by_id.items():
        if len(values) != len(x):
            raise fail(f"column {column_id!r} has {len(values)} values, x has {len(x)}")
        for position, value in enumerate(values):
            if column_id == x_id and type(value) is not int:
                raise fail(f"x value {position} is {_short(value)}, not an integer")
            if not _is_number(value):
                raise fail(
                    f"column {column_id!r} value {position} is {_short(value)}, not a number"
                )

    step = _step(field, x, fail)
    y_ids = [column_id for column_id in by_id if column_id != x_id]
    keys = _series_keys([(column_id, names.get(column_id, "")) for column_id in y_ids])
    series = tuple(
        Series(
            column_id=column_id,
            name=names.get(column_id, ""),
            key=keys[column_id],
            type=types[column_id],
            values=tuple(by_id[column_id]),
            color=colors.get(column_id),
        )
        for column_id in y_ids
    )
    return ParsedGraph(
        field=field,
        step=step,
        x=tuple(x),
        series=series,
        title=_optional_str(doc, "title", fail),
        y_scaled=_flag(doc, "y_scaled", fail),
        stacked=_flag(doc, "stacked", fail),
        percentage=_flag(doc, "percentage", fail),
        hidden=_hidden(doc, fail),
        formatters=tuple(
            (key, value) for key in FORMATTER_KEYS if (value := _optional_str(doc, key, fail))
        ),
    )


def _short(value: object) -> str:
    """A JSON value for an error message, cut to a readable length."""
    text = json.dumps(value, ensure_ascii=True)
    return text if len(text) <= 40 else text[:37] + "..."


def _step(field: str, x: list[int], fail: Fail) -> XStep:
    if len(x) < 2:
        return XStep.EMPTY
    diffs = [b - a for a, b in pairwise(x)]
    for position, diff in enumerate(diffs, start=1):
        if diff == 0:
            raise fail(f"x value {x[position]} appears twice")
        if diff < 0:
            raise fail(f"x is not increasing at position {position}")
    smallest = min(diffs)
    if any(diff % smallest for diff in diffs):
        return XStep.IRREGULAR
    if smallest == 1:
        if x[0] >= 0 and x[-1] <= 6 and "weekday" in field:
            return XStep.WEEKDAY_INDEX
        if x[0] >= 0 and x[-1] <= 23:
            return XStep.HOUR_INDEX
        return XStep.IRREGULAR
    step = _STEP_BY_MS.get(smallest, XStep.IRREGULAR)
    if step is not XStep.IRREGULAR:
        try:
            x_day(x[0])
            x_day(x[-1])
        except OverflowError:
            raise fail("x timestamps are outside the calendar") from None
    return step


def _series_keys(named: list[tuple[str, str]]) -> dict[str, str]:
    """Column id -> key; empty or clashing keys fall back to the (unique) column id."""
    keys = {column_id: series_key(name) for column_id, name in named}
    fallback = {column_id for column_id, key in keys.items() if not key}
    while True:
        current = {
            column_id: column_id if column_id in fallback else key
            for column_id, key in keys.items()
        }
        seen: dict[str, list[str]] = {}
        for column_id, key in current.items():
            seen.setdefault(key, []).append(column_id)
        clashing = {
            column_id
            for owners in seen.values()
            if len(owners) > 1
            for column_id in owners
            if column_id not in fallback
        }
        if not clashing:
            return current
        fallback |= clashing


def _flag(doc: dict[str, Any], key: str, fail: Fail) -> bool:
    value = doc.get(key, False)
    if type(value) is not bool:
        raise fail(f"{key!r} is {_short(value)}, not true or false")
    return value


def _optional_str(doc: dict[str, Any], key: str, fail: Fail) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise fail(f"{key!r} is not a string")
    return value


def _hidden(doc: dict[str, Any], fail: Fail) -> tuple[str, ...]:
    hidden = doc.get("hidden", [])
    if not isinstance(hidden, list) or not all(isinstance(item, str) for item in hidden):
        raise fail("'hidden' is not a list of column ids")
    return tuple(hidden)
