"""Graph parsing on real payloads (Telegram's 2019 chart contest) and on the hard cases.

The figures asserted on the real payloads were read by hand from the JSON files in
testdata/chart-contest-2019/ (first and last x, converted with ``date -u``, and the values
of each column at those positions).
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest

from tgstats_dagster.telegram.graphs import (
    GraphFormatError,
    ParsedGraph,
    XStep,
    daily_points,
    metric_name,
    parse_graph,
    series_key,
)

CONTEST = Path(__file__).resolve().parent / "testdata" / "chart-contest-2019"
DAY_MS = 86_400_000
# 2026-11-01 00:00 UTC in ms
NOV_1 = 1_793_491_200_000


def contest(name: str, field: str = "growth_graph") -> ParsedGraph:
    return parse_graph(field, (CONTEST / name).read_text(encoding="utf-8"))


def payload(columns: list, types: dict, names: dict | None = None, **extra: object) -> str:
    doc: dict = {"columns": columns, "types": types}
    if names is not None:
        doc["names"] = names
    doc.update(extra)
    return json.dumps(doc, ensure_ascii=False)


def daily(values_by_id: dict[str, list], names: dict[str, str], days: int | None = None) -> str:
    count = days if days is not None else len(next(iter(values_by_id.values())))
    x = ["x", *(NOV_1 + i * DAY_MS for i in range(count))]
    types = {"x": "x", **{column_id: "line" for column_id in values_by_id}}
    columns = [x, *([column_id, *values] for column_id, values in values_by_id.items())]
    return payload(columns, types, names)


# --- real payloads ------------------------------------------------------------------------


def test_overview_1_joined_left_daily() -> None:
    graph = contest("overview_1.json", "followers_graph")
    assert graph.step is XStep.DAILY
    assert len(graph.x) == 365
    assert [(s.column_id, s.name, s.key, s.type) for s in graph.series] == [
        ("y0", "Joined", "joined", "line"),
        ("y1", "Left", "left", "line"),
    ]
    assert graph.series[0].color == "#4BD964"
    points = {(day, metric): value for day, metric, value in daily_points(graph)}
    assert len(points) == 730
    # first x 1523059200000 = 2018-04-07, last x 1554508800000 = 2019-04-06
    assert points[date(2018, 4, 7), "followers.joined"] == 930
    assert points[date(2018, 4, 7), "followers.left"] == 1060
    assert points[date(2019, 4, 6), "followers.joined"] == 2930
    assert points[date(2019, 4, 6), "followers.left"] == 2590
    # x[100] = 1531699200000 = 2018-07-16, y0[100] = 1370
    assert points[date(2018, 7, 16), "followers.joined"] == 1370
    assert min(day for day, _ in points) == date(2018, 4, 7)
    assert max(day for day, _ in points) == date(2019, 4, 6)


def test_overview_2_y_scaled_views_shares() -> None:
    graph = contest("overview_2.json", "interactions_graph")
    assert graph.step is XStep.DAILY and graph.y_scaled and not graph.stacked
    assert [s.key for s in graph.series] == ["views", "shares"]
    assert graph.series[0].values[0] == 272400 and graph.series[0].values[-1] == 683800
    assert graph.series[1].values[0] == 12360 and graph.series[1].values[-1] == 35310
    assert graph.metric(graph.series[0]) == "interactions.views"


def test_overview_3_seven_stacked_bars() -> None:
    graph = contest("overview_3.json", "views_by_source_graph")
    assert graph.step is XStep.DAILY and graph.stacked and not graph.percentage
    assert len(graph.series) == 7
    assert {s.type for s in graph.series} == {"bar"}
    assert [s.key for s in graph.series] == [
        "apples",
        "oranges",
        "lemons",
        "apricots",
        "kiwi",
        "mango",
        "pears",
    ]
    firsts = [s.values[0] for s in graph.series]
    lasts = [s.values[-1] for s in graph.series]
    assert firsts == [12360, 9850, 13730, 930, 2090, 2520, 120]
    assert lasts == [35310, 30180, 27010, 2930, 4530, 4530, 210]
    assert len(list(daily_points(graph))) == 7 * 365


def test_overview_4_single_bar() -> None:
    graph = contest("overview_4.json", "views_graph")
    assert graph.step is XStep.DAILY
    assert [(s.key, s.type) for s in graph.series] == [("views", "bar")]
    points = list(daily_points(graph))
    assert points[0] == (date(2018, 4, 7), "views.views", 30600800)
    assert points[-1] == (date(2019, 4, 6), "views.views", 21370000)


def test_overview_5_percentage_stacked_area() -> None:
    graph = contest("overview_5.json", "languages_graph")
    assert graph.step is XStep.DAILY and graph.percentage and graph.stacked
    assert len(graph.series) == 6 and {s.type for s in graph.series} == {"area"}
    # percentage: the values are absolute counts, kept as sent
    assert [s.values[0] for s in graph.series] == [34310, 13730, 10200, 2000, 5480, 4770]
    assert [s.values[-1] for s in graph.series] == [28870, 27010, 9850, 2260, 4970, 1660]


def test_zoom_1_hourly_168_points_has_no_daily_points() -> None:
    graph = contest("zoom_1_2018-04-11.json", "followers_graph")
    assert graph.step is XStep.HOURLY and graph.step.step == 3_600_000
    assert len(graph.x) == 168
    # 1523145600000 = 2018-04-08 00:00 UTC, 1523746800000 = 2018-04-14 23:00 UTC
    assert graph.x[0] == 1523145600000 and graph.x[-1] == 1523746800000
    assert graph.series[1].values[0] == 20 and graph.series[1].values[-1] == 50
    assert list(daily_points(graph)) == []


def test_zoom_4_five_minute_288_points() -> None:
    graph = contest("zoom_4_2018-04-11.json", "views_graph")
    assert graph.step is XStep.FIVE_MINUTE and graph.step.step == 300_000
    assert len(graph.x) == 288
    # 1523404800000 = 2018-04-11 00:00 UTC, 1523490900000 = 2018-04-11 23:55 UTC
    assert graph.x[0] == 1523404800000 and graph.x[-1] == 1523490900000
    assert [s.key for s in graph.series] == ["11_april", "10_april", "04_april"]
    assert [s.values[0] for s in graph.series] == [12800, 13800, 23000]
    assert list(daily_points(graph)) == []


def test_every_contest_payload_parses() -> None:
    files = sorted(CONTEST.glob("*.json"))
    assert len(files) == 7
    for path in files:
        graph = parse_graph("growth_graph", path.read_text(encoding="utf-8"))
        assert all(len(s.values) == len(graph.x) for s in graph.series)


# --- metric names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "name", "metric"),
    [
        ("growth_graph", "Total followers", "growth.total_followers"),
        ("followers_graph", "Joined", "followers.joined"),
        ("views_by_source_graph", "URL", "views_by_source.url"),
        ("languages_graph", "Portuguese (Brazil)", "languages.portuguese_brazil"),
        ("languages_graph", "Русский", "languages.русский"),
        ("reactions_by_emotion_graph", "👍", "reactions_by_emotion.👍"),
        ("views_by_source_graph", "  Private   chats!! ", "views_by_source.private_chats"),
        ("actions_graph", "Deleted\tmessages", "actions.deleted_messages"),
        ("views_by_source_graph", "A-B/C", "views_by_source.a_b_c"),
    ],
)
def test_metric_names(field: str, name: str, metric: str) -> None:
    graph = parse_graph(field, daily({"y0": [1, 2]}, {"y0": name}))
    assert graph.metric(graph.series[0]) == metric
    assert metric_name(field, series_key(name)) == metric


def test_empty_names_use_the_column_id() -> None:
    graph = parse_graph(
        "reactions_by_emotion_graph",
        daily({"y0": [1, 2], "y1": [3, 4], "y2": [5, 6]}, {"y0": "", "y1": "!!!", "y2": "❤"}),
    )
    assert [s.key for s in graph.series] == ["y0", "y1", "❤"]
    assert [s.name for s in graph.series] == ["", "!!!", "❤"]


def test_missing_name_uses_the_column_id() -> None:
    graph = parse_graph("mute_graph", daily({"y0": [1, 2], "y1": [3, 4]}, {"y1": "Muted"}))
    assert [(s.name, s.key) for s in graph.series] == [("", "y0"), ("Muted", "muted")]


def test_duplicate_keys_use_the_column_ids() -> None:
    graph = parse_graph(
        "views_by_source_graph",
        daily(
            {"y0": [1, 2], "y1": [3, 4], "y2": [5, 6]},
            {"y0": "Other", "y1": "other!", "y2": "Search"},
        ),
    )
    assert [s.key for s in graph.series] == ["y0", "y1", "search"]


def test_a_name_that_looks_like_a_fallback_column_id_gives_way() -> None:
    # y0 is named "Y1" (key y1), y1 has no name (key falls back to y1): both use their ids.
    graph = parse_graph("g_graph", daily({"y0": [1, 2], "y1": [3, 4]}, {"y0": "Y1", "y1": ""}))
    assert [s.key for s in graph.series] == ["y0", "y1"]


# --- shapes -------------------------------------------------------------------------------


def test_reordered_columns_x_not_first() -> None:
    x = ["x", NOV_1, NOV_1 + DAY_MS, NOV_1 + 2 * DAY_MS]
    data = payload(
        [["y1", 7, 8, 9], x, ["y0", 1, 2, 3]],
        {"y0": "line", "y1": "line", "x": "x"},
        {"y1": "Left", "y0": "Joined"},
    )
    graph = parse_graph("followers_graph", data)
    assert graph.step is XStep.DAILY
    assert {s.key: s.values for s in graph.series} == {"left": (7, 8, 9), "joined": (1, 2, 3)}
    points = set(daily_points(graph))
    assert (date(2026, 11, 3), "followers.left", 9) in points
    assert (date(2026, 11, 1), "followers.joined", 1) in points
    assert len(points) == 6


def test_top_hours_is_an_hour_index() -> None:
    data = payload(
        [["x", *range(24)], ["y0", *range(100, 124)]],
        {"x": "x", "y0": "line"},
        {"y0": "Online"},
        xTickFormatter="statsFormatDayHour",
    )
    graph = parse_graph("top_hours_graph", data)
    assert graph.step is XStep.HOUR_INDEX and graph.step.step == 1
    assert graph.x == tuple(range(24))
    assert list(daily_points(graph)) == []


def test_weekdays_is_a_weekday_index() -> None:
    data = payload([["x", *range(7)], ["y0", *range(7)]], {"x": "x", "y0": "bar"}, {"y0": "M"})
    assert parse_graph("weekdays_graph", data).step is XStep.WEEKDAY_INDEX
    # the same axis in another graph is an hour index (hours 0..6 only)
    assert parse_graph("top_hours_graph", data).step is XStep.HOUR_INDEX


def test_weekly_step() -> None:
    week = 7 * DAY_MS
    data = payload(
        [["x", *(NOV_1 + i * week for i in range(5))], ["y0", 1, 2, 3, 4, 5]],
        {"x": "x", "y0": "bar"},
        {"y0": "Views"},
    )
    graph = parse_graph("views_graph", data)
    assert graph.step is XStep.WEEKLY
    assert list(daily_points(graph)) == []


def test_a_missing_day_keeps_a_daily_graph_daily() -> None:
    x = ["x", NOV_1, NOV_1 + DAY_MS, NOV_1 + 3 * DAY_MS]
    graph = parse_graph("growth_graph", payload([x, ["y0", 10, 11, 13]], {"x": "x", "y0": "line"}))
    assert graph.step is XStep.DAILY
    assert [day for day, _, _ in daily_points(graph)] == [
        date(2026, 11, 1),
        date(2026, 11, 2),
        date(2026, 11, 4),
    ]


@pytest.mark.parametrize(
    "x",
    [
        [NOV_1, NOV_1 + DAY_MS, NOV_1 + 2 * DAY_MS + 3_600_000],  # 1 day, then 25 h
        [NOV_1, NOV_1 + 90_000_000, NOV_1 + 180_000_000],  # 25 hours: no known step
        [0, 1, 30],  # step 1 beyond 23
    ],
)
def test_irregular_steps_parse_without_daily_points(x: list[int]) -> None:
    graph = parse_graph(
        "growth_graph", payload([["x", *x], ["y0", 1, 2, 3]], {"x": "x", "y0": "line"})
    )
    assert graph.step is XStep.IRREGULAR and graph.step.step is None
    assert list(daily_points(graph)) == []


@pytest.mark.parametrize("x", [[], [NOV_1]])
def test_fewer_than_two_points_is_an_empty_graph(x: list[int]) -> None:
    values = [5] * len(x)
    graph = parse_graph(
        "growth_graph", payload([["x", *x], ["y0", *values]], {"x": "x", "y0": "line"})
    )
    assert graph.step is XStep.EMPTY
    assert graph.x == tuple(x) and graph.series[0].values == tuple(values)
    assert list(daily_points(graph)) == []


def test_daily_x_not_at_midnight_goes_to_its_utc_day() -> None:
    evening = NOV_1 + 21 * 3_600_000  # 2026-11-01 21:00 UTC
    x = ["x", evening, evening + DAY_MS]
    graph = parse_graph("growth_graph", payload([x, ["y0", 1, 2]], {"x": "x", "y0": "line"}))
    assert [day for day, _, _ in daily_points(graph)] == [date(2026, 11, 1), date(2026, 11, 2)]


def test_production_keys() -> None:
    formatter = "function(x){return this.formatDate(x, {weekday: 'short'})}"
    data = payload(
        [["x", NOV_1, NOV_1 + DAY_MS], ["y0", 5, 6], ["y1", 1, 2]],
        {"x": "x", "y0": "line", "y1": "line"},
        {"y0": "Views", "y1": "Shares"},
        colors={"y0": "BLUE#007AFF", "y1": "#E8AF14"},
        title="Interactions",
        y_scaled=True,
        hidden=["y1"],
        subchart={"show": True, "defaultZoom": [NOV_1, NOV_1 + DAY_MS]},
        strokeWidth=2,
        tooltipSort=True,
        xTickFormatter=formatter,
        xTooltipFormatter="statsFormat('day')",
        yTooltipFormatter="statsFormat('number')",
    )
    graph = parse_graph("interactions_graph", data)
    assert graph.title == "Interactions"
    assert graph.y_scaled and not graph.stacked and not graph.percentage
    assert graph.hidden == ("y1",)
    assert [s.color for s in graph.series] == ["BLUE#007AFF", "#E8AF14"]
    assert dict(graph.formatters) == {
        "xTickFormatter": formatter,
        "xTooltipFormatter": "statsFormat('day')",
        "yTooltipFormatter": "statsFormat('number')",
    }


def test_formatters_are_never_evaluated() -> None:
    # JavaScript that would fail (or worse) if anything ran it: it is only data.
    evil = "(function(){throw new Error('ran')})()"
    data = payload(
        [["x", NOV_1, NOV_1 + DAY_MS], ["y0", 1, 2]],
        {"x": "x", "y0": "bar"},
        xTickFormatter=evil,
        stacked=True,
    )
    graph = parse_graph("views_by_source_graph", data)
    assert dict(graph.formatters)["xTickFormatter"] == evil and graph.stacked


def test_float_stays_float_and_huge_int_stays_exact() -> None:
    huge = 2**80 + 1
    data = daily({"y0": [1.5, 2.0], "y1": [huge, 0]}, {"y0": "Rate", "y1": "Big"})
    graph = parse_graph("g_graph", data)
    rate, big = graph.series
    assert rate.values == (1.5, 2.0) and all(type(v) is float for v in rate.values)
    assert big.values == (huge, 0) and type(big.values[0]) is int
    assert (date(2026, 11, 1), "g.big", huge) in set(daily_points(graph))


# --- malformed ----------------------------------------------------------------------------

GOOD_X = ["x", NOV_1, NOV_1 + DAY_MS]


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ("not json", "not valid JSON"),
        ("", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        ('"text"', "not a JSON object"),
        ("null", "not a JSON object"),
        ('{"types": {"x": "x"}}', "'columns'"),
        ('{"columns": [["x", 1, 2]]}', "'types'"),
        (payload([["y0", 1, 2]], {"y0": "line"}), "exactly one x column, found 0"),
        (payload([GOOD_X, ["x2", 1, 2]], {"x": "x", "x2": "x"}), "found 2"),
        (payload([GOOD_X, ["y0", 1]], {"x": "x", "y0": "line"}), "has 1 values"),
        (payload([GOOD_X, ["y0", 1, 2]], {"x": "x", "y0": "pie"}), "unknown type"),
        (payload([GOOD_X, ["y0", 1, 2]], {"x": "x", "y0": 3}), "unknown type"),
        (payload([GOOD_X, ["y0", 1, 2]], {"x": "x"}), "has no type"),
        (payload([GOOD_X, ["y0", 1, None]], {"x": "x", "y0": "line"}), "not a number"),
        (payload([GOOD_X, ["y0", 1, True]], {"x": "x", "y0": "line"}), "not a number"),
        (payload([GOOD_X, ["y0", 1, "2"]], {"x": "x", "y0": "line"}), "not a number"),
        (payload([GOOD_X, ["y0", 1, [2]]], {"x": "x", "y0": "line"}), "not a number"),
        (payload([["x", NOV_1, 1.5]], {"x": "x"}), "not an integer"),
        (payload([["x", NOV_1, False]], {"x": "x"}), "not an integer"),
        (payload([["x", NOV_1, NOV_1]], {"x": "x"}), "appears twice"),
        (payload([["x", NOV_1 + DAY_MS, NOV_1]], {"x": "x"}), "not increasing"),
        (payload([GOOD_X, ["y0", 1, 2], ["y0", 3, 4]], {"x": "x", "y0": "line"}), "twice"),
        (payload([GOOD_X], {"x": "x", "y0": "line"}), "'types' names column 'y0'"),
        (payload([GOOD_X], {"x": "x"}, {"y3": "Ghost"}), "'names' names column 'y3'"),
        (payload([GOOD_X, ["y0", 1, 2]], {"x": "x", "y0": "line"}, {"y0": 7}), "not a string"),
        (payload([GOOD_X, [1, 2, 3]], {"x": "x"}), "column 1"),
        (payload([GOOD_X, ["", 2, 3]], {"x": "x"}), "column 1"),
        (payload([GOOD_X, "y0"], {"x": "x"}), "column 1"),
        (payload([GOOD_X], {"x": "x"}, y_scaled="yes"), "'y_scaled'"),
        (payload([GOOD_X], {"x": "x"}, title=5), "'title'"),
        (payload([GOOD_X], {"x": "x"}, hidden="y0"), "'hidden'"),
        (payload([GOOD_X], {"x": "x"}, xTickFormatter=["f"]), "'xTickFormatter'"),
        (payload([GOOD_X], {"x": "x"}, colors=["#fff"]), "'colors'"),
        (payload([["x", 10**17, 10**17 + DAY_MS]], {"x": "x"}), "outside the calendar"),
        ('{"columns": [["x", 1, 2], ["y0", 1, NaN]], "types": {}}', "NaN"),
        ('{"columns": [["x", 1, 2], ["y0", 1, Infinity]], "types": {}}', "Infinity"),
        ('{"columns": [["x", 1, 2], ["y0", 1, -Infinity]], "types": {}}', "Infinity"),
        ('{"columns": [["x", 1, 2], ["y0", 1, 1e999]], "types": {}}', "finite"),
        ('{"columns": [["x", 1, 2], ["y0", "\\ud800", 1]]}', "'types'"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"a": ' * 50_000 + "1" + "}" * 50_000, "nested too deeply"),
        ('{"columns": [["x", 1, ' + "9" * 5000 + "]]}", "not valid JSON"),
    ],
)
def test_malformed_payloads_raise_one_typed_error(data: str, problem: str) -> None:
    with pytest.raises(GraphFormatError) as caught:
        parse_graph("growth_graph", data)
    assert caught.value.field == "growth_graph"
    assert "growth_graph" in str(caught.value)
    assert problem in str(caught.value)


def test_a_lone_surrogate_in_a_name_stays_in_the_name_not_in_the_key() -> None:
    data = '{"columns": [["x", 1, 2], ["y0", 1, 2]], "types": {"x": "x", "y0": "line"},'
    data += ' "names": {"y0": "Views \\ud800 total"}}'
    graph = parse_graph("growth_graph", data)
    assert graph.series[0].name == "Views \ud800 total"
    assert graph.series[0].key == "views_total"
    graph.series[0].key.encode("utf-8")  # storable


def test_a_nul_in_a_name_no_longer_rejects_the_graph() -> None:
    graph = parse_graph("growth_graph", daily({"y0": [1, 2]}, {"y0": "a\x00b"}))
    assert (graph.series[0].name, graph.series[0].key) == ("a\x00b", "a_b")


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("a\x00b", "a_b"),
        ("\x00Total\x1ffollowers\x7f", "total_followers"),
        ("Line\x85break\x9fend", "line_break_end"),
        ("tab\t\x0bvt", "tab_vt"),
        ("\ud83d", ""),  # a lone high surrogate: nothing storable is left
        ("\udc4d like", "like"),
        ("👍", "👍"),
        ("❤️ Love", "❤️_love"),
    ],
)
def test_control_characters_and_lone_surrogates_separate_like_whitespace(
    name: str, key: str
) -> None:
    assert series_key(name) == key


def test_emoji_names_are_kept_as_metric_keys() -> None:
    graph = parse_graph(
        "reactions_by_emotion_graph", daily({"y0": [1, 2], "y1": [3, 4]}, {"y0": "👍", "y1": "🔥"})
    )
    assert [graph.metric(s) for s in graph.series] == [
        "reactions_by_emotion.👍",
        "reactions_by_emotion.🔥",
    ]


def test_a_very_long_name_is_cut_with_a_hash_of_the_whole_key() -> None:
    name = ("Word " * 600)[:3000]
    whole = "_".join(["word"] * 600)  # what the key would be uncut
    key = series_key(name)
    assert len(name) == 3000 and len(key) == 120
    assert key == whole[:111] + "~" + hashlib.sha1(whole.encode("utf-8")).hexdigest()[:8]
    graph = parse_graph("languages_graph", daily({"y0": [1, 2]}, {"y0": name}))
    assert graph.series[0].key == key and graph.series[0].name == name


def test_long_names_that_differ_only_at_the_end_keep_distinct_keys() -> None:
    first, second = "x" * 200 + "a", "x" * 200 + "b"
    assert series_key(first) != series_key(second)
    assert series_key(first)[:111] == series_key(second)[:111] == "x" * 111
    assert len(series_key("é" * 120)) == 120 and series_key("é" * 120) == "é" * 120
    assert series_key("é" * 121).endswith(
        "~" + hashlib.sha1(("é" * 121).encode("utf-8")).hexdigest()[:8]
    )


def test_a_non_string_payload_is_rejected() -> None:
    with pytest.raises(GraphFormatError, match="not a JSON string"):
        parse_graph("growth_graph", b'{"columns": []}')  # type: ignore[arg-type]
