"""The real webserver and daemon, driven through the webserver's GraphQL API as the UI does.

Each test runs on both deployment shapes (see conftest.py): ``tgstats dev`` on the embedded
defaults, and the production shape (gRPC code server, webserver, daemon) on the suite's
PostgreSQL server. Both load the bundled demo scenario through the offline Telegram.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tgstats_dagster_tests.e2e import graphql
from tgstats_dagster_tests.e2e.conftest import (
    BACKFILL_DAYS,
    BACKFILL_PEERS,
    CHANNEL,
    GROUP,
    NO_RIGHTS,
    PEER_SENSOR,
    PEERS,
    START_DATE,
    STATS_ASSETS,
    Deployment,
    stats_key,
)

pytestmark = pytest.mark.e2e

SCHEDULE = "daily_stats_refresh"
PERIOD_DAYS = 30  # MTPROTO_STATS_PERIOD_DAYS's default: the deployments leave it unset


@pytest.fixture(
    params=[
        pytest.param("dev_deployment", id="tgstats-dev"),
        # The production shape uses the suite's server: it runs again in the storage pass.
        pytest.param("production_deployment", id="production", marks=pytest.mark.storage),
    ]
)
def deployment(request: pytest.FixtureRequest) -> Deployment:
    return request.getfixturevalue(request.param)


def test_peer_sensor_adds_the_peers_and_loads_their_entities(deployment: Deployment) -> None:
    """The daemon ticked the sensor: it added the configured peers and ran their entities."""
    tick = deployment.peer_tick
    assert tick["status"] == "SUCCESS"
    (added,) = tick["dynamicPartitionsRequestResults"]
    assert added["partitionsDefName"] == "peer"
    assert added["type"] == "ADD_PARTITIONS"
    assert sorted(added["partitionKeys"]) == sorted(PEERS)

    # The peer entities of all new peers in one run.
    (run,) = graphql.runs(deployment.client, run_ids=tick["runIds"])
    assert (run["jobName"], run["status"]) == ("telegram_peers_job", "SUCCESS")
    assert (
        run["tags"]["dagster/asset_partition_range_start"],
        run["tags"]["dagster/asset_partition_range_end"],
    ) == (PEERS[0], PEERS[-1])

    rows = deployment.query(
        "SELECT peer_key, kind, can_view_stats, stats_dc FROM telegram_peers ORDER BY peer_key"
    )
    assert rows == [
        (CHANNEL, "broadcast", True, 4),
        (GROUP, "megagroup", True, 2),
        (NO_RIGHTS, "broadcast", False, None),
    ]
    status = graphql.partition_status(deployment.client, "telegram_peers")
    assert status["materialized"] == set(PEERS)
    # Only the peers with stats rights are offered as stats partitions.
    stats = graphql.partition_status(deployment.client, "channel_daily")
    assert stats["dimensions"]["peer"] == list(BACKFILL_PEERS)


def test_backfill_of_all_stats_peers_by_ten_days(deployment: Deployment) -> None:
    """Launched as the UI launches it (every stats peer x ten days): Completed, no failure.

    Dagster's backfill daemon splits a peer x day rectangle into one run per key of the
    smaller dimension (here: per peer); `tgstats backfill` and the schedule make one run."""
    outcome = deployment.backfilled()
    backfill = outcome.backfill
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill["error"]
    assert backfill["numPartitions"] == len(BACKFILL_PEERS) * len(BACKFILL_DAYS)
    runs = backfill["runs"]
    assert {r["status"] for r in runs} == {"SUCCESS"}
    first, last = BACKFILL_DAYS[0], BACKFILL_DAYS[-1]
    ranges = sorted(
        (
            r["tags"]["dagster/asset_partition_range_start"],
            r["tags"]["dagster/asset_partition_range_end"],
        )
        for r in runs
    )
    assert ranges == [(stats_key(first, p), stats_key(last, p)) for p in sorted(BACKFILL_PEERS)]

    # At most one stats fetch per peer for the whole backfill.
    fetched = deployment.stats_requests() - outcome.stats_requests_before
    assert dict(fetched) == dict.fromkeys(BACKFILL_PEERS, 1)

    days = deployment.query(
        "SELECT p.peer_key, d.day, count(*) FROM channel_daily d "
        "JOIN telegram_peers p ON p.channel_id = d.channel_id "
        "WHERE d.day BETWEEN %s AND %s GROUP BY 1, 2 ORDER BY 1, 2",
        first,
        last,
    )
    assert [(peer, day) for peer, day, _ in days] == [
        (p, d) for p in sorted(BACKFILL_PEERS) for d in BACKFILL_DAYS
    ]
    assert all(count >= 3 for *_, count in days), days
    followers = deployment.query(
        "SELECT d.value FROM channel_daily d JOIN telegram_peers p USING (channel_id) "
        "WHERE p.peer_key = %s AND d.day = %s AND d.metric = 'growth.total_followers'",
        CHANNEL,
        last,
    )
    assert len(followers) == 1 and followers[0][0] > 0

    for asset in STATS_ASSETS:
        status = graphql.partition_status(deployment.client, asset)
        assert set(outcome.partition_keys) <= status["materialized"], asset
        assert not status["failed"], asset
        assert status["dimensions"]["peer"] == list(BACKFILL_PEERS)
        assert status["dimensions"]["date"][0] == START_DATE.isoformat()


def test_materialize_one_partition(deployment: Deployment) -> None:
    """The UI's Materialize on one (day, peer): a run of the asset job with partition tags."""
    day = BACKFILL_DAYS[3].isoformat()
    run_id = graphql.launch_partition_run(
        deployment.client, deployment.location, STATS_ASSETS, {"date": day, "peer": GROUP}
    )
    (run,) = deployment.wait_for_runs([run_id])
    assert run["status"] == "SUCCESS", deployment.processes.logs()
    assert run["tags"]["dagster/partition"] == f"{day}|{GROUP}"

    rows = deployment.query(
        "SELECT count(*) FROM channel_daily d JOIN telegram_peers p USING (channel_id) "
        "WHERE p.peer_key = %s AND d.day = %s",
        GROUP,
        day,
    )
    assert rows[0][0] > 0
    for asset in STATS_ASSETS:
        assert (
            f"{day}|{GROUP}" in graphql.partition_status(deployment.client, asset)["materialized"]
        )


def test_lineage_peer_entity_to_raw_graphs_to_daily_pivot(deployment: Deployment) -> None:
    graph = graphql.asset_graph(deployment.client)
    figures = {"stats_figures", "post_interactions", "megagroup_tops"}
    content_days = {"channel_hourly", "posts"}
    report = "channel_report"
    assert set(graph) == {
        "telegram_peers",
        "stats_raw",
        "content_raw",
        "revenue_status",
        "channel_daily",
        *content_days,
        *figures,
        report,
    }
    assert graph["telegram_peers"]["upstream"] == set()
    assert graph["telegram_peers"]["downstream"] == {"stats_raw", "content_raw", "revenue_status"}
    assert graph["stats_raw"]["upstream"] == {"telegram_peers"}
    assert graph["stats_raw"]["downstream"] == {"channel_daily", "content_raw", *figures}
    assert graph["content_raw"]["upstream"] == {"telegram_peers", "stats_raw"}
    assert graph["content_raw"]["downstream"] == content_days
    assert graph["channel_daily"]["upstream"] == {"stats_raw"}
    for asset in figures:
        assert graph[asset]["upstream"] == {"stats_raw"}
        assert graph[asset]["downstream"] == {report}
    for asset in content_days:
        assert graph[asset]["upstream"] == {"content_raw"}
        assert graph[asset]["downstream"] == {report}
    assert graph["channel_daily"]["downstream"] == {report}
    assert graph["revenue_status"]["downstream"] == {report}
    assert graph[report]["upstream"] == {"channel_daily", *content_days, *figures, "revenue_status"}
    assert graph[report]["downstream"] == set()
    assert {node["group"] for node in graph.values()} == {"telegram_stats"}
    assert all(node["partitioned"] for node in graph.values())


def test_schedule_tick_requests_one_refresh_run_of_every_peer_with_stats_rights(
    deployment: Deployment,
) -> None:
    """A tick of the daily refresh, evaluated by the code location (the UI's "Test schedule")."""
    found = graphql.schedule(deployment.client, deployment.location, SCHEDULE)
    assert found["scheduleState"]["status"] == "RUNNING"
    assert (found["cronSchedule"], found["executionTimezone"]) == ("30 3 * * *", "UTC")
    assert found["pipelineName"] == "telegram_snapshots_job"

    today = datetime.now(timezone.utc).date()
    tick_time = datetime(today.year, today.month, today.day, 3, 30, tzinfo=timezone.utc)
    tick = graphql.schedule_dry_run(
        deployment.client, deployment.location, SCHEDULE, tick_time.timestamp()
    )
    assert tick["error"] is None, tick["error"]
    assert tick["skipReason"] is None
    last = tick_time.date() - timedelta(days=1)
    first = last - timedelta(days=PERIOD_DAYS - 1)
    (request,) = tick["runRequests"]
    requested = (
        request["tags"]["dagster/asset_partition_range_start"],
        request["tags"]["dagster/asset_partition_range_end"],
    )
    # One run for every peer with stats rights (not the one without), comparing the
    # window's days, which writes and records the days that changed itself.
    assert requested == (CHANNEL, GROUP)
    assert request["tags"]["tgstats/days"] == f"{first}..{last}"
    assert "tgstats/record_changes" in request["tags"]
    assert request["runKey"]


def test_peer_sensor_keeps_running_and_skips_known_peers(deployment: Deployment) -> None:
    """The sensor is on by default; once the peers exist its ticks add nothing more."""
    state = graphql.sensor_ticks(deployment.client, deployment.location, PEER_SENSOR)
    assert state["status"] == "RUNNING"
    adding = [t for t in state["ticks"] if t["dynamicPartitionsRequestResults"]]
    assert len(adding) == 1, state["ticks"]
