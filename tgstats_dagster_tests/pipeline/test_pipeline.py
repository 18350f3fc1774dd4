"""The assets end to end: real Dagster runs, PostgreSQL storage, the offline Telegram."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from sqlalchemy import text

from tgstats_dagster.cli.load import load
from tgstats_dagster.cli.runner import execute
from tgstats_dagster.definitions import build_definitions
from tgstats_dagster.partitions import PEER, STATS_PEER, PeerDay, range_tags, stats_range_tags
from tgstats_dagster.runs import (
    PEERS_JOB,
    SNAPSHOTS_JOB,
    STATS_JOB,
    TELEGRAM_REQUESTS_TAG,
    days_tag,
)
from tgstats_dagster.settings import load_settings
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster_tests.pipeline.conftest import (
    CHANNEL,
    END_DAY,
    GROUP,
    NO_RIGHTS,
    replay_requests,
    stats_requests,
)
from tgstats_dagster_tests.pipeline.expected import expected_daily

pytestmark = pytest.mark.storage

RAW, DAILY = dg.AssetKey("stats_raw"), dg.AssetKey("channel_daily")
CONNECTION_SET_UP = {
    "GetConfigRequest",
    "GetUsersRequest",
    "GetStateRequest",
    "GetDifferenceRequest",
    "ExportAuthorizationRequest",
    "ImportAuthorizationRequest",
}


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _stored(database_url: str, peer: str) -> dict[tuple[date, str], Decimal]:
    with make_engine(database_url).connect() as conn:
        rows = conn.execute(
            text("SELECT day, metric, value FROM channel_daily WHERE peer_key = :p"), {"p": peer}
        ).all()
    return {(day, metric): value for day, metric, value in rows}


def _key(peer: str, day: date) -> str:
    return str(PeerDay(peer, day).key)


def _load_peers(defs: dg.Definitions, instance: dg.DagsterInstance, *peers: str):
    instance.add_dynamic_partitions(PEER, list(peers))
    job = defs.resolve_job_def(PEERS_JOB)
    return execute(job, instance, range_tags(peers[0], peers[-1]))


def _stats(defs, instance, first_peer, last_peer, first: date, last: date):
    """The snapshots run of the peers, then the daily run of the days: both outcomes."""
    snapshots = execute(
        defs.resolve_job_def(SNAPSHOTS_JOB),
        instance,
        {**range_tags(first_peer, last_peer), **days_tag(first, last)},
    )
    daily = execute(
        defs.resolve_job_def(STATS_JOB),
        instance,
        stats_range_tags(first_peer, last_peer, first, last),
    )
    return snapshots, daily


def _latest(instance, key: dg.AssetKey, partition: str) -> dict:
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    assert records, f"{key.to_user_string()} {partition} is not materialized"
    return records[0].asset_materialization.metadata


def test_definitions_are_loadable_and_show_the_lineage(pipeline_env, use_scenario) -> None:
    defs = build_definitions(load_settings())
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    assert graph.get(RAW).parent_keys == {dg.AssetKey("telegram_peers")}
    assert graph.get(DAILY).parent_keys == {RAW}
    for key in ("telegram_peers", "stats_raw", "channel_daily"):
        node = graph.get(dg.AssetKey(key))
        assert node.group_name == "telegram_stats"
        assert node.description
        assert "postgres" in node.kinds
    # The UI's Resources tab says what the loader talks to.
    mode = defs.resources["telegram"].mode
    assert mode.startswith("on, over the offline Telegram") and str(use_scenario) in mode


def test_peer_entities_of_all_peers_in_one_run_and_the_stats_partitions(
    instance, pipeline_env, database_url
) -> None:
    defs = build_definitions(load_settings())
    outcome = _load_peers(defs, instance, CHANNEL, GROUP, NO_RIGHTS)
    assert outcome.success
    # Only the peers with stats rights are stats partitions.
    assert instance.get_dynamic_partitions(STATS_PEER) == [CHANNEL, GROUP]
    norights = _latest(instance, dg.AssetKey("telegram_peers"), NO_RIGHTS)
    assert norights["can_view_stats"].value is False
    channel = _latest(instance, dg.AssetKey("telegram_peers"), CHANNEL)
    assert channel["can_view_stats"].value is True and channel["stats_dc"].value == 4
    (check,) = [
        e.dagster_event.asset_check_evaluation_data
        for e in instance.all_logs(outcome.run_id)
        if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert not check.passed and NO_RIGHTS in check.description
    # One connection: Telethon's set-up once for the whole run.
    log = Path(pipeline_env["TGSTATS_REPLAY_LOG"])
    assert len([r for r in replay_requests(log) if r["request"] == "GetConfigRequest"]) == 1


def test_backfill_of_53_days_in_two_runs_fetches_once_per_peer(
    instance, pipeline_env, database_url
) -> None:
    settings = load_settings()
    first, last = END_DAY - timedelta(days=52), END_DAY
    result = load(settings, instance, settings.peers, first, last)
    status = {r.peer: r.status for r in result.reports}
    assert status == {CHANNEL: "loaded", GROUP: "loaded", NO_RIGHTS: "skipped"}
    # peer entities, the snapshots, every day of the daily pivot, then the reports
    assert [r.success for r in result.runs] == [True, True, True, True]

    log = Path(pipeline_env["TGSTATS_REPLAY_LOG"])
    stats = stats_requests(log)
    assert len([r for r in stats if r["peer"] == CHANNEL]) == 1  # its stats DC is known
    assert len([r for r in stats if r["peer"] == GROUP]) == 1
    assert not [r for r in stats if r["peer"] == NO_RIGHTS]
    requests = replay_requests(log)
    loads = [r for r in requests if r["request"] == "LoadAsyncGraphRequest"]
    assert loads and all(r["dc"] == 4 for r in loads if r["peer"] == CHANNEL)

    scenario = Path(pipeline_env["TGSTATS_TELEGRAM_REPLAY"])
    for peer in (CHANNEL, GROUP):
        assert _stored(database_url, peer) == expected_daily(scenario, peer, _days(first, last))
    assert _stored(database_url, NO_RIGHTS) == {}
    assert instance.get_materialized_partitions(RAW) == {CHANNEL, GROUP}
    materialized = instance.get_materialized_partitions(DAILY)
    assert len(materialized) == 2 * 53
    assert not [k for k in materialized if k.endswith(f"|{NO_RIGHTS}")]
    assert result.requests["GetBroadcastStatsRequest@dc4"] == 1
    # the UI's "Latest materialization" of channel_daily is the newest day, not a random one
    latest = instance.get_latest_materialization_event(DAILY)
    assert PeerDay.of(latest.asset_materialization.partition).day == last


def test_metadata_belongs_to_its_partition(instance, pipeline_env, database_url) -> None:
    settings = load_settings()
    first, last = END_DAY - timedelta(days=2), END_DAY
    load(settings, instance, (CHANNEL, GROUP), first, last)
    with make_engine(database_url).connect() as conn:
        counts = dict(
            conn.execute(
                text(
                    "SELECT peer_key || '|' || day, count(*) FROM channel_daily "
                    "GROUP BY peer_key, day"
                )
            ).all()
        )
        followers = conn.execute(
            text(
                "SELECT day, value FROM channel_daily WHERE peer_key = :p "
                "AND metric = 'growth.total_followers' ORDER BY day"
            ),
            {"p": CHANNEL},
        ).all()
    for peer in (CHANNEL, GROUP):
        for day in _days(first, last):
            metadata = _latest(instance, DAILY, _key(peer, day))
            rows = metadata["dagster/partition_row_count"].value
            assert rows == counts[f"{peer}|{day}"]
    seen = [_latest(instance, DAILY, _key(CHANNEL, d))["followers"].value for d, _ in followers]
    assert seen == [int(value) for _, value in followers]
    assert "members" in _latest(instance, DAILY, _key(GROUP, last))
    channel_rows = _latest(instance, DAILY, _key(CHANNEL, last))["dagster/partition_row_count"]
    group_rows = _latest(instance, DAILY, _key(GROUP, last))["dagster/partition_row_count"]
    assert channel_rows != group_rows
    raw = _latest(instance, RAW, GROUP)
    assert raw["snapshot_complete"].value is True and raw["snapshot_reused"].value is False
    fetched = raw["snapshot_fetched_at"].value
    assert _latest(instance, DAILY, _key(GROUP, last))["snapshot_fetched_at"].value == fetched


def test_unchanged_rerun_rewrites_nothing(instance, pipeline_env, database_url) -> None:
    settings = load_settings()
    first, last = END_DAY - timedelta(days=9), END_DAY
    load(settings, instance, (CHANNEL,), first, last)
    with make_engine(database_url).connect() as conn:
        before = conn.execute(
            text("SELECT channel_id, day, metric, xmin::text FROM channel_daily")
        ).all()
        raw_before = conn.execute(text("SELECT count(*) FROM stats_raw")).scalar_one()
    log = Path(pipeline_env["TGSTATS_REPLAY_LOG"])
    requests_before = len(replay_requests(log))

    result = load(settings, instance, (CHANNEL,), first, last)
    assert [r.status for r in result.reports] == ["unchanged"]
    with make_engine(database_url).connect() as conn:
        after = conn.execute(
            text("SELECT channel_id, day, metric, xmin::text FROM channel_daily")
        ).all()
        raw_after = conn.execute(text("SELECT count(*) FROM stats_raw")).scalar_one()
    assert sorted(after) == sorted(before)  # same rows, same row versions: nothing rewritten
    assert raw_after == raw_before
    # Every snapshot was stored: the re-run does not even connect to Telegram.
    assert replay_requests(log)[requests_before:] == []
    assert result.requests.total() == 0


def test_a_failing_peer_is_retried_alone_and_the_others_are_materialized(
    instance, use_scenario: Path, pipeline_env, database_url
) -> None:
    (use_scenario / "scenario.json").write_text(
        '{"home_dc": 2, "faults": [{"request": "GetBroadcastStatsRequest", "code": 400, '
        '"error": "STATS_BROKEN", "times": 20}]}'
    )
    settings = load_settings()
    result = load(settings, instance, settings.peers, END_DAY, END_DAY)
    by_peer = {r.peer: r for r in result.reports}
    assert by_peer[CHANNEL].status == "failed"
    assert "STATS_BROKEN" in by_peer[CHANNEL].detail
    assert by_peer[GROUP].status == "loaded"
    assert by_peer[NO_RIGHTS].status == "skipped"
    # peers; the snapshots run that failed for the channel; its follow-ups: the group, the
    # channel; then the group's day and its report.
    assert [r.success for r in result.runs] == [True, False, True, False, True, True]
    assert result.runs[2].peers == (GROUP,) and result.runs[3].peers == (CHANNEL,)
    assert result.runs[4].peers == (GROUP,)
    assert _stored(database_url, GROUP) == expected_daily(use_scenario, GROUP, [END_DAY])
    # The group's snapshot from the failed run was reused by its follow-up.
    requests = stats_requests(Path(pipeline_env["TGSTATS_REPLAY_LOG"]))
    assert len([r for r in requests if r["request"] == "GetMegagroupStatsRequest"]) == 1
    assert instance.get_materialized_partitions(DAILY) == {_key(GROUP, END_DAY)}
    # The failed runs' requests are counted too.
    assert result.requests["GetBroadcastStatsRequest@dc4"] >= 2


def test_with_the_flags_off_a_run_fails_and_says_why(instance, monkeypatch, database_url) -> None:
    monkeypatch.setenv("MTPROTO_STATS_ENABLED", "false")
    defs = build_definitions(load_settings())
    instance.add_dynamic_partitions(PEER, [CHANNEL])
    outcome = execute(defs.resolve_job_def(PEERS_JOB), instance, range_tags(CHANNEL, CHANNEL))
    assert not outcome.success
    assert "MTPROTO_STATS_ENABLED is off" in outcome.error
    with make_engine(database_url).connect() as conn:
        tables = conn.execute(
            text("SELECT count(*) FROM pg_tables WHERE tablename = 'telegram_peers'")
        ).scalar_one()
        if tables:
            assert conn.execute(text("SELECT count(*) FROM telegram_peers")).scalar_one() == 0


def test_instance_is_postgres(instance) -> None:
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    assert isinstance(instance.run_storage, PostgresRunStorage)
    assert isinstance(instance.event_log_storage, PostgresEventLogStorage)


def test_long_flood_wait_becomes_a_retry(
    instance, monkeypatch, use_scenario: Path, database_url: str
) -> None:
    (use_scenario / "scenario.json").write_text(
        '{"home_dc": 2, "faults": [{"request": "GetMegagroupStatsRequest", '
        '"error": "FLOOD_WAIT_2", "times": 1}]}'
    )
    monkeypatch.setenv("MTPROTO_FLOOD_SLEEP_THRESHOLD", "1")
    defs = build_definitions(load_settings())
    assert _load_peers(defs, instance, GROUP).success
    day = END_DAY - timedelta(days=2)
    outcome, daily = _stats(defs, instance, GROUP, GROUP, day, day)
    assert outcome.success and daily.success
    retries = [
        e.dagster_event
        for e in instance.all_logs(outcome.run_id)
        if e.dagster_event and e.dagster_event.event_type_value == "STEP_UP_FOR_RETRY"
    ]
    assert len(retries) == 1
    assert retries[0].event_specific_data.seconds_to_wait == 2
    assert _stored(database_url, GROUP) == expected_daily(use_scenario, GROUP, [day])


def test_days_outside_the_window_warn_and_have_no_rows(instance, database_url) -> None:
    defs = build_definitions(load_settings())
    assert _load_peers(defs, instance, GROUP).success
    first, last = END_DAY - timedelta(days=1), END_DAY + timedelta(days=2)
    _, outcome = _stats(defs, instance, GROUP, GROUP, first, last)
    assert outcome.success
    checks = {
        e.dagster_event.asset_check_evaluation_data.check_name: e.dagster_event
        for e in instance.all_logs(outcome.run_id)
        if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    covers = checks["covers_requested_days"].asset_check_evaluation_data
    assert not covers.passed
    assert covers.severity == dg.AssetCheckSeverity.WARN
    assert covers.metadata["outside_window"].value == {GROUP: "2026-11-16..2026-11-17"}
    assert {day for day, _ in _stored(database_url, GROUP)} == {first, END_DAY}
    outside = _latest(instance, DAILY, _key(GROUP, last))
    assert outside["dagster/partition_row_count"].value == 0
    assert outside["outside_window"].value is True


def test_an_incomplete_snapshot_fails_its_check_and_is_not_reused(
    instance, use_scenario: Path, pipeline_env, database_url
) -> None:
    (use_scenario / "scenario.json").write_text(
        '{"home_dc": 2, "faults": [{"request": "LoadAsyncGraphRequest", '
        '"error": "GRAPH_INVALID_RELOAD", "times": 100}]}'
    )
    settings = load_settings()
    result = load(settings, instance, (GROUP,), END_DAY, END_DAY)
    (report,) = result.reports
    assert report.status == "incomplete" and not report.acceptable
    assert "languages_graph" in report.detail
    run = result.runs[-3]  # the snapshots run (the daily run and the report follow)
    checks = {
        e.dagster_event.asset_check_evaluation_data.check_name: e.dagster_event
        for e in instance.all_logs(run.run_id)
        if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    complete = checks["snapshot_complete"].asset_check_evaluation_data
    assert not complete.passed and complete.severity == dg.AssetCheckSeverity.ERROR
    assert "languages_graph" in complete.description
    # Inline graphs still landed.
    assert any(metric.startswith("growth.") for _, metric in _stored(database_url, GROUP))
    log = Path(pipeline_env["TGSTATS_REPLAY_LOG"])
    before = len(stats_requests(log))
    load(settings, instance, (GROUP,), END_DAY, END_DAY)
    assert len(stats_requests(log)) > before  # fetched again, never reused


def test_secrets_never_reach_logs_metadata_or_tables(
    instance, monkeypatch, pipeline_env, database_url
) -> None:
    session, api_hash = "1BVtsOK4Bu0-secret-session-string", "0123456789abcdef-secret-hash"
    monkeypatch.setenv("TG_SESSION", session)
    monkeypatch.setenv("TG_API_HASH", api_hash)
    monkeypatch.setenv("TG_API_ID", "12345")
    settings = load_settings()
    load(settings, instance, settings.peers, END_DAY, END_DAY)
    with make_engine(database_url).connect() as conn:
        dumped = [
            str(row)
            for table in ("event_logs", "runs", "telegram_peers", "stats_raw", "stats_snapshots")
            for row in conn.execute(text(f"SELECT * FROM {table}")).all()
        ]
    assert len(dumped) > 10
    for secret in (session, api_hash):
        assert not [row for row in dumped if secret in row]


def test_the_run_records_its_telegram_requests(instance, pipeline_env, database_url) -> None:
    settings = load_settings()
    result = load(settings, instance, (GROUP,), END_DAY, END_DAY)
    stats_run = instance.get_run_by_id(result.runs[-3].run_id)  # the snapshots run
    recorded = json.loads(stats_run.tags[TELEGRAM_REQUESTS_TAG])
    assert recorded["GetMegagroupStatsRequest@dc2"] == 1
    # Every request but Telethon's own connection set-up is counted.
    log = Path(pipeline_env["TGSTATS_REPLAY_LOG"])
    made = [r for r in replay_requests(log) if r["request"] not in CONNECTION_SET_UP]
    assert result.requests.total() == len(made)


def test_switching_an_entry_between_username_and_id_reuses_the_channel(
    instance, pipeline_env, database_url, monkeypatch
) -> None:
    settings = load_settings()
    load(settings, instance, (GROUP,), END_DAY, END_DAY)
    channel_id = 2_000_000_202
    result = load(settings, instance, (f"-100{channel_id}",), END_DAY, END_DAY)
    (report,) = result.reports
    assert report.status in ("loaded", "reused", "unchanged"), report
    with make_engine(database_url).connect() as conn:
        peers = conn.execute(text("SELECT channel_id FROM telegram_peers")).all()
        snapshots = conn.execute(text("SELECT count(*) FROM stats_snapshots")).scalar_one()
    assert peers == [(channel_id,)]
    assert snapshots == 1  # the channel's stored snapshot was reused under its other name


def test_an_unknown_peer_is_reported_and_not_left_as_a_partition(
    instance, pipeline_env, database_url
) -> None:
    settings = load_settings()
    result = load(settings, instance, (GROUP, "no_such_channel"), END_DAY, END_DAY)
    status = {r.peer: (r.status, r.detail) for r in result.reports}
    assert status[GROUP][0] == "loaded"
    assert status["no_such_channel"][0] == "failed"
    assert "USERNAME_NOT_OCCUPIED" in status["no_such_channel"][1]
    assert "no_such_channel" not in instance.get_dynamic_partitions(PEER)
    assert "no_such_channel" not in instance.get_dynamic_partitions(STATS_PEER)


def test_a_run_of_1000_partitions_has_true_statuses_and_metadata(
    pipeline_env, monkeypatch, tmp_path: Path, database_url: str
) -> None:
    """20 peers x 50 days in one stats run: every partition materialized, each with its own
    row count, which matches the table."""
    from scripts.synthetic import SyntheticPeer, write_scenario
    from tgstats_dagster.cli.instance import open_instance

    peers = [
        SyntheticPeer(
            key=f"bulk_peer_{n:02d}",
            username=f"bulk_peer_{n:02d}",
            channel_id=3_000_000_000 + n,
            title=f"bulk {n}",
            broadcast=n % 2 == 0,
            participants_count=1000 + 37 * n,
            stats_dc=4 if n % 2 else 2,
        )
        for n in range(20)
    ]
    scenario = tmp_path / "bulk"
    write_scenario(scenario, peers=peers, end_day=END_DAY, days=60)
    monkeypatch.setenv("TGSTATS_TELEGRAM_REPLAY", str(scenario))
    keys = tuple(p.key for p in peers)
    monkeypatch.setenv("MTPROTO_STATS_PEERS", ",".join(keys))
    first = END_DAY - timedelta(days=49)
    with open_instance(load_settings()) as instance:
        result = load(load_settings(), instance, keys, first, END_DAY)
        assert {r.status for r in result.reports} == {"loaded"}
        assert len(result.runs) == 4  # the entities, every snapshot, every day, the reports
        assert len(instance.get_materialized_partitions(RAW)) == 20
        assert len(instance.get_materialized_partitions(DAILY)) == 1000
        records = instance.fetch_materializations(DAILY, limit=2000).records
        shown = {
            r.partition_key: r.asset_materialization.metadata["dagster/partition_row_count"].value
            for r in records
        }
    with make_engine(database_url).connect() as conn:
        counted = dict(
            conn.execute(
                text("SELECT day || '|' || peer_key, count(*) FROM channel_daily GROUP BY 1")
            ).all()
        )
    assert len(shown) == 1000
    assert shown == {key: counted.get(key, 0) for key in shown}
    assert len(set(shown.values())) > 1  # channels and groups have different series


def test_a_hostile_graph_is_kept_byte_for_byte_and_affects_only_itself(
    instance, use_scenario: Path, database_url: str
) -> None:
    """A NUL, a lone surrogate and a 3,000-character series name in one graph."""
    path = use_scenario / GROUP / "graphs" / "languages_graph.json"
    payload = path.read_text(encoding="utf-8")
    doc = json.loads(payload)
    ids = [column[0] for column in doc["columns"] if column[0] != "x"]
    names = {ids[0]: "Eng\u0000lish", ids[1]: "\ud800lone", ids[2]: "x" * 3000}
    doc["names"].update(names)
    hostile = json.dumps(doc, ensure_ascii=True)  # \u0000 and \ud800 as JSON escapes
    path.write_text(hostile, encoding="utf-8")

    result = load(load_settings(), instance, (GROUP,), END_DAY, END_DAY)
    assert [r.status for r in result.reports] == ["loaded"], result.reports
    with make_engine(database_url).connect() as conn:
        data, raw = conn.execute(
            text("SELECT data, data_raw FROM stats_raw WHERE graph = 'languages_graph'")
        ).one()
        metrics = {
            metric
            for (metric,) in conn.execute(text("SELECT DISTINCT metric FROM channel_daily")).all()
        }
    assert data is None and bytes(raw).decode("utf-8", "surrogatepass") == hostile
    assert {"languages.eng_lish", "languages.lone"} <= metrics
    (long,) = [m for m in metrics if m.startswith("languages.xxx")]
    assert len(long.removeprefix("languages.")) == 120 and "~" in long
    assert any(m.startswith("growth.") for m in metrics)  # the other graphs are untouched
