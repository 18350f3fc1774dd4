"""Dagster records what changed: a refresh materializes the days that are new or changed and
the new snapshots, nothing else; a backfill still materializes all it asks for."""

from __future__ import annotations

import io
import json
import uuid
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import text

from tgstats_dagster.cli.instance import open_instance
from tgstats_dagster.cli.load import load
from tgstats_dagster.cli.runner import execute
from tgstats_dagster.definitions import build_definitions
from tgstats_dagster.partitions import STATS_PEER, PeerDay
from tgstats_dagster.runs import SNAPSHOTS_JOB, changed_days, changed_days_tag, days_tag
from tgstats_dagster.settings import load_settings
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster_tests.pipeline.conftest import CHANNEL, END_DAY, GROUP, NO_RIGHTS
from tgstats_dagster_tests.pipeline.expected import expected_daily

pytestmark = pytest.mark.storage

RAW, DAILY = dg.AssetKey("stats_raw"), dg.AssetKey("channel_daily")
FIGURES = dg.AssetKey("stats_figures")
FIRST = END_DAY - timedelta(days=29)
PEERS = (CHANNEL, GROUP, NO_RIGHTS)


def _materializations(instance: dg.DagsterInstance, key: dg.AssetKey) -> Counter[str]:
    """Partition -> how many times it was materialized."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key), limit=10_000
    ).records
    return Counter(str(r.asset_materialization.partition) for r in records)


def _asset_events(instance: dg.DagsterInstance) -> int:
    return sum(sum(_materializations(instance, key).values()) for key in instance.get_asset_keys())


def _load(instance, peers=PEERS, *, only_changed: bool, first=FIRST, last=END_DAY):
    out = io.StringIO()
    result = load(load_settings(), instance, peers, first, last, out, only_changed=only_changed)
    return result, out.getvalue()


def _revise(scenario: Path, peer: str, days: list[date], by: int = 7) -> None:
    """Telegram recounts: every series of the peer's growth graph changes on ``days``."""
    path = scenario / peer / "graphs" / "growth_graph.json"
    graph = json.loads(path.read_text())
    xs = graph["columns"][0][1:]
    for column in graph["columns"][1:]:
        for i, x in enumerate(xs, start=1):
            if date(1970, 1, 1) + timedelta(milliseconds=x) in days:
                column[i] += by
    path.write_text(json.dumps(graph))


def test_a_refresh_that_changed_nothing_materializes_nothing(
    instance, pipeline_env, use_scenario, monkeypatch
) -> None:
    result, _ = _load(instance, only_changed=False)
    assert all(r.acceptable for r in result.reports)
    before = _asset_events(instance)
    # The snapshots are fresh: reused, nothing fetched, nothing materialized.
    result, out = _load(instance, only_changed=True)
    assert "2 peer(s) checked, nothing changed" in out
    assert [r.status for r in result.reports] == ["unchanged", "unchanged", "skipped"]
    assert _asset_events(instance) == before
    snapshot_runs = instance.get_runs(dg.RunsFilter(job_name=SNAPSHOTS_JOB))
    assert snapshot_runs[0].status == dg.DagsterRunStatus.SUCCESS
    assert changed_days(snapshot_runs[0].tags, instance.get_dynamic_partitions(STATS_PEER)) == {}

    # Fetched again, the same figures: the new snapshots are recorded once each, no day.
    monkeypatch.setenv("TGSTATS_SNAPSHOT_MAX_AGE_HOURS", "0")
    daily_before = _materializations(instance, DAILY)
    result, out = _load(instance, only_changed=True)
    assert "nothing changed" in out
    assert _materializations(instance, DAILY) == daily_before
    assert _materializations(instance, RAW) == Counter({CHANNEL: 2, GROUP: 2})
    assert _materializations(instance, FIGURES) == Counter({CHANNEL: 2, GROUP: 2})


def test_two_revised_days_of_three_peers_materialize_exactly_those(
    instance, pipeline_env, monkeypatch, loadable_scenario
) -> None:
    monkeypatch.setenv("TGSTATS_TELEGRAM_REPLAY", str(loadable_scenario))
    with open_instance(load_settings()) as instance:
        _load(instance, only_changed=False)
        daily_before = _materializations(instance, DAILY)
        assert sum(daily_before.values()) == 3 * 30
        revised = [END_DAY - timedelta(days=3), END_DAY - timedelta(days=2)]
        for peer in PEERS:
            _revise(loadable_scenario, peer, revised)
        monkeypatch.setenv("TGSTATS_SNAPSHOT_MAX_AGE_HOURS", "0")
        result, out = _load(instance, only_changed=True)
        assert all(r.acceptable for r in result.reports), out
        new = _materializations(instance, DAILY) - daily_before
        assert set(new) == {str(PeerDay(p, d).key) for p in PEERS for d in revised}
        assert set(new.values()) == {1}
        # The rows of those days hold the revised values; the other days did not move.
        with make_engine(pipeline_env["TGSTATS_DATABASE_URL"]).connect() as conn:
            updated = conn.execute(
                text(
                    "SELECT DISTINCT peer_key, day FROM channel_daily "
                    "WHERE updated_at > (SELECT min(updated_at) + interval '1 second' "
                    "FROM channel_daily)"
                )
            ).all()
        assert {(p, d) for p, d in updated} == {(p, d) for p in PEERS for d in revised}
        daily_runs = instance.get_runs(dg.RunsFilter(job_name="telegram_stats_job"))
        assert len(daily_runs) == 1  # the backfill's: the refresh recorded its days itself
        [refresh] = instance.get_runs(dg.RunsFilter(job_name=SNAPSHOTS_JOB), limit=1)
        recorded = {
            str(e.asset_materialization.partition)
            for e in instance.all_logs(
                refresh.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
            )
            if e.asset_materialization.asset_key == DAILY
        }
        assert recorded == set(new)


def test_a_backfill_materializes_every_partition_it_asks_for(instance, pipeline_env) -> None:
    _load(instance, only_changed=False)
    _load(instance, only_changed=False)
    daily = _materializations(instance, DAILY)
    expected = {
        str(PeerDay(p, FIRST + timedelta(days=n)).key) for p in (CHANNEL, GROUP) for n in range(30)
    }
    assert set(daily) == expected
    assert set(daily.values()) == {2}
    # The snapshots were reused by the second backfill: one materialization per snapshot.
    assert _materializations(instance, RAW) == Counter({CHANNEL: 1, GROUP: 1})


def test_the_schedules_run_records_the_changed_days_in_one_run(
    instance, pipeline_env, use_scenario, monkeypatch
) -> None:
    _load(instance, only_changed=False)
    revised = END_DAY - timedelta(days=1)
    _revise(use_scenario, CHANNEL, [revised])
    monkeypatch.setenv("TGSTATS_SNAPSHOT_MAX_AGE_HOURS", "0")
    defs = build_definitions(load_settings())
    tick = dg.build_schedule_context(
        instance=instance, scheduled_execution_time=datetime.now(timezone.utc)
    )
    [request] = defs.resolve_schedule_def("daily_stats_refresh").evaluate_tick(tick).run_requests
    daily_before = _materializations(instance, DAILY)
    outcome = execute(defs.resolve_job_def(SNAPSHOTS_JOB), instance, request.tags)
    assert outcome.success
    run = instance.get_run_by_id(outcome.run_id)
    order = instance.get_dynamic_partitions(STATS_PEER)
    assert changed_days(run.tags, order) == {(revised, revised): [CHANNEL]}
    # The tick's one run wrote and recorded the revised day, and nothing else.
    key = str(PeerDay(CHANNEL, revised).key)
    assert _materializations(instance, DAILY) - daily_before == Counter({key: 1})
    with make_engine(pipeline_env["TGSTATS_DATABASE_URL"]).connect() as conn:
        stored = dict(
            conn.execute(
                text(
                    "SELECT metric, value FROM channel_daily WHERE peer_key = :p AND day = :d"
                    " AND metric LIKE 'growth.%'"
                ),
                {"p": CHANNEL, "d": revised},
            ).all()
        )
    revised_values = expected_daily(use_scenario, CHANNEL, [revised])
    assert stored == {m: v for (_, m), v in revised_values.items() if m.startswith("growth.")}
    success = next(
        e.dagster_event
        for e in instance.all_logs(outcome.run_id)
        if e.dagster_event is not None
        and e.dagster_event.event_type == dg.DagsterEventType.RUN_SUCCESS
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="telegram_changes_sensor",
        dagster_event=success,
        dagster_instance=instance,
        dagster_run=run,
    )
    # No daily run is asked for; the report of the changed channel is.
    skipped = defs.resolve_sensor_def("telegram_changes_sensor")(context)
    assert "recorded its changes itself" in str(skipped)
    context = dg.build_run_status_sensor_context(
        sensor_name="telegram_report_sensor",
        dagster_event=success,
        dagster_instance=instance,
        dagster_run=run,
    )
    [report] = defs.resolve_sensor_def("telegram_report_sensor")(context)
    assert report.tags["dagster/asset_partition_range_start"] == CHANNEL
    assert report.tags["dagster/asset_partition_range_end"] == CHANNEL


def test_the_changes_sensor_materializes_the_changed_days_of_a_snapshots_run_from_the_ui(
    instance, pipeline_env, use_scenario, monkeypatch
) -> None:
    _load(instance, only_changed=False)
    revised = END_DAY - timedelta(days=1)
    _revise(use_scenario, CHANNEL, [revised])
    monkeypatch.setenv("TGSTATS_SNAPSHOT_MAX_AGE_HOURS", "0")
    defs = build_definitions(load_settings())
    tags = {
        "dagster/asset_partition_range_start": CHANNEL,
        "dagster/asset_partition_range_end": CHANNEL,
        **days_tag(revised, revised),
    }
    outcome = execute(defs.resolve_job_def(SNAPSHOTS_JOB), instance, tags)
    assert outcome.success
    run = instance.get_run_by_id(outcome.run_id)
    success = next(
        e.dagster_event
        for e in instance.all_logs(outcome.run_id)
        if e.dagster_event is not None
        and e.dagster_event.event_type == dg.DagsterEventType.RUN_SUCCESS
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="telegram_changes_sensor",
        dagster_event=success,
        dagster_instance=instance,
        dagster_run=run,
    )
    [daily] = defs.resolve_sensor_def("telegram_changes_sensor")(context)
    key = str(PeerDay(CHANNEL, revised).key)
    assert daily.tags["dagster/asset_partition_range_start"] == key
    assert daily.tags["dagster/asset_partition_range_end"] == key
    assert daily.tags["tgstats/changes_of"] == outcome.run_id


@pytest.mark.parametrize("every", [1, 2], ids=["all-changed", "every-other-changed"])
def test_the_changes_tag_of_a_thousand_peers_fits_the_run_storage(instance, every: int) -> None:
    peers = [f"channel_{index:04d}" for index in range(1000)]
    days = [END_DAY - timedelta(days=n) for n in range(30)]
    changed = {peer: days if index % 7 else days[:3] for index, peer in enumerate(peers)}
    changed = {peer: changed[peer] for peer in peers[::every]}
    run = dg.DagsterRun(job_name=SNAPSHOTS_JOB, run_id=str(uuid.uuid4()))
    instance.add_run(run)
    instance.add_run_tags(run.run_id, changed_days_tag(changed, peers))
    stored = changed_days(instance.get_run_by_id(run.run_id).tags, peers)
    covered = {
        peer: {
            d
            for (first, last), held in stored.items()
            if peer in held
            for d in days
            if first <= d <= last
        }
        for peer in peers
    }
    assert all(set(changed[peer]) <= covered[peer] for peer in changed)
