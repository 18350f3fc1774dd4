"""The Dagster UI at scale: the ``channel_daily`` Partitions tab and asset health over a year.

Usage::

    .venv/bin/python bench/ui_scale.py [--peers 1000] [--days 365] [--repeat 3]
        [--database-url URL] [--logs DIR]

The PostgreSQL server is found as in bench/refresh.py (``--database-url``, else
TGSTATS_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/postgres if it answers;
with none, the bench says so and exits 0). It works in a scratch database of its own
(created, then dropped) and a temporary TGSTATS_HOME whose Dagster instance is the one
``tgstats`` writes (tgstats_dagster/cli/instance.yaml), its storage in that database.

Set-up (``setup_s``): the dynamic partitions ``peer`` and ``stats_peer`` get ``--peers``
synthetic peers (bench/_refresh_scenario.py), and the instance gets the Dagster history of
``--days`` daily refreshes, written straight into its event log (Dagster's batch write, as a
run worker with DAGSTER_EVENT_BATCH_SIZE writes it), not through that many real runs: per
day one successful ``stats_job`` run over every peer for that day (range tags, as the
project's runs), with its one planned event over that partition subset
(DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS), one ``channel_daily`` materialization per
partition with the metadata and tags a real one has (row count, audience, snapshot time,
dimension and data-version tags), and the two checks' planned events and evaluations; then
one run per other asset group with a materialization of every peer partition of
``telegram_peers``, ``stats_raw``, ``stats_figures``, ``post_interactions``,
``megagroup_tops`` and ``channel_report``. A real refresh also rewrites revised days;
one materialization per partition is the least a year leaves.

Measured: ``dagster-webserver -m tgstats_dagster.definitions`` over that instance (no
daemon: no sensor or run competes with the queries), with the flags on, MTPROTO_STATS_PEERS
naming the peers, a small replay scenario, and TGSTATS_START_DATE the first day. Each query
the UI sends is timed ``--repeat`` times (the first is ``*_cold_s``: right after start, and
for the partition statuses with Dagster's asset status cache still empty; ``*_s`` is the
median of the rest):

- ``partitions_page``: the Partitions tab's ``PartitionHealthQuery`` for channel_daily (the
  UI's own text, dagster-webserver's bundle).
- ``asset_health``: the asset catalog's ``AssetHealthQuery`` for every asset.
- ``after_refresh``: ``PartitionHealthQuery`` again after one more day's run is recorded
  (the status cache brought up to date by 1,000 new materializations).

Every process started is stopped and the scratch database dropped, also on errors and
Ctrl-C. The figures come last, one ``name=value`` line each.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from datetime import time as day_time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the test helpers are not installed, only the package
    sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402
from _refresh_scenario import bench_peers, write_bench_scenario  # noqa: E402
from dagster._core.definitions.partitions.context import partition_loading_context  # noqa: E402
from dagster._core.events import (  # noqa: E402
    AssetMaterializationPlannedData,
    DagsterEvent,
    DagsterEventType,
    StepMaterializationData,
)
from dagster._core.events.log import EventLogEntry  # noqa: E402
from refresh import _format, dagster_instance, resolve_server  # noqa: E402

from tgstats_dagster.assets import build_assets  # noqa: E402
from tgstats_dagster.assets.daily import CHANNEL_DAILY, COVERS_DAYS, NOT_NEGATIVE  # noqa: E402
from tgstats_dagster.cli.instance import INSTANCE_YAML  # noqa: E402
from tgstats_dagster.partitions import (  # noqa: E402
    PEER,
    STATS_PEER,
    PeerDay,
    stats_partitions,
    stats_range_tags,
)
from tgstats_dagster.runs import STATS_JOB  # noqa: E402
from tgstats_dagster.warehouse.server import with_driver  # noqa: E402
from tgstats_dagster_tests.databases import scratch_database  # noqa: E402
from tgstats_dagster_tests.e2e import graphql  # noqa: E402
from tgstats_dagster_tests.e2e.processes import (  # noqa: E402
    VENV_BIN,
    ProcessSet,
    free_port,
    server_info,
    venv_environment,
)

#: What Dagster batches at most per write (DAGSTER_EVENT_BATCH_SIZE in the project's runs).
BATCH = 1000
STARTUP_TIMEOUT = 300.0
#: The daily refresh's tick: a day's run happens the next day at 03:30 UTC.
TICK = day_time(3, 30, tzinfo=timezone.utc)
#: The other assets and the job that materializes each (one run per job).
PEER_ASSET_JOBS = {
    "telegram_peers": "peers_job",
    "stats_raw": "snapshots_job",
    "stats_figures": "snapshots_job",
    "post_interactions": "snapshots_job",
    "megagroup_tops": "snapshots_job",
    "channel_report": "report_job",
}

# The UI's Partitions tab (dagster-ui PartitionHealthQuery, dagster-webserver 1.13 bundle).
PARTITION_HEALTH_QUERY = """
query PartitionHealthQuery($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    ... on AssetNode {
      id
      partitionKeysByDimension { name type partitionKeys }
      assetPartitionStatuses {
        ... on TimePartitionStatuses {
          ranges { status startTime endTime startKey endKey }
        }
        ... on DefaultPartitionStatuses {
          materializedPartitions materializingPartitions failedPartitions
        }
        ... on MultiPartitionStatuses {
          primaryDimensionName
          ranges {
            primaryDimStartKey primaryDimEndKey primaryDimStartTime primaryDimEndTime
            secondaryDim {
              ... on TimePartitionStatuses {
                ranges { status startTime endTime startKey endKey }
              }
              ... on DefaultPartitionStatuses {
                materializedPartitions materializingPartitions failedPartitions
              }
            }
          }
        }
      }
    }
  }
}
"""

# The asset catalog's health column (dagster-ui AssetHealthQuery with its fragments).
ASSET_HEALTH_QUERY = """
query AssetHealthQuery($assetKeys: [AssetKeyInput!]!) {
  assetsOrError(assetKeys: $assetKeys) {
    ... on AssetConnection { nodes { id ...AssetHealthFragment } }
    ... on PythonError { message stack }
  }
}
fragment AssetHealthFragment on Asset {
  id
  key { path }
  latestMaterializationTimestamp
  latestFailedToMaterializeTimestamp
  freshnessStatusChangedTimestamp
  assetHealth {
    assetHealth
    materializationStatus
    materializationStatusMetadata {
      ... on AssetHealthMaterializationDegradedPartitionedMeta {
        numMissingPartitions numFailedPartitions totalNumPartitions latestFailedRunId
      }
      ... on AssetHealthMaterializationHealthyPartitionedMeta {
        numMissingPartitions totalNumPartitions latestRunId
      }
      ... on AssetHealthMaterializationDegradedNotPartitionedMeta { failedRunId }
      ... on AssetHealthMaterializationWarningPartitionedMeta {
        numUpForRetryPartitions numMissingPartitions totalNumPartitions latestRunId
        latestFailedRunId
      }
      ... on AssetHealthMaterializationWarningNotPartitionedMeta { failedRunId }
    }
    assetChecksStatus
    assetChecksStatusMetadata {
      ... on AssetHealthCheckDegradedMeta { numFailedChecks numWarningChecks totalNumChecks }
      ... on AssetHealthCheckWarningMeta { numWarningChecks totalNumChecks }
      ... on AssetHealthCheckUnknownMeta { numNotExecutedChecks totalNumChecks }
    }
    freshnessStatus
    freshnessStatusMetadata { ... on AssetHealthFreshnessMeta { lastMaterializedTimestamp } }
  }
}
"""


# The status the open-source UI draws for each asset in the catalog, the graph and the asset's
# overview (dagster-ui AssetGraphLiveQuery, its fragments, and AssetStaleStatusDataQuery): the
# AssetHealthQuery above answers assetHealth null there (instance
# dagster_asset_health_queries_supported() is False outside Dagster+).
ASSET_LIVE_QUERY = """
query AssetGraphLiveQuery($assetKeys: [AssetKeyInput!]!) {
  assetNodes(assetKeys: $assetKeys, loadMaterializations: true) {
    id
    opNames
    repository { id }
    assetKey { path }
    assetMaterializations(limit: 1) { timestamp runId stepKey }
    assetObservations(limit: 1) { timestamp runId stepKey }
    assetChecksOrError {
      ... on AssetChecks {
        checks {
          name
          canExecuteIndividually
          executionForLatestMaterialization {
            id runId status timestamp stepKey evaluation { severity }
          }
          partitionDefinition { name description }
          partitionStatuses {
            ... on AssetCheckDefaultPartitionStatuses {
              succeededPartitions failedPartitions inProgressPartitions skippedPartitions
              executionFailedPartitions
            }
            ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } }
            ... on AssetCheckMultiPartitionStatuses {
              primaryDimensionName
              ranges {
                primaryDimStartKey primaryDimEndKey
                secondaryDim {
                  ... on AssetCheckDefaultPartitionStatuses {
                    succeededPartitions failedPartitions inProgressPartitions
                    skippedPartitions executionFailedPartitions
                  }
                  ... on AssetCheckTimePartitionStatuses { ranges { startKey endKey status } }
                }
              }
            }
          }
        }
      }
    }
    partitionStats { numMaterialized numMaterializing numPartitions numFailed }
  }
  assetsLatestInfo(assetKeys: $assetKeys) {
    id
    assetKey { path }
    unstartedRunIds
    inProgressRunIds
    latestRun { id status startTime endTime }
  }
}
"""

STALE_STATUS_QUERY = """
query AssetStaleStatusDataQuery($assetKeys: [AssetKeyInput!]!) {
  assetNodes(assetKeys: $assetKeys) {
    id
    assetKey { path }
    staleStatus
    staleCauses { key { path } reason category dependency { path } }
  }
}
"""


class BenchError(RuntimeError):
    """A step of the bench failed; the message says which."""


# ----- the history, written into the event log -------------------------------------------


def _entry(
    run_id: str, job: str, step: str, event_type: DagsterEventType, data: Any, at: float
) -> EventLogEntry:
    return EventLogEntry(
        error_info=None,
        level=logging.DEBUG,
        user_message="",
        run_id=run_id,
        timestamp=at,
        step_key=step,
        job_name=job,
        dagster_event=DagsterEvent(
            event_type_value=event_type.value,
            job_name=job,
            step_key=step,
            event_specific_data=data,
            message=f"{event_type.value} {step}",
        ),
    )


def _materialization(
    run_id: str,
    job: str,
    asset: dg.AssetKey,
    partition: str | dg.MultiPartitionKey,
    metadata: dict[str, Any],
    at: float,
) -> EventLogEntry:
    """A materialization as a run's step writes it: metadata, data and code version tags,
    and for a peer x date key its dimension tags."""
    tags = {"dagster/code_version": run_id, "dagster/data_version": uuid.uuid4().hex}
    if isinstance(partition, dg.MultiPartitionKey):
        tags |= {f"dagster/partition/{k}": v for k, v in partition.keys_by_dimension.items()}
    event = dg.AssetMaterialization(asset, partition=partition, metadata=metadata, tags=tags)
    return _entry(
        run_id,
        job,
        asset.path[-1] if job == STATS_JOB else job,
        DagsterEventType.ASSET_MATERIALIZATION,
        StepMaterializationData(event),
        at,
    )


def _store(instance: dg.DagsterInstance, entries: Sequence[EventLogEntry]) -> None:
    """Materializations in batches of BATCH (one insert each); other events one by one."""
    storage = instance.event_log_storage
    batch = [e for e in entries if e.dagster_event_type == DagsterEventType.ASSET_MATERIALIZATION]
    for first in range(0, len(batch), BATCH):
        storage.store_event_batch(batch[first : first + BATCH])
    for entry in entries:
        if entry.dagster_event_type != DagsterEventType.ASSET_MATERIALIZATION:
            instance.handle_new_event(entry)


@contextlib.contextmanager
def _run(
    instance: dg.DagsterInstance, job: str, tags: dict[str, str], started: float
) -> Iterator[tuple[dg.DagsterRun, list[EventLogEntry]]]:
    """A run record that goes from start to success around the events written inside."""
    run = instance.add_run(dg.DagsterRun(job_name=job, run_id=str(uuid.uuid4()), tags=tags))
    events: list[EventLogEntry] = []
    yield run, events
    start = _entry(run.run_id, job, None, DagsterEventType.RUN_START, None, started)
    end = _entry(
        run.run_id, job, None, DagsterEventType.RUN_SUCCESS, None, started + 60 + len(events) / 500
    )
    _store(instance, [start, *events, end])


def _tick_time(day: date, now: float) -> float:
    """When the refresh of ``day`` ran: the next day's 03:30 UTC tick, never in the future."""
    return min(datetime.combine(day + timedelta(days=1), TICK).timestamp(), now - 120)


def record_day(
    instance: dg.DagsterInstance,
    partitions: dg.MultiPartitionsDefinition,
    peers: Sequence[str],
    day: date,
    now: float,
) -> int:
    """One daily refresh of ``channel_daily`` over every peer for ``day``: its events."""
    from dagster._core.definitions.asset_checks.asset_check_evaluation import (
        AssetCheckEvaluation,
        AssetCheckEvaluationPlanned,
    )

    at = _tick_time(day, now)
    tags = stats_range_tags(peers[0], peers[-1], day, day)
    with _run(instance, STATS_JOB, tags, at) as (run, events):
        step = CHANNEL_DAILY.path[-1]
        with partition_loading_context(dynamic_partitions_store=instance):
            subset = run.get_resolved_partitions_subset_for_events(partitions)
        events.append(
            _entry(
                run.run_id,
                STATS_JOB,
                step,
                DagsterEventType.ASSET_MATERIALIZATION_PLANNED,
                AssetMaterializationPlannedData(CHANNEL_DAILY, partitions_subset=subset),
                at,
            )
        )
        for check in (COVERS_DAYS, NOT_NEGATIVE):
            events.append(
                _entry(
                    run.run_id,
                    STATS_JOB,
                    step,
                    DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
                    AssetCheckEvaluationPlanned(asset_key=CHANNEL_DAILY, check_name=check),
                    at,
                )
            )
        fetched_at = datetime.fromtimestamp(at - 30, timezone.utc).isoformat()
        for index, peer in enumerate(peers):
            metadata = {
                "dagster/partition_row_count": 22 + index % 7,
                "snapshot_fetched_at": fetched_at,
                "followers" if index % 2 == 0 else "members": 1_000 + 137 * index,
            }
            key = PeerDay(peer, day).key
            events.append(_materialization(run.run_id, STATS_JOB, CHANNEL_DAILY, key, metadata, at))
        for check in (COVERS_DAYS, NOT_NEGATIVE):
            evaluation = AssetCheckEvaluation(
                asset_key=CHANNEL_DAILY,
                check_name=check,
                passed=True,
                metadata={"days_requested": len(peers)},
            )
            events.append(
                _entry(
                    run.run_id,
                    STATS_JOB,
                    step,
                    DagsterEventType.ASSET_CHECK_EVALUATION,
                    evaluation,
                    at + 50,
                )
            )
    return len(events) + 2


def record_peer_assets(instance: dg.DagsterInstance, peers: Sequence[str], now: float) -> int:
    """The peer-partitioned assets, each peer once, one run per job: their events."""
    count = 0
    for job in dict.fromkeys(PEER_ASSET_JOBS.values()):
        assets = [asset for asset, owner in PEER_ASSET_JOBS.items() if owner == job]
        at = now - 3600
        with _run(instance, job, {"dagster/asset_partition_range_start": peers[0]}, at) as (
            run,
            events,
        ):
            for asset in assets:
                for peer in peers:
                    metadata = {"snapshot_fetched_at": datetime.now(timezone.utc).isoformat()}
                    events.append(
                        _materialization(run.run_id, job, dg.AssetKey(asset), peer, metadata, at)
                    )
        count += len(events) + 2
    return count


def set_up(instance: dg.DagsterInstance, peers: Sequence[str], days: Sequence[date]) -> int:
    """The dynamic partitions and a year of history; the number of events written."""
    instance.add_dynamic_partitions(PEER, list(peers))
    instance.add_dynamic_partitions(STATS_PEER, list(peers))
    partitions = stats_partitions(days[0])
    now = time.time()
    events = record_peer_assets(instance, peers, now)
    for number, day in enumerate(days):
        events += record_day(instance, partitions, peers, day, now)
        if number % 30 == 29:
            print(f"[ui_scale] {number + 1} days recorded ({events} events)", flush=True)
    return events


# ----- the queries -------------------------------------------------------------------------


@dataclass
class Timing:
    cold_s: float
    warm_s: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Timing:
        rest = seconds[1:] or seconds
        return cls(seconds[0], statistics.median(rest))


def timed(what: Callable[[], Any], repeat: int) -> tuple[Timing, Any]:
    seconds, result = [], None
    for _ in range(repeat):
        started = time.monotonic()
        result = what()
        seconds.append(time.monotonic() - started)
    return Timing.of(seconds), result


def partition_health(client: graphql.DagsterGraphQL) -> dict[str, Any]:
    node = client.execute(PARTITION_HEALTH_QUERY, {"assetKey": {"path": CHANNEL_DAILY.path}})
    node = node["assetNodeOrError"]
    if "assetPartitionStatuses" not in node:
        raise BenchError(f"no partition statuses for channel_daily: {node}")
    return node


def materialized_count(node: dict[str, Any]) -> int:
    """The partitions the Partitions tab shows materialized (days x peers of each range)."""
    statuses = node["assetPartitionStatuses"]
    total = 0
    for span in statuses.get("ranges", []):
        first = date.fromisoformat(span["primaryDimStartKey"])
        last = date.fromisoformat(span["primaryDimEndKey"])
        peers = span["secondaryDim"].get("materializedPartitions", [])
        total += ((last - first).days + 1) * len(peers)
    return total


def _nodes(
    client: graphql.DagsterGraphQL, query: str, field: str, assets: list[list[str]]
) -> list[dict]:
    keys = [{"path": path} for path in assets]
    result = client.execute(query, {"assetKeys": keys})
    found = result[field]
    if field == "assetsOrError":
        if "nodes" not in found:
            raise BenchError(f"asset health failed: {found}")
        found = found["nodes"]
    return found


def asset_health(client: graphql.DagsterGraphQL, assets: list[list[str]]) -> list[dict]:
    return _nodes(client, ASSET_HEALTH_QUERY, "assetsOrError", assets)


def asset_live(client: graphql.DagsterGraphQL, assets: list[list[str]]) -> dict[str, Any]:
    return client.execute(ASSET_LIVE_QUERY, {"assetKeys": [{"path": p} for p in assets]})


def stale_status(client: graphql.DagsterGraphQL, assets: list[list[str]]) -> list[dict]:
    return _nodes(client, STALE_STATUS_QUERY, "assetNodes", assets)


# ----- the bench ---------------------------------------------------------------------------


def bench(server: str, args: argparse.Namespace) -> dict[str, Any]:
    last = datetime.now(timezone.utc).date() - timedelta(days=1)
    days = [last - timedelta(days=n) for n in reversed(range(args.days))]
    peers = [peer.key for peer in bench_peers(args.peers)]
    asset_paths = [
        list(key.path)
        for assets in build_assets(stats_partitions(days[0]))
        if isinstance(assets, dg.AssetsDefinition)
        for key in assets.keys
    ]
    figures: dict[str, Any] = {"peers": args.peers, "days": args.days}
    figures["partitions"] = args.peers * args.days
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="ui-scale-")))
        database_url = stack.enter_context(scratch_database(server, "bench_ui_scale"))
        home = tmp / "home"
        dagster_home = home / "dagster"
        dagster_home.mkdir(parents=True)
        shutil.copyfile(INSTANCE_YAML, dagster_home / "dagster.yaml")
        scenario = write_bench_scenario(tmp / "scenario", args.peers, last, 2, 0.01)
        print(f"[ui_scale] scratch database and scenario ready; logs in {args.logs}", flush=True)

        started = time.monotonic()
        with dagster_instance(dagster_home, database_url) as instance:
            figures["events"] = set_up(instance, peers, days)
        figures["setup_s"] = time.monotonic() - started
        print(f"[ui_scale] set-up: {_format(figures['setup_s'])} s", flush=True)

        env = venv_environment(
            {
                "MTPROTO_ENABLED": "true",
                "MTPROTO_STATS_ENABLED": "true",
                "MTPROTO_STATS_PEERS": ",".join(scenario.keys),
                "TGSTATS_TELEGRAM_REPLAY": str(scenario.folder),
                "TGSTATS_DATABASE_URL": database_url,
                "TGSTATS_HOME": str(home),
                "TGSTATS_START_DATE": days[0].isoformat(),
                "DAGSTER_HOME": str(dagster_home),
                "TGSTATS_DAGSTER_PG_URL": with_driver(database_url, "psycopg2"),
                "TG_API_ID": None,
                "TG_API_HASH": None,
                "TG_SESSION": None,
            }
        )
        processes = ProcessSet(args.logs, env)
        stack.callback(processes.stop)
        port = free_port()
        processes.start(
            "webserver",
            [
                str(VENV_BIN / "dagster-webserver"),
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-m",
                "tgstats_dagster.definitions",
            ],
        )
        base_url = f"http://127.0.0.1:{port}"
        client = graphql.DagsterGraphQL(base_url, timeout=900)
        processes.wait_for("answer from the webserver", lambda: server_info(base_url), 120)
        processes.wait_for(
            "loaded code location", lambda: graphql.loaded_location(client), STARTUP_TIMEOUT
        )

        timing, node = timed(lambda: partition_health(client), args.repeat)
        figures["partitions_page_cold_s"] = timing.cold_s
        figures["partitions_page_s"] = timing.warm_s
        figures["shown_materialized"] = materialized_count(node)
        print(f"[ui_scale] partitions page: {timing}", flush=True)

        timing, nodes = timed(lambda: asset_health(client, asset_paths), args.repeat)
        figures["asset_health_cold_s"] = timing.cold_s
        figures["asset_health_s"] = timing.warm_s
        figures["assets"] = len(nodes)
        daily = next(n for n in nodes if n["key"]["path"] == CHANNEL_DAILY.path)
        figures["asset_health_status"] = (daily["assetHealth"] or {}).get("assetHealth")
        print(f"[ui_scale] asset health: {timing}", flush=True)

        timing, live = timed(lambda: asset_live(client, asset_paths), args.repeat)
        figures["asset_live_cold_s"] = timing.cold_s
        figures["asset_live_s"] = timing.warm_s
        daily = next(n for n in live["assetNodes"] if n["assetKey"]["path"] == CHANNEL_DAILY.path)
        stats = daily["partitionStats"]
        figures["live_materialized"] = stats["numMaterialized"]
        figures["live_failed"] = stats["numFailed"]
        print(f"[ui_scale] asset live status: {timing}", flush=True)

        timing, _ = timed(lambda: stale_status(client, asset_paths), args.repeat)
        figures["stale_status_cold_s"] = timing.cold_s
        figures["stale_status_s"] = timing.warm_s
        print(f"[ui_scale] stale status: {timing}", flush=True)

        with dagster_instance(dagster_home, database_url) as instance:
            record_day(instance, stats_partitions(days[0]), peers, last, time.time())
        timing, _ = timed(lambda: partition_health(client), 1)
        figures["after_refresh_s"] = timing.cold_s
    return figures


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3, help="times each query is sent")
    parser.add_argument("--database-url", help="a PostgreSQL server (admin URL)")
    parser.add_argument("--logs", type=Path, help="folder kept for the webserver's log")
    args = parser.parse_args(argv)
    if args.peers < 1 or args.days < 2 or args.repeat < 1:
        parser.error("--peers >= 1, --days >= 2, --repeat >= 1")
    server = resolve_server(args.database_url)
    if server is None:
        print("ui_scale bench skipped: no PostgreSQL server (see --database-url)")
        return 0
    if args.logs is None:
        args.logs = Path(tempfile.mkdtemp(prefix="bench-ui-scale-logs-"))
    signal.signal(signal.SIGTERM, _interrupt)
    os.environ.setdefault("DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS", "true")
    figures = bench(server, args)
    print()
    for name, value in figures.items():
        print(f"{name}={_format(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
