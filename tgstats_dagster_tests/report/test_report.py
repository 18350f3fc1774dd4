"""The report: the data behind each chart is the warehouse's rows for that channel (read
back here with plain queries), left-out charts say why, and the page and the overview are
self-contained and small. Real PostgreSQL, the project's migrations."""

from __future__ import annotations

import base64
import io
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tgstats_dagster.cli.report import run_report
from tgstats_dagster.report import (
    NoReport,
    Report,
    draw_report,
    history_version,
    overview_markdown,
)
from tgstats_dagster.settings import load_settings
from tgstats_dagster.warehouse import migrations
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster_tests.databases import scratch_database
from tgstats_dagster_tests.report import rows

pytestmark = pytest.mark.storage

CHANNEL, BARE, GROUP, NO_RIGHTS = 501, 502, 503, 504
DAYS = 400
#: Which channel_daily metrics each chart draws, by prefix (the n-th prefix on panel n).
CHANNEL_CHARTS = {
    "audience": ("growth", "followers"),
    "views": ("interactions",),
    "views_by_source": ("views_by_source",),
    "followers_by_source": ("new_followers_by_source",),
    "languages": ("languages",),
    "notifications": ("mute",),
    "reactions": ("reactions_by_emotion",),
    "revenue": ("revenue_stars", "revenue_ton"),
}
GROUP_CHARTS = {
    "audience": ("growth", "members"),
    "messages": ("messages",),
    "actions": ("actions",),
    "members_by_source": ("new_members_by_source",),
    "languages": ("languages",),
}
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?\s*(?:[a-z]+:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def engine(pg_admin_url: str) -> Iterator[sa.Engine]:
    """One migrated database for the module: a full channel, a bare one, a supergroup, and
    a channel without stats rights."""
    with scratch_database(pg_admin_url, "tgstats_report") as url:
        migrations.upgrade(url)
        engine = make_engine(url)
        rows.full_channel(engine, CHANNEL, DAYS)
        rows.peer(engine, BARE)
        rows.daily(engine, BARE, ("growth.total_followers", "followers.joined"), 30)
        rows.peer(engine, GROUP, kind="megagroup")
        rows.daily(engine, GROUP, rows.GROUP_METRICS, 60)
        rows.top_hours(engine, GROUP)
        rows.tops(engine, GROUP)
        rows.peer(engine, NO_RIGHTS, can_view_stats=False)
        rows.daily(engine, NO_RIGHTS, ("growth.total_followers",), 10)
        yield engine
        engine.dispose()


@pytest.fixture(scope="module")
def reports(engine: sa.Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[int, Report]:
    out = tmp_path_factory.mktemp("reports")
    return {c: draw_report(engine, c, out) for c in (CHANNEL, BARE, GROUP)}


def _daily_rows(engine: sa.Engine, channel_id: int) -> dict[str, list[tuple[Any, Decimal]]]:
    grouped: dict[str, list[tuple[Any, Decimal]]] = defaultdict(list)
    with engine.connect() as c:
        for metric, day, value in c.execute(
            sa.text("SELECT metric, day, value FROM channel_daily WHERE channel_id = :c"),
            {"c": channel_id},
        ):
            grouped[metric].append((day, value))
    return {metric: sorted(points) for metric, points in grouped.items()}


def _plotted(report: Report, charts: dict[str, tuple[str, ...]]) -> dict[str, list]:
    """metric -> the (day, value) points a chart plots, named back by its panel's prefix."""
    plotted = {}
    for key, prefixes in charts.items():
        for s in report.chart(key).series:
            plotted[f"{prefixes[s.panel]}.{s.name}"] = list(zip(s.x, s.y, strict=True))
    return plotted


@pytest.mark.parametrize(
    ("channel_id", "charts"), [(CHANNEL, CHANNEL_CHARTS), (GROUP, GROUP_CHARTS)]
)
def test_daily_charts_plot_every_row_of_the_channel(
    engine: sa.Engine, reports: dict[int, Report], channel_id: int, charts: dict
) -> None:
    expected = _daily_rows(engine, channel_id)
    assert _plotted(reports[channel_id], charts) == expected
    assert len(expected) > 5 and all(len(points) > 50 for points in expected.values())


def test_hours_chart_is_the_newest_top_hours_and_the_hourly_means(
    engine: sa.Engine, reports: dict[int, Report]
) -> None:
    chart = reports[CHANNEL].chart("hours")
    newest = {"columns": [["x", *range(24)], ["y0", *(h * 3 for h in range(24))]]}
    top = [s for s in chart.series if s.panel == 0]
    assert [(s.name, list(s.x), list(s.y)) for s in top] == [
        ("Online", list(range(24)), newest["columns"][1][1:])
    ]
    with engine.connect() as c:
        hourly = c.execute(
            sa.text("SELECT hour, value FROM channel_hourly WHERE channel_id = :c AND metric = :m"),
            {"c": CHANNEL, "m": "interactions.views"},
        ).all()
    by_hour: dict[int, list[Decimal]] = defaultdict(list)
    for hour, value in hourly:
        by_hour[hour.hour].append(value)
    means = [s for s in chart.series if s.panel == 1]
    # growth.* is cumulative: it has no mean by hour and is not drawn.
    assert [s.name for s in means] == ["interactions.views"]
    assert list(means[0].x) == sorted(by_hour)
    assert [float(v) for v in means[0].y] == pytest.approx(
        [float(sum(v) / len(v)) for _, v in sorted(by_hour.items())]
    )


def test_best_posts_are_the_most_viewed_with_their_timelines(
    engine: sa.Engine, reports: dict[int, Report]
) -> None:
    chart = reports[CHANNEL].chart("best_posts")
    with engine.connect() as c:
        posts = c.execute(
            sa.text(
                "SELECT kind, post_id, views FROM posts WHERE channel_id = :c"
                " ORDER BY views DESC, published_at DESC"
            ),
            {"c": CHANNEL},
        ).all()
        timeline = c.execute(
            sa.text(
                "SELECT kind, post_id, metric, ts, value FROM post_timeline"
                " WHERE channel_id = :c AND metric LIKE 'views.%'"
            ),
            {"c": CHANNEL},
        ).all()
    bars = chart.series[0]
    assert list(bars.y) == [p.views for p in posts[:10]]
    assert [x.split()[0] for x in bars.x] == [
        f"{'story' if p.kind == 'story' else '#' + str(p.post_id)}" for p in posts[:10]
    ]
    first = {(p.kind, p.post_id) for p in posts[:5]}
    expected = defaultdict(list)
    for kind, post_id, metric, ts, value in sorted(timeline):
        if (kind, post_id) in first:
            label = f"story {post_id}" if kind == "story" else f"#{post_id}"
            expected[f"{label} {metric}"].append((ts, value))
    plotted = {s.name: list(zip(s.x, s.y, strict=True)) for s in chart.series if s.panel == 1}
    assert plotted == dict(expected) and len(plotted) == 10
    assert len(chart.table) == 11


def test_forwards_chart_counts_forwards_by_channel(
    engine: sa.Engine, reports: dict[int, Report]
) -> None:
    chart = reports[CHANNEL].chart("forwards")
    with engine.connect() as c:
        counts = c.execute(
            sa.text(
                "SELECT max(title), max(username), count(*), sum(views) FROM post_forwards"
                " WHERE channel_id = :c GROUP BY source_channel_id"
            ),
            {"c": CHANNEL},
        ).all()
    expected = {
        (f"{title} (@{username})" if username else title): (count, views)
        for title, username, count, views in counts
    }
    bars = chart.series[0]
    assert dict(zip(bars.x, bars.y, strict=True)) == {k: v[0] for k, v in expected.items()}
    # Most forwards first; a tie goes to the forwards with more views.
    assert list(bars.x) == sorted(expected, key=lambda k: (-expected[k][0], -expected[k][1]))
    assert len(bars.x) == 4 and "Forwarder 0 <b>" in bars.x


def test_revenue_chart_and_newest_balances(reports: dict[int, Report]) -> None:
    chart = reports[CHANNEL].chart("revenue")
    assert {s.name for s in chart.series} == {"revenue"} and len(chart.series) == 2
    _, *balances = chart.table
    assert [(row[0], row[2]) for row in balances] == [("stars", "42"), ("ton", "42")]


def test_channel_without_posts_or_revenue_leaves_those_charts_out(
    reports: dict[int, Report],
) -> None:
    report = reports[BARE]
    assert set(report.notes) == {
        "views",
        "views_by_source",
        "followers_by_source",
        "languages",
        "notifications",
        "reactions",
        "hours",
        "best_posts",
        "forwards",
        "revenue",
    }
    assert "no posts kept" in report.notes["best_posts"]
    assert "not monetized" in report.notes["revenue"]
    assert all(not c.series for c in report.charts if not c.drawn)
    page = report.html_path.read_text(encoding="utf-8")
    assert 'id="best_posts"' not in page and 'id="audience"' in page
    assert "Left out" in page and "not monetized" in page
    assert page.count("<svg") == 2  # the overview and the audience chart: no empty frame


def test_supergroup_gets_its_own_charts(reports: dict[int, Report]) -> None:
    report = reports[GROUP]
    assert [c.key for c in report.drawn] == [*GROUP_CHARTS, "hours", "top_posters"]
    top = report.chart("top_posters")
    # The newest snapshot's members only, in Telegram's order.
    assert list(top.series[0].x) == [
        "Member 1 (@m1)",
        "Member 2",
        "Member 3 (@m3)",
        "Member 4",
        "Member 5 (@m5)",
    ]
    assert list(top.series[0].y) == [490, 480, 470, 460, 450]
    assert "best_posts" not in {c.key for c in report.charts}


def test_no_report_without_stats_rights(engine: sa.Engine, tmp_path: Path) -> None:
    with pytest.raises(NoReport, match="can_view_stats is false"):
        draw_report(engine, NO_RIGHTS, tmp_path)
    with pytest.raises(NoReport, match="not in telegram_peers"):
        draw_report(engine, 999, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_page_is_self_contained_and_escapes_text(reports: dict[int, Report]) -> None:
    page = reports[CHANNEL].html_path.read_text(encoding="utf-8")
    assert not EXTERNAL.search(page)
    assert "<script" not in page.lower() and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "function(x)" not in page  # Telegram's formatter strings are never shown
    assert "<h1>Channel &lt;501&gt; &amp; co</h1>" in page
    # Emoji stay text in the SVG: the reader's browser draws them.
    assert "👍" in page and page.count("<svg") == len(reports[CHANNEL].drawn) + 1


def test_overview_is_small_valid_svg(reports: dict[int, Report]) -> None:
    for report in reports.values():
        svg = report.overview_svg
        assert len(svg.encode("utf-8")) < 8 * 1024
        root = ET.fromstring(svg)
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert report.overview_path.read_text(encoding="utf-8") == svg
    lines = ET.fromstring(reports[CHANNEL].overview_svg).iter(
        "{http://www.w3.org/2000/svg}polyline"
    )
    assert max(len(line.get("points", "").split()) for line in lines) == 60  # 400 days sampled


def test_overview_markdown_embeds_the_svg(reports: dict[int, Report]) -> None:
    markdown = overview_markdown(reports[CHANNEL])
    match = re.fullmatch(r"!\[([^\]]*)\]\(data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert match is not None
    assert base64.b64decode(match.group(2)).decode("utf-8") == reports[CHANNEL].overview_svg


def test_report_command_writes_under_home_and_skips_no_rights(
    engine: sa.Engine, tmp_path: Path
) -> None:
    url = engine.url.render_as_string(hide_password=False).replace("+psycopg", "")
    settings = load_settings({"TGSTATS_DATABASE_URL": url, "TGSTATS_HOME": str(tmp_path)})
    out, err = io.StringIO(), io.StringIO()
    status = run_report(settings, None, None, out, err)
    lines = out.getvalue().splitlines()
    assert status == 0 and err.getvalue() == ""
    assert lines[-1].startswith("peer504: skipped:") and "can_view_stats is false" in lines[-1]
    for channel_id in (CHANNEL, BARE, GROUP):
        assert (
            f"peer{channel_id}: {tmp_path / 'reports' / f'peer{channel_id}.html'}" in out.getvalue()
        )
    assert not (tmp_path / "reports" / "peer504.html").exists()


def test_report_command_line(engine: sa.Engine, tmp_path: Path) -> None:
    url = engine.url.render_as_string(hide_password=False).replace("+psycopg", "")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "tgstats_dagster.cli",
            "report",
            "--peers",
            "peer503,@nobody",
            "--out",
            str(tmp_path),
        ],
        env={"TGSTATS_DATABASE_URL": url, "TGSTATS_HOME": str(tmp_path / "home"), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.strip() == f"peer503: {tmp_path / 'peer503.html'} (7 charts)"
    assert "nobody: no such peer in the warehouse" in done.stderr


def test_history_version_moves_only_when_the_channel_rows_change(engine: sa.Engine) -> None:
    other, fresh = history_version(engine, CHANNEL), 505
    empty = history_version(engine, fresh)
    rows.daily(engine, fresh, ("growth.total_followers",), 5)
    loaded = history_version(engine, fresh)
    assert loaded != empty and history_version(engine, fresh) == loaded
    with engine.begin() as c:
        c.execute(
            sa.text(
                "UPDATE channel_daily SET value = value + 1, updated_at = now()"
                " WHERE channel_id = :c AND day = :d"
            ),
            {"c": fresh, "d": rows.FIRST_DAY + timedelta(days=1)},
        )
    assert history_version(engine, fresh) not in (empty, loaded)
    assert history_version(engine, CHANNEL) == other
