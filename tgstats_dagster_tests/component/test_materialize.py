"""A project built from YAML materializes over the offline Telegram into PostgreSQL: real
Dagster runs on an instance stored in PostgreSQL, the bundled demo scenario."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from sqlalchemy import text

from tgstats_dagster.cli.instance import DAGSTER_PERFORMANCE_ENV, open_instance
from tgstats_dagster.cli.runner import execute
from tgstats_dagster.partitions import PEER, STATS_PEER, range_tags, stats_range_tags
from tgstats_dagster.runs import PEERS_JOB, SNAPSHOTS_JOB, STATS_JOB, days_tag
from tgstats_dagster.settings import Settings
from tgstats_dagster.warehouse.database import make_engine
from tgstats_dagster.warehouse.server import with_driver

pytestmark = pytest.mark.storage

CHANNEL, GROUP, NO_RIGHTS = "tgstats_demo_channel", "tgstats_demo_group", "tgstats_demo_norights"


@pytest.fixture
def instance(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, database_url: str
) -> Iterator[dg.DagsterInstance]:
    """The instance of the `tgstats` commands, stored in the test database."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("TGSTATS_DAGSTER_PG_URL", with_driver(database_url, "psycopg2"))
    for name, value in DAGSTER_PERFORMANCE_ENV.items():
        monkeypatch.setenv(name, value)
    with open_instance(Settings(database_url=database_url)) as instance:
        yield instance


def test_project_from_yaml_loads_the_demo_peers(
    project: Path,
    edit_attributes: Callable[[Callable[[dict[str, Any]], None]], None],
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    instance: dg.DagsterInstance,
) -> None:
    monkeypatch.setenv("TGSTATS_DATABASE_URL", database_url)
    edit_attributes(
        lambda attributes: attributes["database"].update(url="{{ env.TGSTATS_DATABASE_URL }}")
    )
    monkeypatch.syspath_prepend(str(project))
    defs = dg.load_from_defs_folder(path_within_project=project)
    assert defs.resolve_schedule_def("daily_stats_refresh").cron_schedule == "30 3 * * *"

    peers = [CHANNEL, GROUP, NO_RIGHTS]
    instance.add_dynamic_partitions(PEER, peers)
    outcome = execute(defs.resolve_job_def(PEERS_JOB), instance, range_tags(peers[0], peers[-1]))
    assert outcome.success, outcome.error
    stats_peers = instance.get_dynamic_partitions(STATS_PEER)
    assert stats_peers == [CHANNEL, GROUP]

    # The demo's window ends yesterday (UTC): the day before is complete in it.
    day = datetime.now(timezone.utc).date() - timedelta(days=2)
    tags = {**range_tags(stats_peers[0], stats_peers[-1]), **days_tag(day, day)}
    outcome = execute(defs.resolve_job_def(SNAPSHOTS_JOB), instance, tags)
    assert outcome.success, outcome.error
    tags = stats_range_tags(stats_peers[0], stats_peers[-1], day, day)
    outcome = execute(defs.resolve_job_def(STATS_JOB), instance, tags)
    assert outcome.success, outcome.error

    with make_engine(database_url).connect() as conn:
        rows = dict(
            conn.execute(
                text(
                    "SELECT peer_key, count(*) FILTER (WHERE day = :d) FROM channel_daily "
                    "GROUP BY peer_key"
                ),
                {"d": day},
            ).all()
        )
    assert set(rows) == {CHANNEL, GROUP}  # none for the peer without stats rights
    assert all(count > 0 for count in rows.values())
