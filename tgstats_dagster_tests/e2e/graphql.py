"""The Dagster webserver's GraphQL API, with the queries and mutations its UI sends.

Backfills go through ``launchPartitionBackfill`` with ``assetSelection`` and
``partitionNames`` (what the UI's "Launch backfill" sends for assets); one partition through
``launchPipelineExecution`` on the implicit asset job with the partition tags (the UI's
"Materialize"); a schedule tick through ``scheduleDryRun`` (the UI's "Test schedule").
"""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

IMPLICIT_ASSET_JOB = "__ASSET_JOB"
FINISHED_RUN_STATUSES = {"SUCCESS", "FAILURE", "CANCELED"}
FINISHED_BACKFILL_STATUSES = {"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED"}
FINISHED_BACKFILL_STATUSES |= {"CANCELED", "FAILING"}


class GraphQLError(RuntimeError):
    """The API answered with errors, or with an error type instead of the expected result."""


@dataclass(frozen=True)
class Location:
    """A loaded code location and its repository: what every selector names."""

    location: str
    repository: str

    @property
    def repository_selector(self) -> dict[str, str]:
        return {"repositoryLocationName": self.location, "repositoryName": self.repository}


class DagsterGraphQL:
    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.url = f"{base_url}/graphql"
        self.timeout = timeout

    def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise GraphQLError(json.dumps(payload["errors"], indent=1)[:4000])
        return payload["data"]


def expect(result: dict[str, Any], typename: str) -> dict[str, Any]:
    """``result`` if it is of ``typename``; otherwise a GraphQLError with its message."""
    if result.get("__typename") != typename:
        raise GraphQLError(f"expected {typename}, got {json.dumps(result, indent=1)[:4000]}")
    return result


WORKSPACE = """
query Workspace {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError {
          __typename
          ... on RepositoryLocation { name repositories { name } }
          ... on PythonError { message stack }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""


def loaded_location(client: DagsterGraphQL) -> Location | None:
    """The one code location once loaded; None while loading; GraphQLError on a load error."""
    workspace = expect(client.execute(WORKSPACE)["workspaceOrError"], "Workspace")
    entries = workspace["locationEntries"]
    if len(entries) != 1 or entries[0]["loadStatus"] != "LOADED":
        return None
    loaded = entries[0]["locationOrLoadError"]
    if loaded is None:
        return None
    if loaded["__typename"] == "PythonError":
        raise GraphQLError(f"code location {entries[0]['name']} failed to load: {loaded}")
    (repository,) = loaded["repositories"]
    return Location(loaded["name"], repository["name"])


DAEMON_HEALTH = """
query DaemonHealth {
  instance { daemonHealth { allDaemonStatuses { daemonType required healthy } } }
}
"""


def daemons_healthy(client: DagsterGraphQL) -> bool:
    statuses = client.execute(DAEMON_HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
    required = [s for s in statuses if s["required"]]
    return bool(required) and all(s["healthy"] for s in required)


SENSOR_TICKS = """
query SensorTicks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    __typename
    ... on Sensor {
      sensorState {
        status
        ticks(limit: 20) {
          timestamp
          status
          runIds
          skipReason
          error { message }
          dynamicPartitionsRequestResults { partitionsDefName partitionKeys type }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""


def sensor_ticks(client: DagsterGraphQL, where: Location, sensor: str) -> dict[str, Any]:
    """The sensor's state: ``status`` and its latest ``ticks`` (newest first)."""
    selector = {**where.repository_selector, "sensorName": sensor}
    result = client.execute(SENSOR_TICKS, {"selector": selector})["sensorOrError"]
    return expect(result, "Sensor")["sensorState"]


RUNS = """
query Runs($filter: RunsFilter) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs {
      results { runId status jobName tags { key value } }
    }
    ... on PythonError { message }
  }
}
"""


def runs(
    client: DagsterGraphQL, *, run_ids: list[str] | None = None, tags: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Runs by id or tags, each with ``tags`` as a dict."""
    run_filter: dict[str, Any] = {}
    if run_ids is not None:
        run_filter["runIds"] = run_ids
    if tags:
        run_filter["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
    result = expect(client.execute(RUNS, {"filter": run_filter})["runsOrError"], "Runs")
    return [
        {**run, "tags": {tag["key"]: tag["value"] for tag in run["tags"]}}
        for run in result["results"]
    ]


LAUNCH_BACKFILL = """
mutation LaunchPartitionBackfill($backfillParams: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $backfillParams) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PartitionSetNotFoundError { message }
    ... on PartitionKeysNotFoundError { message }
    ... on InvalidSubsetError { message }
    ... on PythonError { message stack }
  }
}
"""


def launch_asset_backfill(
    client: DagsterGraphQL, assets: list[str], partition_names: list[str], title: str
) -> str:
    """An asset backfill of ``partition_names`` (``"<date>|<peer>"``): its id."""
    params = {
        "assetSelection": [{"path": [asset]} for asset in assets],
        "partitionNames": partition_names,
        "fromFailure": False,
        "title": title,
        "tags": [],
    }
    result = client.execute(LAUNCH_BACKFILL, {"backfillParams": params})
    return expect(result["launchPartitionBackfill"], "LaunchBackfillSuccess")["backfillId"]


BACKFILL = """
query Backfill($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill {
      id
      status
      numPartitions
      error { message }
      runs { runId status tags { key value } }
    }
    ... on PythonError { message }
  }
}
"""


def backfill(client: DagsterGraphQL, backfill_id: str) -> dict[str, Any]:
    result = client.execute(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
    found = expect(result, "PartitionBackfill")
    for run in found["runs"]:
        run["tags"] = {tag["key"]: tag["value"] for tag in run["tags"]}
    return found


LAUNCH_RUN = """
mutation LaunchPipelineExecution($executionParams: ExecutionParams!) {
  launchPipelineExecution(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PythonError { message stack }
  }
}
"""


def launch_partition_run(
    client: DagsterGraphQL, where: Location, assets: list[str], dimensions: dict[str, str]
) -> str:
    """Materialize ``assets`` for one multi-partition key, as the UI's Materialize button does."""
    key = "|".join(dimensions[name] for name in sorted(dimensions))
    tags = [{"key": "dagster/partition", "value": key}] + [
        {"key": f"dagster/partition/{name}", "value": value}
        for name, value in sorted(dimensions.items())
    ]
    params = {
        "mode": "default",
        "runConfigData": "{}",
        "executionMetadata": {"tags": tags},
        "selector": {
            **where.repository_selector,
            "pipelineName": IMPLICIT_ASSET_JOB,
            "assetSelection": [{"path": [asset]} for asset in assets],
        },
    }
    result = client.execute(LAUNCH_RUN, {"executionParams": params})
    return expect(result["launchPipelineExecution"], "LaunchRunSuccess")["run"]["runId"]


ASSET_NODES = """
query AssetGraph {
  assetNodes {
    assetKey { path }
    groupName
    isPartitioned
    jobNames
    dependencyKeys { path }
    dependedByKeys { path }
  }
}
"""


def asset_graph(client: DagsterGraphQL) -> dict[str, dict[str, Any]]:
    """asset name -> its group, jobs, and upstream and downstream asset names."""
    graph = {}
    for node in client.execute(ASSET_NODES)["assetNodes"]:
        name = "/".join(node["assetKey"]["path"])
        graph[name] = {
            "group": node["groupName"],
            "partitioned": node["isPartitioned"],
            "jobs": node["jobNames"],
            "upstream": {"/".join(k["path"]) for k in node["dependencyKeys"]},
            "downstream": {"/".join(k["path"]) for k in node["dependedByKeys"]},
        }
    return graph


PARTITION_STATUS = """
query PartitionStatus($assetKey: AssetKeyInput!) {
  assetNodeOrError(assetKey: $assetKey) {
    __typename
    ... on AssetNode {
      partitionStats { numMaterialized numPartitions numFailed numMaterializing }
      partitionKeysByDimension { name partitionKeys }
      assetPartitionStatuses {
        __typename
        ... on DefaultPartitionStatuses { materializedPartitions failedPartitions }
        ... on MultiPartitionStatuses {
          primaryDimensionName
          ranges {
            primaryDimStartKey
            primaryDimEndKey
            secondaryDim {
              __typename
              ... on DefaultPartitionStatuses { materializedPartitions failedPartitions }
            }
          }
        }
      }
    }
  }
}
"""


def partition_status(client: DagsterGraphQL, asset: str) -> dict[str, Any]:
    """``stats`` (counts), ``dimensions`` (keys by name), ``materialized`` and ``failed`` keys.

    For a peer x date asset, keys read ``"<date>|<peer>"``; the API gives them as ranges of
    days (the primary dimension) with the peers materialized across each range.
    """
    node = client.execute(PARTITION_STATUS, {"assetKey": {"path": [asset]}})
    node = expect(node["assetNodeOrError"], "AssetNode")
    statuses = node["assetPartitionStatuses"]
    materialized: set[str] = set()
    failed: set[str] = set()
    if statuses["__typename"] == "DefaultPartitionStatuses":
        materialized = set(statuses["materializedPartitions"])
        failed = set(statuses["failedPartitions"])
    else:
        expect(statuses, "MultiPartitionStatuses")
        assert statuses["primaryDimensionName"] == "date", statuses
        for span in statuses["ranges"]:
            first = date.fromisoformat(span["primaryDimStartKey"])
            last = date.fromisoformat(span["primaryDimEndKey"])
            days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
            peers = span["secondaryDim"]
            for day in days:
                materialized |= {f"{day}|{p}" for p in peers["materializedPartitions"]}
                failed |= {f"{day}|{p}" for p in peers["failedPartitions"]}
    return {
        "stats": node["partitionStats"],
        "dimensions": {d["name"]: d["partitionKeys"] for d in node["partitionKeysByDimension"]},
        "materialized": materialized,
        "failed": failed,
    }


SCHEDULE = """
query Schedule($selector: ScheduleSelector!) {
  scheduleOrError(scheduleSelector: $selector) {
    __typename
    ... on Schedule {
      name
      cronSchedule
      executionTimezone
      pipelineName
      scheduleState { status }
    }
    ... on PythonError { message }
  }
}
"""


def schedule(client: DagsterGraphQL, where: Location, name: str) -> dict[str, Any]:
    selector = {**where.repository_selector, "scheduleName": name}
    return expect(client.execute(SCHEDULE, {"selector": selector})["scheduleOrError"], "Schedule")


# What the UI's "Test schedule" asks for each run request (its RunRequestFragment).
SCHEDULE_DRY_RUN = """
mutation ScheduleDryRun($selector: ScheduleSelector!, $timestamp: Float) {
  scheduleDryRun(selectorData: $selector, timestamp: $timestamp) {
    __typename
    ... on DryRunInstigationTick {
      timestamp
      evaluationResult {
        runRequests {
          runConfigYaml
          tags { key value }
          runKey
          jobName
          assetSelection { path }
          assetChecks { name assetKey { path } }
        }
        skipReason
        error { message stack }
      }
    }
    ... on ScheduleNotFoundError { message }
    ... on PythonError { message stack }
  }
}
"""


def schedule_dry_run(
    client: DagsterGraphQL, where: Location, name: str, timestamp: float
) -> dict[str, Any]:
    """Evaluate one tick of the schedule at ``timestamp`` in the code location (no run starts).

    Returns ``runRequests`` (each with ``tags`` as a dict), ``skipReason`` and ``error``.
    """
    selector = {**where.repository_selector, "scheduleName": name}
    result = client.execute(SCHEDULE_DRY_RUN, {"selector": selector, "timestamp": timestamp})
    tick = expect(result["scheduleDryRun"], "DryRunInstigationTick")["evaluationResult"]
    for request in tick["runRequests"] or []:
        request["tags"] = {tag["key"]: tag["value"] for tag in request["tags"]}
    return tick


RUN_LOGS = """
query RunLogs($runId: ID!) {
  logsForRun(runId: $runId) {
    __typename
    ... on EventConnection {
      events { __typename ... on MessageEvent { message timestamp } }
    }
    ... on PythonError { message }
  }
}
"""


def run_messages(client: DagsterGraphQL, run_id: str) -> list[str]:
    """The messages of a run's event log, oldest first."""
    result = client.execute(RUN_LOGS, {"runId": run_id})["logsForRun"]
    events = expect(result, "EventConnection")["events"]
    return [event["message"] for event in events if event.get("message")]
