"""Each snapshot's figures, posts' interactions and tops, end to end: real Dagster runs,
PostgreSQL storage, the offline Telegram serving them as TL objects.

The expected values are read here from the scenario's ``stats.json`` (not with the
production rules), so that a bug in those rules cannot agree with itself.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import text

from tgstats_dagster.cli import main
from tgstats_dagster.cli.load import load
from tgstats_dagster.definitions import build_definitions
from tgstats_dagster.runs import SNAPSHOTS_JOB
from tgstats_dagster.settings import load_settings
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster_tests.pipeline.conftest import CHANNEL, END_DAY, GROUP, NO_RIGHTS

pytestmark = pytest.mark.storage

RAW = dg.AssetKey("stats_raw")
FIGURE_ASSETS = ("stats_figures", "post_interactions", "megagroup_tops")
TABLE_KEYS = {
    "stats_figures": "channel_id, fetched_at, figure",
    "post_interactions": "channel_id, fetched_at, kind, post_id",
    "megagroup_tops": "channel_id, fetched_at, top, user_id",
}


def _json(scenario: Path, peer: str, name: str) -> dict[str, Any]:
    return json.loads((scenario / peer / name).read_text(encoding="utf-8"))


def _rows(database_url: str, sql: str, **params: Any) -> list[tuple]:
    with make_engine(database_url).connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql), params).all()]


def _versions(database_url: str) -> dict[str, list[tuple]]:
    """Every row of the three tables with its row version: equal means nothing was written."""
    return {
        table: _rows(database_url, f"SELECT {key}, xmin::text FROM {table} ORDER BY {key}")
        for table, key in TABLE_KEYS.items()
    }


def _number(value: float) -> Decimal:
    return Decimal(str(value))


def _latest(instance: dg.DagsterInstance, asset: str, peer: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[peer]), limit=1
    ).records
    assert records, f"{asset} {peer} is not materialized"
    return {k: v.value for k, v in records[0].asset_materialization.metadata.items()}


def _snapshots_run(instance: dg.DagsterInstance, result) -> str:
    """The id of the (last) snapshots run of a load: the figures are materialized there."""
    return next(
        run.run_id
        for run in reversed(result.runs)
        if instance.get_run_by_id(run.run_id).job_name == SNAPSHOTS_JOB
    )


def _checks(instance: dg.DagsterInstance, run_id: str) -> dict[tuple[str, str], bool]:
    out = {}
    for event in instance.all_logs(run_id):
        if event.dagster_event and event.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.dagster_event.asset_check_evaluation_data
            out[data.asset_key.to_user_string(), data.check_name] = data.passed
    return out


def _backfill(instance: dg.DagsterInstance, first: date, last: date):
    settings = load_settings()
    result = load(settings, instance, settings.peers, first, last)
    status = {r.peer: r.status for r in result.reports}
    assert status[CHANNEL] in ("loaded", "reused", "unchanged")
    assert status[NO_RIGHTS] == "skipped"
    assert all(run.success for run in result.runs)
    return result


def test_a_backfill_keeps_every_figure_interaction_and_top(
    instance, pipeline_env, database_url
) -> None:
    scenario = Path(pipeline_env["TGSTATS_TELEGRAM_REPLAY"])
    first, last = END_DAY - timedelta(days=13), END_DAY
    result = _backfill(instance, first, last)

    channel_id = _json(scenario, CHANNEL, "peer.json")["id"]
    group_id = _json(scenario, GROUP, "peer.json")["id"]
    no_rights_id = _json(scenario, NO_RIGHTS, "peer.json")["id"]
    channel, group = _json(scenario, CHANNEL, "stats.json"), _json(scenario, GROUP, "stats.json")

    # Headline figures: every one of the scenario's, with the snapshot's period.
    stored = {
        (cid, figure): (current, previous, part, total, start, end)
        for cid, figure, current, previous, part, total, start, end in _rows(
            database_url,
            "SELECT channel_id, figure, current, previous, part, total, period_start, period_end"
            " FROM stats_figures",
        )
    }
    wanted = {}
    for cid, stats in ((channel_id, channel), (group_id, group)):
        period = tuple(
            datetime.fromtimestamp(stats["period"][k], tz=timezone.utc)
            for k in ("min_date", "max_date")
        )
        for name, value in stats.items():
            if isinstance(value, dict) and name != "period":
                numbers = [value.get(k) for k in ("current", "previous", "part", "total")]
                wanted[cid, name] = (*(None if n is None else _number(n) for n in numbers), *period)
    assert stored == wanted
    assert {f for c, f in stored if c == channel_id} >= {"followers", "views_per_story"}

    # Posts and stories, as the scenario lists them.
    posts = _rows(
        database_url,
        "SELECT kind, post_id, views, forwards, reactions FROM post_interactions"
        " WHERE channel_id = :c",
        c=channel_id,
    )
    expected_posts = [
        (
            "story" if p["_"] == "PostInteractionCountersStory" else "message",
            p["story_id"] if p["_"] == "PostInteractionCountersStory" else p["msg_id"],
            p["views"],
            p["forwards"],
            p["reactions"],
        )
        for p in channel["recent_posts_interactions"]
    ]
    assert sorted(posts) == sorted(expected_posts)
    assert {kind for kind, *_ in posts} == {"message", "story"}

    # The supergroup's tops, ranked, each member named from the response's users.
    users = {u["id"]: u for u in group["users"]}
    tops = _rows(
        database_url,
        "SELECT top, rank, user_id, messages, avg_chars, deleted, kicked, banned, invitations,"
        " first_name, last_name, username FROM megagroup_tops WHERE channel_id = :c",
        c=group_id,
    )
    counters = ("messages", "avg_chars", "deleted", "kicked", "banned", "invitations")
    expected_tops = [
        (
            top,
            rank,
            member["user_id"],
            *(member.get(c) for c in counters),
            *(users[member["user_id"]].get(n) for n in ("first_name", "last_name", "username")),
        )
        for top in ("posters", "admins", "inviters")
        for rank, member in enumerate(group[f"top_{top}"], start=1)
    ]
    assert sorted(tops) == sorted(expected_tops)
    assert any(row[-1] for row in tops) and any(row[-1] is None for row in tops)

    # The channel has no tops, the peer without rights has no row anywhere.
    for table in FIGURE_ASSETS:
        assert not _rows(
            database_url, f"SELECT 1 FROM {table} WHERE channel_id = :c", c=no_rights_id
        )
    assert not _rows(
        database_url, "SELECT 1 FROM megagroup_tops WHERE channel_id = :c", c=channel_id
    )
    for asset in FIGURE_ASSETS:
        # One materialization per snapshot, for the peers with stats rights only.
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {CHANNEL, GROUP}

    # Each partition's materialization describes its peer's snapshot.
    about = _latest(instance, "stats_figures", CHANNEL)
    followers = channel["followers"]
    assert about["followers"] == followers["current"]
    assert about["followers_change"] == followers["current"] - followers["previous"]
    assert about["dagster/partition_row_count"] == len([k for k in wanted if k[0] == channel_id])
    assert _latest(instance, "stats_figures", GROUP)["members"] == group["members"]["current"]
    stories = sum(p[0] == "story" for p in expected_posts)
    about_posts = _latest(instance, "post_interactions", CHANNEL)
    assert (about_posts["posts"], about_posts["stories"]) == (len(posts) - stories, stories)
    about_tops = _latest(instance, "megagroup_tops", GROUP)
    assert about_tops["top_posters"] == len(group["top_posters"])
    assert about_tops["top_inviters"] == len(group["top_inviters"])
    assert "no tops" in _latest(instance, "megagroup_tops", CHANNEL)["note"]

    checks = _checks(instance, _snapshots_run(instance, result))
    for asset in FIGURE_ASSETS:
        assert checks[asset, "counts_not_negative"] is True
    assert checks["stats_figures", "required_figures"] is True

    # A second backfill adds no row and rewrites none.
    before = _versions(database_url)
    _backfill(instance, first, last)
    assert _versions(database_url) == before


def test_a_snapshot_stored_without_its_figures_gets_them_on_the_next_run(
    instance, pipeline_env, database_url
) -> None:
    """A run that ended between storing a snapshot and writing its figures loses nothing:
    the next run over the peer writes them, whichever snapshot its days hold."""
    last = END_DAY
    _backfill(instance, last, last)
    complete = _versions(database_url)
    with make_engine(database_url).begin() as conn:
        for table in FIGURE_ASSETS:
            conn.execute(text(f"DELETE FROM {table}"))
    _backfill(instance, last - timedelta(days=1), last - timedelta(days=1))
    refilled = _versions(database_url)
    for table in FIGURE_ASSETS:
        assert [r[:-1] for r in refilled[table]] == [r[:-1] for r in complete[table]]


def test_the_lineage_runs_from_the_raw_snapshot(pipeline_env, use_scenario) -> None:
    graph = build_definitions(load_settings()).resolve_asset_graph()
    for name in FIGURE_ASSETS:
        node = graph.get(dg.AssetKey(name))
        assert node.parent_keys == {RAW}
        assert node.group_name == "telegram_stats"
        assert {"postgres", "pandas"} <= set(node.kinds)
        assert node.description and f"`{name}`" in node.description
        assert node.partitions_def == graph.get(RAW).partitions_def


def _readme_queries() -> list[str]:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Example queries", 1)[1].split("\n## ", 1)[0]
    return [block.split("```", 1)[0] for block in section.split("```sql\n")[1:]]


def test_the_readme_example_queries_answer_on_loaded_data(
    instance, pipeline_env, capsys: pytest.CaptureFixture[str]
) -> None:
    queries = _readme_queries()
    assert len(queries) == 3
    _backfill(instance, END_DAY - timedelta(days=2), END_DAY)
    capsys.readouterr()
    for query in queries:
        assert main(["db", "sql", query]) == 0
        printed = capsys.readouterr().out
        lines = printed.strip().splitlines()
        assert lines[-1].endswith("rows)") and lines[-1] != "(0 rows)", printed
    assert main(["db", "sql", "DELETE FROM stats_figures"]) == 1
    assert "read-only" in capsys.readouterr().err


def test_negative_counts_fail_their_checks_and_are_kept(
    instance, use_scenario: Path, database_url
) -> None:
    """Telegram sending a negative count is a data problem to see, not one to hide."""
    path = use_scenario / CHANNEL / "stats.json"
    stats = json.loads(path.read_text(encoding="utf-8"))
    stats["views_per_post"]["previous"] = -1.5
    stats["recent_posts_interactions"][0]["forwards"] = -3
    path.write_text(json.dumps(stats), encoding="utf-8")
    result = _backfill(instance, END_DAY, END_DAY)

    checks = _checks(instance, _snapshots_run(instance, result))
    assert checks["stats_figures", "counts_not_negative"] is False
    assert checks["post_interactions", "counts_not_negative"] is False
    assert checks["megagroup_tops", "counts_not_negative"] is True
    examples = {}
    for event in instance.all_logs(_snapshots_run(instance, result)):
        if event.dagster_event and event.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.dagster_event.asset_check_evaluation_data
            if data.check_name == "counts_not_negative":
                examples[data.asset_key.to_user_string()] = data.metadata["examples"].value
    assert examples["stats_figures"] == [f"{CHANNEL} views_per_post"]
    first = stats["recent_posts_interactions"][0]
    assert examples["post_interactions"] == [f"{CHANNEL} message {first['msg_id']}"]
    kept = _rows(
        database_url,
        "SELECT previous FROM stats_figures WHERE figure = 'views_per_post'",
    )
    assert kept == [(Decimal("-1.5"),)]
