"""The channel_report asset on a real instance: one materialization per stats peer whose rows
changed, an overview the UI shows, the page it names; nothing for a refresh that changed
nothing, nothing for the peer without stats rights."""

from __future__ import annotations

import base64
import io
from collections import Counter
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from tgstats_dagster.cli.load import load
from tgstats_dagster.cli.runner import execute
from tgstats_dagster.definitions import build_definitions
from tgstats_dagster.report import history_version
from tgstats_dagster.runs import STATS_JOB
from tgstats_dagster.settings import load_settings
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.peers import PeerStore
from tgstats_dagster_tests.pipeline.conftest import CHANNEL, END_DAY, GROUP, NO_RIGHTS
from tgstats_dagster_tests.pipeline.test_changes import _revise

pytestmark = pytest.mark.storage

REPORT = dg.AssetKey("channel_report")
FIRST = END_DAY - timedelta(days=29)
PEERS = (CHANNEL, GROUP, NO_RIGHTS)
DATA_URI = "data:image/svg+xml;base64,"


def _reports(instance: dg.DagsterInstance) -> list[dg.EventLogRecord]:
    return list(
        instance.fetch_materializations(dg.AssetRecordsFilter(asset_key=REPORT), limit=100).records
    )


def _load(instance: dg.DagsterInstance, *, only_changed: bool) -> str:
    out = io.StringIO()
    result = load(load_settings(), instance, PEERS, FIRST, END_DAY, out, only_changed=only_changed)
    assert all(r.acceptable for r in result.reports), out.getvalue()
    return out.getvalue()


def test_a_backfill_draws_each_stats_peers_report_into_its_materialization(
    instance, pipeline_env
) -> None:
    _load(instance, only_changed=False)
    records = _reports(instance)
    assert Counter(str(r.asset_materialization.partition) for r in records) == Counter(
        {CHANNEL: 1, GROUP: 1}
    )
    engine = make_engine(pipeline_env["TGSTATS_DATABASE_URL"])
    stored = load_settings()
    known = PeerStore(engine).known([CHANNEL, GROUP])
    for record in records:
        peer = str(record.asset_materialization.partition)
        metadata = record.asset_materialization.metadata
        overview = metadata["overview"].value
        assert DATA_URI in overview
        svg = base64.b64decode(overview.split(DATA_URI, 1)[1].rstrip(")")).decode("utf-8")
        assert "<svg" in svg and "</svg>" in svg
        # Metadata stays in the event log forever: the overview is a few KB, not the page.
        assert len(overview) < 12_000
        page = Path(metadata["report"].value)
        assert page.is_file() and page.parent == stored.reports_dir.resolve()
        assert "<svg" in page.read_text(encoding="utf-8")
        channel_id = int(known[peer]["channel_id"])
        assert metadata["history_version"].value == history_version(engine, channel_id)
        assert metadata["charts"].value > 0


def test_reports_are_redrawn_only_for_the_peers_whose_rows_changed(
    instance, pipeline_env, use_scenario, monkeypatch
) -> None:
    _load(instance, only_changed=False)
    monkeypatch.setenv("TGSTATS_SNAPSHOT_MAX_AGE_HOURS", "0")
    out = _load(instance, only_changed=True)
    assert "nothing changed" in out
    assert len(_reports(instance)) == 2  # a refresh that changed nothing draws nothing

    _revise(use_scenario, CHANNEL, [END_DAY - timedelta(days=1)])
    _load(instance, only_changed=True)
    drawn = Counter(str(r.asset_materialization.partition) for r in _reports(instance))
    assert drawn == Counter({CHANNEL: 2, GROUP: 1})


def test_the_report_sensor_redraws_the_peers_of_a_daily_run(instance, pipeline_env) -> None:
    _load(instance, only_changed=False)
    defs = build_definitions(load_settings())
    day = str(END_DAY)
    tags = {
        "dagster/asset_partition_range_start": f"{day}|{CHANNEL}",
        "dagster/asset_partition_range_end": f"{day}|{GROUP}",
    }
    outcome = execute(defs.resolve_job_def(STATS_JOB), instance, tags)
    assert outcome.success
    run = instance.get_run_by_id(outcome.run_id)
    success = next(
        e.dagster_event
        for e in instance.all_logs(outcome.run_id)
        if e.dagster_event is not None
        and e.dagster_event.event_type == dg.DagsterEventType.RUN_SUCCESS
    )
    context = dg.build_run_status_sensor_context(
        sensor_name="telegram_report_sensor",
        dagster_event=success,
        dagster_instance=instance,
        dagster_run=run,
    )
    [request] = defs.resolve_sensor_def("telegram_report_sensor")(context)
    assert request.tags["dagster/asset_partition_range_start"] == CHANNEL
    assert request.tags["dagster/asset_partition_range_end"] == GROUP
    outcome = execute(defs.resolve_job_def("telegram_report_job"), instance, request.tags)
    assert outcome.success
    assert len(_reports(instance)) == 4
