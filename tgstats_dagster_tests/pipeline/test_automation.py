"""The sensors and the daily refresh schedule, evaluated against a real instance."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import pytest

from tgstats_dagster.cli.runner import execute
from tgstats_dagster.definitions import build_definitions
from tgstats_dagster.partitions import (
    PEER,
    RANGE_END_TAG,
    RANGE_START_TAG,
    STATS_PEER,
    range_tags,
)
from tgstats_dagster.runs import DAYS_TAG, FOLLOW_UP_OF_TAG, PEERS_JOB, SNAPSHOTS_JOB, days_tag
from tgstats_dagster.settings import load_settings
from tgstats_dagster_tests.pipeline.conftest import CHANNEL, END_DAY, GROUP, NO_RIGHTS

pytestmark = pytest.mark.storage
TICK = datetime(2026, 11, 20, 3, 30, tzinfo=timezone.utc)


def _evaluate_sensor(defs: dg.Definitions, instance: dg.DagsterInstance, name: str):
    sensor = defs.resolve_sensor_def(name)
    warehouse = {"warehouse": defs.resources["warehouse"]}
    with dg.build_sensor_context(
        instance=instance, definitions=defs, resources=warehouse
    ) as context:
        return sensor(context)


def _load_entities(defs, instance, *peers: str) -> None:
    instance.add_dynamic_partitions(PEER, list(peers))
    outcome = execute(defs.resolve_job_def(PEERS_JOB), instance, range_tags(peers[0], peers[-1]))
    assert outcome.success, outcome.error


def test_sensor_adds_configured_peers_in_one_run(instance) -> None:
    defs = build_definitions(load_settings())
    result = _evaluate_sensor(defs, instance, "telegram_peer_sensor")
    (request,) = result.run_requests
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == (CHANNEL, NO_RIGHTS)
    assert request.partition_key_range == dg.PartitionKeyRange(CHANNEL, NO_RIGHTS)
    assert [r.partition_keys for r in result.dynamic_partitions_requests] == [
        [CHANNEL, GROUP, NO_RIGHTS]
    ]
    instance.add_dynamic_partitions(PEER, [CHANNEL, GROUP, NO_RIGHTS, "old_peer"])
    again = _evaluate_sensor(defs, instance, "telegram_peer_sensor")
    assert isinstance(again, dg.SkipReason)
    assert "already" in again.skip_message
    assert "old_peer" in instance.get_dynamic_partitions(PEER)  # never removed by itself


def test_sensor_keeps_the_stats_partitions_to_the_peers_with_rights(instance) -> None:
    defs = build_definitions(load_settings())
    _load_entities(defs, instance, CHANNEL, GROUP, NO_RIGHTS)
    instance.add_dynamic_partitions(STATS_PEER, [NO_RIGHTS])  # as if it had rights before
    instance.delete_dynamic_partition(STATS_PEER, GROUP)
    result = _evaluate_sensor(defs, instance, "telegram_peer_sensor")
    requests = {
        (type(r).__name__, r.partitions_def_name, tuple(r.partition_keys))
        for r in result.dynamic_partitions_requests
    }
    assert requests == {
        ("AddDynamicPartitionsRequest", STATS_PEER, (GROUP,)),
        ("DeleteDynamicPartitionsRequest", STATS_PEER, (NO_RIGHTS,)),
    }
    assert not result.run_requests


def test_schedule_refreshes_every_stats_peer_in_one_run(instance, monkeypatch) -> None:
    monkeypatch.setenv("MTPROTO_STATS_PERIOD_DAYS", "7")
    defs = build_definitions(load_settings())
    _load_entities(defs, instance, CHANNEL, GROUP, NO_RIGHTS)
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=TICK)
    result = defs.resolve_schedule_def("daily_stats_refresh").evaluate_tick(context)
    (request,) = result.run_requests
    # One snapshots run over every stats peer, comparing the last 7 complete days.
    assert (request.tags[RANGE_START_TAG], request.tags[RANGE_END_TAG]) == (CHANNEL, GROUP)
    assert request.tags[DAYS_TAG] == "2026-11-13..2026-11-19"
    assert defs.resolve_schedule_def("daily_stats_refresh").job_name == SNAPSHOTS_JOB


@pytest.mark.parametrize("flag", ["MTPROTO_ENABLED", "MTPROTO_STATS_ENABLED"])
def test_flags_off_skip_with_a_reason(instance, monkeypatch, flag: str) -> None:
    monkeypatch.setenv(flag, "false")
    defs = build_definitions(load_settings())
    sensor = _evaluate_sensor(defs, instance, "telegram_peer_sensor")
    assert isinstance(sensor, dg.SkipReason)
    assert f"{flag} is off" in sensor.skip_message
    tick = defs.resolve_schedule_def("daily_stats_refresh").evaluate_tick(
        dg.build_schedule_context(instance=instance, scheduled_execution_time=TICK)
    )
    assert not tick.run_requests and f"{flag} is off" in tick.skip_message
    assert instance.get_dynamic_partitions(PEER) == []


def test_follow_up_sensor_retries_the_failed_peer_alone(instance, use_scenario) -> None:
    (use_scenario / "scenario.json").write_text(
        '{"home_dc": 2, "faults": [{"request": "GetBroadcastStatsRequest", "code": 400, '
        '"error": "STATS_BROKEN", "times": 20}]}'
    )
    defs = build_definitions(load_settings())
    _load_entities(defs, instance, CHANNEL, GROUP)
    tags = {**range_tags(CHANNEL, GROUP), **days_tag(END_DAY, END_DAY)}
    failed = execute(defs.resolve_job_def(SNAPSHOTS_JOB), instance, tags)
    assert not failed.success and set(failed.failed) == {CHANNEL}
    run = instance.get_run_by_id(failed.run_id)
    (failure,) = [
        e.dagster_event
        for e in instance.all_logs(run.run_id)
        if e.dagster_event and e.dagster_event.event_type == dg.DagsterEventType.RUN_FAILURE
    ]
    sensor = defs.resolve_sensor_def("telegram_follow_up_sensor")
    context = dg.build_run_status_sensor_context(
        sensor_name=sensor.name,
        dagster_instance=instance,
        dagster_run=run,
        dagster_event=failure,
        context=None,
    ).for_run_failure()
    requests = sensor(context)
    assert [r.job_name for r in requests] == [SNAPSHOTS_JOB, SNAPSHOTS_JOB]
    assert [(r.tags[RANGE_START_TAG], r.tags[RANGE_END_TAG]) for r in requests] == [
        (GROUP, GROUP),
        (CHANNEL, CHANNEL),
    ]
    assert all(r.tags[FOLLOW_UP_OF_TAG] == run.run_id for r in requests)
