"""Property tests of parse_graph: anything in gives a ParsedGraph or a GraphFormatError.

Valid graphs generated here round-trip: the values come back exactly as generated (ints as
ints, floats as floats) and every series gets the metric key its name was built from.
"""

from __future__ import annotations

import json
import re
import string
from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from tgstats_dagster.telegram.graphs import (
    GraphFormatError,
    ParsedGraph,
    XStep,
    daily_points,
    parse_graph,
    series_key,
)

SETTINGS = settings(max_examples=300, deadline=None)
DAY_MS = 86_400_000
STEPS = {
    XStep.DAILY: DAY_MS,
    XStep.HOURLY: 3_600_000,
    XStep.FIVE_MINUTE: 300_000,
    XStep.WEEKLY: 7 * DAY_MS,
}
# Key parts: letters that lowercase to themselves, digits, non-ASCII letters and emoji.
# At most 3 parts of 12: keys stay under the 120-character cut (tested on its own below).
KEY_PART = st.text(
    alphabet=string.ascii_lowercase + string.digits + "éжя👍❤🔥", min_size=1, max_size=12
)
# Control characters and lone surrogates separate like whitespace. A high surrogate right
# before a low one is no lone surrogate: JSON reads the pair as one character (U+103FF).
SEPARATOR = st.text(
    alphabet=" \t\n\x00\x1f\x7f\x85\ud800\udfff" + string.punctuation, min_size=1, max_size=3
).filter(lambda text: "\ud800\udfff" not in text)
VALUE = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=20,
)


def parse_or_error(field: str, data: str) -> ParsedGraph | None:
    """The parse result, or None for a GraphFormatError; any other exception fails the test."""
    try:
        graph = parse_graph(field, data)
    except GraphFormatError as exc:
        assert exc.field == field and field in str(exc)
        return None
    assert isinstance(graph, ParsedGraph)
    return graph


@st.composite
def key_to_name(draw: st.DrawFn, key_parts: list[str]) -> str:
    """A series name whose key is ``"_".join(key_parts)``: random case, separators, padding."""
    pieces = [draw(SEPARATOR) if draw(st.booleans()) else ""]
    for index, part in enumerate(key_parts):
        if index:
            pieces.append(draw(SEPARATOR))
        pieces.append("".join(c.upper() if draw(st.booleans()) else c for c in part))
    pieces.append(draw(SEPARATOR) if draw(st.booleans()) else "")
    return "".join(pieces)


@st.composite
def valid_graphs(draw: st.DrawFn) -> tuple[dict, XStep, list[int], dict[str, tuple]]:
    """(graph document, its step, its x, column id -> (expected key, values))."""
    step = draw(st.sampled_from(sorted(STEPS, key=lambda s: s.value)))
    count = draw(st.integers(min_value=2, max_value=12))
    start = draw(st.integers(min_value=0, max_value=2_000_000_000)) * 1000
    x = [start + i * STEPS[step] for i in range(count)]
    keys = draw(
        st.lists(
            st.lists(KEY_PART, min_size=1, max_size=3),
            max_size=5,
            unique_by=lambda parts: "_".join(parts),
        ).filter(lambda keys: not any(re.fullmatch(r"y\d+", "_".join(p)) for p in keys))
    )
    names = [draw(key_to_name(parts)) for parts in keys]
    expected = ["_".join(parts) for parts in keys]
    if draw(st.booleans()):  # a series whose name has no key at all
        names.append(draw(st.sampled_from(["", " ", "()", "!?"])))
        expected.append(None)
    if names and draw(st.booleans()):  # a second series with an existing key: both fall back
        twin = draw(st.integers(min_value=0, max_value=len(names) - 1))
        if expected[twin] is not None:
            names.append(names[twin].upper() if names[twin].isascii() else names[twin])
            expected[twin] = None
            expected.append(None)
    columns = [["x", *x]]
    types = {"x": "x"}
    wanted = {}
    for index in range(len(names)):
        column_id = f"y{index}"
        values = draw(st.lists(VALUE, min_size=count, max_size=count))
        columns.append([column_id, *values])
        types[column_id] = draw(st.sampled_from(["line", "bar", "step", "area"]))
        wanted[column_id] = (expected[index] or column_id, tuple(values))
    columns = draw(st.permutations(columns))
    doc = {
        "columns": columns,
        "types": types,
        "names": {f"y{i}": name for i, name in enumerate(names)},
        "colors": {f"y{i}": "BLUE#007AFF" for i in range(len(names))},
        "xTickFormatter": "statsFormat('day')",
    }
    return doc, step, x, wanted


@SETTINGS
@given(JSON)
def test_random_json_gives_a_graph_or_the_typed_error(doc: object) -> None:
    parse_or_error("growth_graph", json.dumps(doc))


@SETTINGS
@given(st.text(max_size=200))
def test_random_text_gives_a_graph_or_the_typed_error(text: str) -> None:
    parse_or_error("growth_graph", text)


@SETTINGS
@given(valid_graphs(), st.booleans())
def test_valid_graphs_round_trip(graph: tuple, ascii_only: bool) -> None:
    doc, step, x, wanted = graph
    parsed = parse_or_error("languages_graph", json.dumps(doc, ensure_ascii=ascii_only))
    assert parsed is not None
    assert parsed.step is step
    assert parsed.x == tuple(x)
    got = {s.column_id: (s.key, s.values) for s in parsed.series}
    assert got == wanted
    for column_id, (_, values) in wanted.items():
        series = next(s for s in parsed.series if s.column_id == column_id)
        assert [type(v) for v in series.values] == [type(v) for v in values]
    points = list(daily_points(parsed))
    if step is XStep.DAILY:
        first = date(1970, 1, 1) + timedelta(milliseconds=x[0])
        expected_days = {first + timedelta(days=i) for i in range(len(x))}
        assert {day for day, _, _ in points} == (expected_days if wanted else set())
        assert len(points) == len(x) * len(wanted)
        for day, metric, value in points:
            _, values = next(v for v in wanted.values() if f"languages.{v[0]}" == metric)
            assert values[(day - first).days] == value
    else:
        assert points == []


def _mutate(draw: st.DrawFn, node: object) -> object:
    """Replace one randomly chosen node of a JSON tree by random JSON (or delete it)."""
    if isinstance(node, dict) and node and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(node)))
        copy = dict(node)
        if draw(st.booleans()):
            del copy[key]
        else:
            copy[key] = _mutate(draw, node[key])
        return copy
    if isinstance(node, list) and node and draw(st.booleans()):
        index = draw(st.integers(min_value=0, max_value=len(node) - 1))
        copy = list(node)
        if draw(st.booleans()):
            del copy[index]
        else:
            copy[index] = _mutate(draw, node[index])
        return copy
    return draw(JSON)


@st.composite
def mutated_graphs(draw: st.DrawFn) -> str:
    doc = draw(valid_graphs())[0]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        doc = _mutate(draw, doc)
    text = json.dumps(doc)
    how = draw(st.sampled_from(["as is", "truncate", "nan", "null"]))
    if how == "truncate":
        return text[: draw(st.integers(min_value=0, max_value=len(text)))]
    if how == "nan":
        return text.replace("1", "NaN", 1)
    if how == "null":
        return text.replace(",", ",null,", 1)
    return text


@SETTINGS
@given(mutated_graphs())
def test_mutated_graphs_give_a_graph_or_the_typed_error(data: str) -> None:
    parse_or_error("views_by_source_graph", data)


@SETTINGS
@given(st.text(max_size=400))
def test_every_key_is_short_storable_and_trimmed(name: str) -> None:
    key = series_key(name)
    assert len(key) <= 120
    key.encode("utf-8")  # no lone surrogate left
    assert not key.startswith("_") and not key.endswith("_")
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in key)
    if len(key) == 120 and key[111] == "~":
        assert re.fullmatch(r"[0-9a-f]{8}", key[112:])
