"""The assets end to end: real Dagster runs, PostgreSQL storage, the offline Telegram."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import text

from tgstats_dagster.automation import RANGE_END, RANGE_START
from tgstats_dagster.backfill import run_backfill
from tgstats_dagster.definitions import build_definitions
from tgstats_dagster.jobs import PEERS_JOB, STATS_JOB
from tgstats_dagster.partitions import PEER, stats_key
from tgstats_dagster.settings import load_settings
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster_tests.pipeline.conftest import (
    CHANNEL,
    END_DAY,
    GROUP,
    NO_RIGHTS,
    replay_requests,
)
from tgstats_dagster_tests.pipeline.expected import expected_daily

pytestmark = pytest.mark.storage


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _stored(database_url: str, peer: str) -> dict[tuple[date, str], Decimal]:
    with make_engine(database_url).connect() as conn:
        rows = conn.execute(
            text("SELECT day, metric, value FROM channel_daily WHERE peer_key = :p"), {"p": peer}
        ).all()
    return {(day, metric): value for day, metric, value in rows}


def _run_peers(defs: dg.Definitions, instance: dg.DagsterInstance, *peers: str) -> None:
    instance.add_dynamic_partitions(PEER, list(peers))
    for peer in peers:
        result = defs.resolve_job_def(PEERS_JOB).execute_in_process(
            instance=instance, partition_key=peer
        )
        assert result.success


def _run_range(defs, instance, first: tuple[str, date], last: tuple[str, date], **kwargs):
    return defs.resolve_job_def(STATS_JOB).execute_in_process(
        instance=instance,
        tags={RANGE_START: str(stats_key(*first)), RANGE_END: str(stats_key(*last))},
        **kwargs,
    )


def test_definitions_are_loadable(pipeline_env, use_scenario) -> None:
    defs = build_definitions(load_settings())
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("stats_raw")).parent_keys == {dg.AssetKey("telegram_peers")}
    assert graph.get(dg.AssetKey("channel_daily")).parent_keys == {dg.AssetKey("stats_raw")}
    for key in ("telegram_peers", "stats_raw", "channel_daily"):
        node = graph.get(dg.AssetKey(key))
        assert node.group_name == "telegram_stats"
        assert node.description
        assert "postgres" in node.kinds


def test_one_partition(instance, use_scenario: Path, database_url: str) -> None:
    defs = build_definitions(load_settings())
    _run_peers(defs, instance, CHANNEL)
    day = END_DAY - timedelta(days=3)
    result = defs.resolve_job_def(STATS_JOB).execute_in_process(
        instance=instance, partition_key=str(stats_key(CHANNEL, day))
    )
    assert result.success
    expected = expected_daily(use_scenario, CHANNEL, [day])
    assert expected, "the scenario must have daily graphs"
    assert _stored(database_url, CHANNEL) == expected
    materialized = instance.get_materialized_partitions(dg.AssetKey("channel_daily"))
    assert materialized == {str(stats_key(CHANNEL, day))}


def test_range_run_across_three_peers(
    pipeline_env, monkeypatch, loadable_scenario: Path, database_url: str
) -> None:
    monkeypatch.setenv("TGSTATS_TELEGRAM_REPLAY", str(loadable_scenario))
    from tgstats_dagster.instance import open_instance

    with open_instance(load_settings()) as instance:
        defs = build_definitions(load_settings())
        _run_peers(defs, instance, CHANNEL, GROUP, NO_RIGHTS)
        first, last = END_DAY - timedelta(days=4), END_DAY
        result = _run_range(defs, instance, (CHANNEL, first), (NO_RIGHTS, last))
        assert result.success
        assert len(instance.get_materialized_partitions(dg.AssetKey("channel_daily"))) == 15
    for peer in (CHANNEL, GROUP, NO_RIGHTS):
        assert _stored(database_url, peer) == expected_daily(
            loadable_scenario, peer, _days(first, last)
        )


def test_backfill_of_53_days_fetches_once_per_peer(instance, pipeline_env, database_url) -> None:
    settings = load_settings()
    first, last = END_DAY - timedelta(days=52), END_DAY
    reports = run_backfill(settings, instance, database_url, settings.peers, first, last)
    status = {r.peer: r.status for r in reports}
    assert status == {CHANNEL: "loaded", GROUP: "loaded", NO_RIGHTS: "skipped"}

    requests = replay_requests(Path(pipeline_env["TGSTATS_REPLAY_LOG"]))
    stats = [r for r in requests if r["request"].startswith(("GetBroadcast", "GetMegagroup"))]
    assert len([r for r in stats if r["peer"] == CHANNEL]) <= 2  # one more if DC 4 is learnt
    assert len([r for r in stats if r["peer"] == GROUP]) == 1
    assert not [r for r in stats if r["peer"] == NO_RIGHTS]
    assert not [
        r
        for r in requests
        if "LoadAsyncGraph" in r["request"] and r["dc"] != 4 and r["peer"] == CHANNEL
    ]
    assert len(requests) <= 30

    scenario = Path(pipeline_env["TGSTATS_TELEGRAM_REPLAY"])
    for peer in (CHANNEL, GROUP):
        assert _stored(database_url, peer) == expected_daily(scenario, peer, _days(first, last))
    assert _stored(database_url, NO_RIGHTS) == {}
    materialized = instance.get_materialized_partitions(dg.AssetKey("stats_raw"))
    assert not [key for key in materialized if key.endswith(f"|{NO_RIGHTS}")]
    assert len(materialized) == 2 * 53


def test_unchanged_rerun_rewrites_nothing(instance, pipeline_env, database_url) -> None:
    settings = load_settings()
    first, last = END_DAY - timedelta(days=9), END_DAY
    run_backfill(settings, instance, database_url, (CHANNEL,), first, last)
    with make_engine(database_url).connect() as conn:
        before = conn.execute(
            text("SELECT channel_id, day, metric, xmin::text FROM channel_daily")
        ).all()
        raw_before = conn.execute(text("SELECT count(*) FROM stats_raw")).scalar_one()
    log = Path(pipeline_env["TGSTATS_REPLAY_LOG"])
    requests_before = len(replay_requests(log))

    reports = run_backfill(settings, instance, database_url, (CHANNEL,), first, last)
    assert [r.status for r in reports] == ["loaded"]
    with make_engine(database_url).connect() as conn:
        after = conn.execute(
            text("SELECT channel_id, day, metric, xmin::text FROM channel_daily")
        ).all()
        raw_after = conn.execute(text("SELECT count(*) FROM stats_raw")).scalar_one()
    assert sorted(after) == sorted(before)  # same rows, same row versions: nothing rewritten
    assert raw_after == raw_before
    new = replay_requests(log)[requests_before:]
    assert not [r for r in new if r["request"].startswith(("GetBroadcast", "LoadAsync"))]


def test_peer_without_rights_is_skipped_and_others_go_on(instance, database_url) -> None:
    defs = build_definitions(load_settings())
    _run_peers(defs, instance, NO_RIGHTS, GROUP)
    day = END_DAY - timedelta(days=1)
    skipped = _run_range(defs, instance, (NO_RIGHTS, day), (NO_RIGHTS, day))
    assert skipped.success
    assert not skipped.asset_materializations_for_node("stats_raw")
    loaded = _run_range(defs, instance, (GROUP, day), (GROUP, day))
    assert loaded.asset_materializations_for_node("channel_daily")
    assert instance.get_materialized_partitions(dg.AssetKey("channel_daily")) == {
        str(stats_key(GROUP, day))
    }


def test_flags_off_write_nothing_and_say_why(instance, monkeypatch, database_url, capsys) -> None:
    monkeypatch.setenv("MTPROTO_STATS_ENABLED", "false")
    settings = load_settings()
    defs = build_definitions(settings)
    instance.add_dynamic_partitions(PEER, [CHANNEL])
    result = defs.resolve_job_def(PEERS_JOB).execute_in_process(
        instance=instance, partition_key=CHANNEL
    )
    assert result.success
    assert not result.asset_materializations_for_node("telegram_peers")
    warnings = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if "MTPROTO_STATS_ENABLED is off" in (e.user_message or "")
    ]
    assert warnings
    with make_engine(database_url).connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM telegram_peers")).scalar_one() == 0


def test_instance_is_postgres(instance) -> None:
    assert type(instance.run_storage).__name__ == "PostgresRunStorage"
    assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"


def test_long_flood_wait_becomes_a_retry(
    instance, monkeypatch, use_scenario: Path, database_url: str
) -> None:
    (use_scenario / "scenario.json").write_text(
        '{"home_dc": 2, "faults": [{"request": "GetMegagroupStatsRequest", '
        '"error": "FLOOD_WAIT_2", "times": 1}]}'
    )
    monkeypatch.setenv("MTPROTO_FLOOD_SLEEP_THRESHOLD", "1")
    defs = build_definitions(load_settings())
    _run_peers(defs, instance, GROUP)
    day = END_DAY - timedelta(days=2)
    result = _run_range(defs, instance, (GROUP, day), (GROUP, day))
    assert result.success
    retries = [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    assert len(retries) == 1
    assert retries[0].event_specific_data.seconds_to_wait == 2
    assert _stored(database_url, GROUP) == expected_daily(use_scenario, GROUP, [day])


def test_days_outside_the_window_warn_and_have_no_rows(instance, database_url) -> None:
    defs = build_definitions(load_settings())
    _run_peers(defs, instance, GROUP)
    first, last = END_DAY - timedelta(days=1), END_DAY + timedelta(days=2)
    result = _run_range(defs, instance, (GROUP, first), (GROUP, last))
    assert result.success
    (check,) = [
        c for c in result.get_asset_check_evaluations() if c.check_name == "covers_requested_days"
    ]
    assert not check.passed
    assert check.severity == dg.AssetCheckSeverity.WARN
    outside = check.metadata["outside_window"].value
    assert outside == {GROUP: "2026-11-16..2026-11-17"}
    assert {day for day, _ in _stored(database_url, GROUP)} == {first, END_DAY}


def test_a_peer_without_rights_in_a_multi_peer_run_is_named(instance, database_url) -> None:
    defs = build_definitions(load_settings())
    _run_peers(defs, instance, CHANNEL, GROUP, NO_RIGHTS)
    day = END_DAY
    result = _run_range(defs, instance, (GROUP, day), (NO_RIGHTS, day), raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.user_failure_data.description
    assert NO_RIGHTS in message and "no stats rights" in message.lower()
    # The group's snapshot was kept: running it alone fetches nothing from Telegram again.
    with make_engine(database_url).connect() as conn:
        kept = conn.execute(
            text("SELECT count(*) FROM stats_snapshots WHERE peer_key = :p"), {"p": GROUP}
        ).scalar_one()
    assert kept == 1
    assert _run_range(defs, instance, (GROUP, day), (GROUP, day)).success


def test_secrets_never_reach_logs_metadata_or_tables(
    instance, monkeypatch, pipeline_env, database_url
) -> None:
    session, api_hash = "1BVtsOK4Bu0-secret-session-string", "0123456789abcdef-secret-hash"
    monkeypatch.setenv("TG_SESSION", session)
    monkeypatch.setenv("TG_API_HASH", api_hash)
    monkeypatch.setenv("TG_API_ID", "12345")
    settings = load_settings()
    run_backfill(settings, instance, database_url, settings.peers, END_DAY, END_DAY)
    with make_engine(database_url).connect() as conn:
        dumped = [
            str(row)
            for table in ("event_logs", "runs", "telegram_peers", "stats_raw", "stats_snapshots")
            for row in conn.execute(text(f"SELECT * FROM {table}")).all()
        ]
    assert len(dumped) > 10
    for secret in (session, api_hash):
        assert not [row for row in dumped if secret in row]


def test_a_failing_peer_does_not_hold_the_others_back(
    instance, use_scenario: Path, pipeline_env, database_url
) -> None:
    (use_scenario / "scenario.json").write_text(
        '{"home_dc": 2, "faults": [{"request": "GetBroadcastStatsRequest", "code": 400, '
        '"error": "STATS_BROKEN", "times": 20}]}'
    )
    settings = load_settings()
    reports = run_backfill(settings, instance, database_url, settings.peers, END_DAY, END_DAY)
    by_peer = {r.peer: r for r in reports}
    assert by_peer[CHANNEL].status == "failed"
    assert "STATS_BROKEN" in by_peer[CHANNEL].detail
    assert by_peer[GROUP].status == "loaded"
    assert by_peer[NO_RIGHTS].status == "skipped"
    assert _stored(database_url, GROUP) == expected_daily(use_scenario, GROUP, [END_DAY])
    # The group's snapshot from the failed joint run was reused when it ran alone.
    requests = replay_requests(Path(pipeline_env["TGSTATS_REPLAY_LOG"]))
    assert len([r for r in requests if r["request"] == "GetMegagroupStatsRequest"]) == 1
