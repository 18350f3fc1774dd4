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
``--days`` daily refreshes, written straight into its event log (the rows Dagster's batch
write stores, as a run worker with DAGSTER_EVENT_BATCH_SIZE writes them; the run, planned and
check events through the instance), not through that many real runs: per
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
- ``asset_health``: the asset catalog's ``AssetHealthQuery`` for every asset (Dagster+ only:
  the open-source instance answers ``assetHealth`` null, ``asset_health_status=None``).
- ``asset_live``: what the open-source UI draws as each asset's status in the catalog, the
  graph and the asset's overview (``AssetGraphLiveQuery`` for every asset: latest
  materialization and run, checks, ``partitionStats``); ``stale_status``: its
  ``AssetStaleStatusDataQuery``.
- ``after_refresh``: ``PartitionHealthQuery`` again after one more day's run is recorded
  (the status cache brought up to date by 1,000 new materializations).
- ``after_new_peer``: ``PartitionHealthQuery`` after one peer is added to ``stats_peer``
  (the status caches rebuilt from the whole event log), then the live status of every asset.

Every process started is stopped and the scratch database dropped, also on errors and
Ctrl-C. The figures come last, one ``name=value`` line each.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
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
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from datetime import time as day_time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the test helpers are not installed, only the package
    sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402
import psycopg  # noqa: E402
from _refresh_scenario import bench_peers, write_bench_scenario  # noqa: E402
from dagster._core.definitions.partitions.context import partition_loading_context  # noqa: E402
from dagster._core.events import (  # noqa: E402
    AssetMaterializationPlannedData,
    DagsterEvent,
    DagsterEventType,
    StepMaterializationData,
)
from dagster._core.events.log import EventLogEntry  # noqa: E402
from dagster._serdes import deserialize_value, serialize_value  # noqa: E402
from refresh import _format, dagster_instance, resolve_server  # noqa: E402

from tgstats_dagster.assets import build_assets  # noqa: E402
from tgstats_dagster.assets.daily import CHANNEL_DAILY, COVERS_DAYS, NOT_NEGATIVE  # noqa: E402
from tgstats_dagster.cli.instance import INSTANCE_YAML  # noqa: E402
from tgstats_dagster.partitions import (  # noqa: E402
    PEER,
    STATS_PEER,
    PeerDay,
    range_tags,
    stats_partitions,
    stats_range_tags,
)
from tgstats_dagster.runs import STATS_JOB  # noqa: E402
from tgstats_dagster.warehouse.server import libpq_url, with_driver  # noqa: E402
from tgstats_dagster_tests.databases import scratch_database  # noqa: E402
from tgstats_dagster_tests.e2e import graphql  # noqa: E402
from tgstats_dagster_tests.e2e.processes import (  # noqa: E402
    VENV_BIN,
    ProcessSet,
    free_port,
    server_info,
    venv_environment,
)

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
    data_version: str,
) -> EventLogEntry:
    """A materialization as a run's step writes it: metadata, data and code version tags,
    and for a peer x date key its dimension tags."""
    tags = {"dagster/code_version": run_id, "dagster/data_version": data_version}
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


@dataclass(frozen=True)
class Materializations:
    """The materializations of one asset in one run, one per partition, alike but for the
    values in ``values`` (peer -> {placeholder: value}).

    Dagster's serializer takes 2 ms an event, which is 12 minutes for a year of 1,000 peers,
    so each kind of event is serialized once with placeholders, and the placeholders are
    replaced in its text; ``check`` deserializes one such text and compares it with the event
    built and serialized by Dagster.
    """

    run_id: str
    job: str
    asset: dg.AssetKey
    at: float
    day: date | None
    build: Callable[[str, dict[str, Any]], EventLogEntry]
    values: dict[str, dict[str, Any]]

    def partition(self, peer: str) -> str:
        return str(PeerDay(peer, self.day).key) if self.day else peer

    def texts(self) -> Iterator[tuple[str, str]]:
        """(partition, serialized event) of every partition."""
        templates: dict[tuple[str, ...], str] = {}
        for peer, values in self.values.items():
            shape = tuple(sorted(values))
            if shape not in templates:
                placeholders = {name: _placeholder(name, value) for name, value in values.items()}
                templates[shape] = serialize_value(self.build(PEER_PLACEHOLDER, placeholders))
            text = templates[shape].replace(PEER_PLACEHOLDER, peer)
            for name, value in values.items():
                text = text.replace(_placeholder_text(name, value), _json_text(value))
            yield self.partition(peer), text

    def check(self) -> None:
        peer, values = next(iter(self.values.items()))
        _, text = next(self.texts())
        expected = self.build(peer, values)
        if deserialize_value(text, EventLogEntry) != expected:
            raise BenchError(f"templated event differs from Dagster's: {text[:2000]}")


PEER_PLACEHOLDER = "peerplaceholder0"


def _placeholder(name: str, value: Any) -> Any:
    index = 700_000_000 + sum(map(ord, name))
    return index if isinstance(value, int) else f"placeholder-{name}"


def _placeholder_text(name: str, value: Any) -> str:
    return _json_text(_placeholder(name, value))


def _json_text(value: Any) -> str:
    return str(value) if isinstance(value, int) else json.dumps(value)[1:-1]


def _copy(database_url: str, instance: dg.DagsterInstance, group: Materializations) -> int:
    """Insert the materializations of ``group`` as Dagster's batch write does (event rows,
    their indexed tags, the asset's latest event); the number of events."""
    group.check()
    rows = list(group.texts())
    at = datetime.fromtimestamp(group.at, timezone.utc).replace(tzinfo=None)
    asset = group.asset.to_string()
    step = group.asset.path[-1] if group.job == STATS_JOB else group.job
    with psycopg.connect(libpq_url(database_url)) as conn:
        ids = [
            row[0]
            for row in conn.execute(
                "INSERT INTO event_logs "
                "(run_id, event, dagster_event_type, timestamp, step_key, asset_key, partition) "
                "SELECT %s, event, 'ASSET_MATERIALIZATION', %s, %s, %s, partition "
                "FROM unnest(%b::text[], %b::text[]) WITH ORDINALITY AS t(event, partition, n) "
                "ORDER BY n RETURNING id",
                (group.run_id, at, step, asset, [t for _, t in rows], [p for p, _ in rows]),
            ).fetchall()
        ]
        tags: list[tuple[int, str, str]] = []
        for event_id, (_, text) in zip(ids, rows, strict=True):
            entry_tags = deserialize_tags(text)
            tags += [(event_id, key, value) for key, value in entry_tags.items()]
        conn.execute(
            "INSERT INTO asset_event_tags (event_id, asset_key, key, value, event_timestamp) "
            "SELECT event_id, %s, key, value, %s FROM unnest(%b::bigint[], %b::text[], %b::text[])"
            " AS t(event_id, key, value)",
            (asset, at, [t[0] for t in tags], [t[1] for t in tags], [t[2] for t in tags]),
        )
    storage = instance.event_log_storage
    last = deserialize_value(rows[-1][1], EventLogEntry)
    with storage.index_transaction() as conn:
        storage._store_asset_event(conn, last, ids[-1])  # the asset's latest materialization
    return len(rows)


def deserialize_tags(text: str) -> dict[str, str]:
    """The tags Dagster indexes of a serialized materialization (data version, dimensions)."""
    tags = json.loads(text)["dagster_event"]["event_specific_data"]["materialization"]["tags"]
    return {
        key: value
        for key, value in tags.items()
        if key == "dagster/data_version" or key.startswith("dagster/partition/")
    }


@dataclass
class RunEvents:
    """What one run records: events before its materializations, the materializations
    (by asset), events after them."""

    run: dg.DagsterRun
    before: list[EventLogEntry] = field(default_factory=list)
    materializations: list[Materializations] = field(default_factory=list)
    after: list[EventLogEntry] = field(default_factory=list)
    count: int = 0


@contextlib.contextmanager
def _run(
    instance: dg.DagsterInstance, database_url: str, job: str, tags: dict[str, str], at: float
) -> Iterator[RunEvents]:
    """A run record that goes from start to success around the events recorded inside;
    ``RunEvents.count`` is set to the number of events written."""
    run = instance.add_run(dg.DagsterRun(job_name=job, run_id=str(uuid.uuid4()), tags=tags))
    recorded = RunEvents(run)
    yield recorded
    instance.handle_new_event(_entry(run.run_id, job, None, DagsterEventType.RUN_START, None, at))
    for entry in recorded.before:
        instance.handle_new_event(entry)
    written = sum(_copy(database_url, instance, group) for group in recorded.materializations)
    for entry in recorded.after:
        instance.handle_new_event(entry)
    end = at + 60 + written / 500
    instance.handle_new_event(
        _entry(run.run_id, job, None, DagsterEventType.RUN_SUCCESS, None, end)
    )
    recorded.count = written + len(recorded.before) + len(recorded.after) + 2


def _tick_time(day: date, now: float) -> float:
    """When the refresh of ``day`` ran: the next day's 03:30 UTC tick, never in the future."""
    return min(datetime.combine(day + timedelta(days=1), TICK).timestamp(), now - 120)


def record_day(
    instance: dg.DagsterInstance,
    database_url: str,
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
    step = CHANNEL_DAILY.path[-1]
    with _run(instance, database_url, STATS_JOB, tags, at) as recorded:
        run_id = recorded.run.run_id
        with partition_loading_context(dynamic_partitions_store=instance):
            subset = recorded.run.get_resolved_partitions_subset_for_events(partitions)
        planned = AssetMaterializationPlannedData(CHANNEL_DAILY, partitions_subset=subset)
        recorded.before.append(
            _entry(
                run_id, STATS_JOB, step, DagsterEventType.ASSET_MATERIALIZATION_PLANNED, planned, at
            )
        )
        for check in (COVERS_DAYS, NOT_NEGATIVE):
            planned_check = AssetCheckEvaluationPlanned(asset_key=CHANNEL_DAILY, check_name=check)
            recorded.before.append(
                _entry(
                    run_id,
                    STATS_JOB,
                    step,
                    DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED,
                    planned_check,
                    at,
                )
            )
        fetched_at = datetime.fromtimestamp(at - 30, timezone.utc).isoformat()

        def build(peer: str, values: dict[str, Any]) -> EventLogEntry:
            metadata = {
                "dagster/partition_row_count": values["rows"],
                "snapshot_fetched_at": fetched_at,
                **{k: v for k, v in values.items() if k in ("followers", "members")},
            }
            key = PeerDay(peer, day).key
            return _materialization(
                run_id, STATS_JOB, CHANNEL_DAILY, key, metadata, at, values["data_version"]
            )

        values = {
            peer: {
                "rows": 22 + index % 7,
                "followers" if index % 2 == 0 else "members": 1_000 + 137 * index,
                "data_version": uuid.uuid4().hex,
            }
            for index, peer in enumerate(peers)
        }
        recorded.materializations.append(
            Materializations(run_id, STATS_JOB, CHANNEL_DAILY, at, day, build, values)
        )
        for check in (COVERS_DAYS, NOT_NEGATIVE):
            evaluation = AssetCheckEvaluation(
                asset_key=CHANNEL_DAILY,
                check_name=check,
                passed=True,
                metadata={"days_requested": len(peers)},
            )
            recorded.after.append(
                _entry(
                    run_id, STATS_JOB, step, DagsterEventType.ASSET_CHECK_EVALUATION, evaluation, at
                )
            )
    return recorded.count


def _peer_materialization(
    run_id: str,
    job: str,
    asset: dg.AssetKey,
    fetched_at: str,
    at: float,
    peer: str,
    values: dict[str, Any],
) -> EventLogEntry:
    metadata = {"snapshot_fetched_at": fetched_at}
    return _materialization(run_id, job, asset, peer, metadata, at, values["data_version"])


def record_peer_assets(
    instance: dg.DagsterInstance, database_url: str, peers: Sequence[str], now: float
) -> int:
    """The peer-partitioned assets, each peer once, one run per job: their events."""
    count = 0
    at = now - 3600
    fetched_at = datetime.fromtimestamp(at - 30, timezone.utc).isoformat()
    for job in dict.fromkeys(PEER_ASSET_JOBS.values()):
        tags = range_tags(peers[0], peers[-1])
        with _run(instance, database_url, job, tags, at) as recorded:
            run_id = recorded.run.run_id
            for asset in [asset for asset, owner in PEER_ASSET_JOBS.items() if owner == job]:
                key = dg.AssetKey(asset)

                build = functools.partial(_peer_materialization, run_id, job, key, fetched_at, at)
                values = {peer: {"data_version": uuid.uuid4().hex} for peer in peers}
                recorded.materializations.append(
                    Materializations(run_id, job, key, at, None, build, values)
                )
        count += recorded.count
    return count


def set_up(
    instance: dg.DagsterInstance, database_url: str, peers: Sequence[str], days: Sequence[date]
) -> int:
    """The dynamic partitions and a year of history; the number of events written."""
    instance.add_dynamic_partitions(PEER, list(peers))
    instance.add_dynamic_partitions(STATS_PEER, list(peers))
    partitions = stats_partitions(days[0])
    now = time.time()
    events = record_peer_assets(instance, database_url, peers, now)
    for number, day in enumerate(days):
        events += record_day(instance, database_url, partitions, peers, day, now)
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
            figures["events"] = set_up(instance, database_url, peers, days)
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
            record_day(instance, database_url, stats_partitions(days[0]), peers, last, time.time())
        timing, _ = timed(lambda: partition_health(client), 1)
        figures["after_refresh_s"] = timing.cold_s

        # A new stats peer changes the partitions definition's identity (its dynamic keys):
        # Dagster drops the status cache of every asset partitioned by it and rebuilds it.
        with dagster_instance(dagster_home, database_url) as instance:
            instance.add_dynamic_partitions(STATS_PEER, ["bench_peer_new"])
        timing, _ = timed(lambda: partition_health(client), args.repeat)
        figures["after_new_peer_s"] = timing.cold_s
        figures["after_new_peer_warm_s"] = timing.warm_s
        timing, _ = timed(lambda: asset_live(client, asset_paths), 1)
        figures["asset_live_after_new_peer_s"] = timing.cold_s
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
