"""The peer sensor and the daily refresh schedule, evaluated against a real instance."""

from __future__ import annotations

from datetime import datetime, timezone

import dagster as dg
import pytest

from tgstats_dagster.automation import RANGE_END, RANGE_START
from tgstats_dagster.definitions import build_definitions
from tgstats_dagster.jobs import PEERS_JOB
from tgstats_dagster.partitions import PEER
from tgstats_dagster.settings import load_settings
from tgstats_dagster_tests.pipeline.conftest import CHANNEL, GROUP, NO_RIGHTS

pytestmark = pytest.mark.storage
TICK = datetime(2026, 11, 20, 3, 30, tzinfo=timezone.utc)


def _sensor(defs: dg.Definitions) -> dg.SensorDefinition:
    return defs.resolve_sensor_def("telegram_peer_sensor")


def _schedule(defs: dg.Definitions) -> dg.ScheduleDefinition:
    return defs.resolve_schedule_def("daily_stats_refresh")


def test_sensor_adds_configured_peers_once(instance) -> None:
    defs = build_definitions(load_settings())
    sensor = _sensor(defs)
    result = sensor(dg.build_sensor_context(instance=instance, definitions=defs))
    assert [r.partition_key for r in result.run_requests] == [CHANNEL, GROUP, NO_RIGHTS]
    assert [r.partition_keys for r in result.dynamic_partitions_requests] == [
        [CHANNEL, GROUP, NO_RIGHTS]
    ]
    instance.add_dynamic_partitions(PEER, [CHANNEL, GROUP, NO_RIGHTS, "old_peer"])
    again = sensor(dg.build_sensor_context(instance=instance, definitions=defs))
    assert isinstance(again, dg.SkipReason)
    assert "already" in again.skip_message
    assert "old_peer" in instance.get_dynamic_partitions(PEER)  # never removed by itself


def test_schedule_refreshes_last_period_days_of_peers_with_rights(instance, monkeypatch) -> None:
    monkeypatch.setenv("MTPROTO_STATS_PERIOD_DAYS", "7")
    defs = build_definitions(load_settings())
    instance.add_dynamic_partitions(PEER, [CHANNEL, GROUP, NO_RIGHTS])
    for peer in (CHANNEL, GROUP, NO_RIGHTS):
        assert (
            defs.resolve_job_def(PEERS_JOB)
            .execute_in_process(instance=instance, partition_key=peer)
            .success
        )
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=TICK)
    result = _schedule(defs).evaluate_tick(context)
    ranges = {(r.tags[RANGE_START], r.tags[RANGE_END]) for r in result.run_requests}
    assert ranges == {
        (f"2026-11-13|{CHANNEL}", f"2026-11-19|{CHANNEL}"),
        (f"2026-11-13|{GROUP}", f"2026-11-19|{GROUP}"),
    }


@pytest.mark.parametrize("flag", ["MTPROTO_ENABLED", "MTPROTO_STATS_ENABLED"])
def test_flags_off_skip_with_a_reason(instance, monkeypatch, flag: str) -> None:
    monkeypatch.setenv(flag, "false")
    defs = build_definitions(load_settings())
    sensor = _sensor(defs)(dg.build_sensor_context(instance=instance, definitions=defs))
    assert isinstance(sensor, dg.SkipReason)
    assert f"{flag} is off" in sensor.skip_message
    tick = _schedule(defs).evaluate_tick(
        dg.build_schedule_context(instance=instance, scheduled_execution_time=TICK)
    )
    assert not tick.run_requests and f"{flag} is off" in tick.skip_message
    assert instance.get_dynamic_partitions(PEER) == []
