"""The content's request budget: a 30-day backfill and the next day's refresh of a fleet of
channels with posts, stories, zooms and revenue, against the fewest requests Telegram's rules
allow.

Usage::

    .venv/bin/python bench/content.py [--peers 10] [--days 30] [--posts 40]
        [--settle-days 7] [--database-url URL] [--logs DIR]

The PostgreSQL server is ``--database-url``, else TGSTATS_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/postgres if it answers; with none, the bench says so and
exits 0 without figures. The run works in a scratch database of its own on that server
(created, then dropped) and a temporary TGSTATS_HOME; the process logs and the replay log
(TGSTATS_REPLAY_LOG: one JSON line per request the offline Telegram answered) are kept in
``--logs DIR`` (default: a new temporary folder, printed first).

Scenario: N broadcast channels (scripts/synthetic.py), stats on DC 4 for every other one
(home DC 2), each with ``--posts`` posts over a window of ``--days`` days ending the day
before yesterday (the newest 5 with their views and reactions graphs, the newest 3 with
public forwards; the second newest of every other channel with 150 more, two pages of
them), 3 stories of its last 3 weeks (the newest with graphs and forwards), a zoom for every
day of ``followers_graph`` (inline) and ``interactions_graph`` (async), and Stars and TON
revenue. Then:

1. ``tgstats backfill`` of the window (all the peers, its ``--days`` days).
2. The next day (bench/_next_day.py moves the daily graphs on; here also the content: the
   zoom of the new day for each zoomable graph, one new post published that day with the
   newest post's graphs, the revenue graphs moved on), and ``tgstats refresh`` with
   TGSTATS_SNAPSHOT_MAX_AGE_HOURS=0 (a fresh snapshot per peer, as the daily schedule gets
   the next day): MTPROTO_STATS_PERIOD_DAYS = ``--days``, so its days are the window moved
   on by one.

``content_requests``: the replay log's requests of the content kinds during the step, every
attempt counted: GetHistoryRequest, GetStoriesArchiveRequest, GetMessageStatsRequest,
GetStoryStatsRequest, Get{Message,Story}PublicForwardsRequest,
GetStarsRevenueStatsRequest, and the LoadAsyncGraphRequest of zooms and post graphs. The
log does not say which token a LoadAsyncGraphRequest loads, so those are all of the step's
LoadAsyncGraphRequest minus the snapshots' own: (snapshots fetched: GetBroadcastStatsRequest
answered) x (the peer's graphs served as async tokens, graphs/<field>.json of a field not
inline).

``min_content_requests``, from the scenario's files alone, by Telegram's rules (per peer):

- zooms: a zoom spans the 7 days around the day asked, so ceil(d / 7) per zoomable graph
  (a graphs/<field>.zoom folder) for the d asked days whose hours are not kept yet: the
  backfill's ``--days`` days; the refresh's one new day (1 per graph);
- history: ceil(p / 100) pages (at least 1) for the p posts published on the step's days;
- stories: ceil(s / 100) pages (at least 1) of the stories archive;
- for each post or story published on the step's days whose statistics are not settled:
  1 stats request + 1 LoadAsyncGraph per graph it has (``<field>.json`` in its folder:
  served as async tokens) + max(1, ceil(f / 100)) pages of its f public forwards. In the
  backfill none is kept yet; in the refresh the unsettled ones are those published less
  than ``--settle-days`` (TGSTATS_POST_SETTLE_DAYS) before the backfill started (fetched
  then, they can still change), and the new post;
- revenue: 2 requests (Stars and TON) per fresh snapshot: 1 snapshot a peer in each step.

``content_ratio`` = content_requests / min_content_requests (the acceptance: at most 1.25).
Also per step: ``seconds`` (wall time of the command), ``requests`` (every request of the
step), ``stats_requests`` (snapshots), and ``over_<Request>`` for each kind whose count
went over its share of the minimum (extra requests, by kind). The figures come last, one
``name=value`` line per step.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from datetime import time as day_time
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the test helpers are not installed, only the package
    sys.path.insert(0, str(ROOT))

from _next_day import DAY_MS, _advance_graph, advance  # noqa: E402

from scripts.synthetic import SyntheticPeer, write_scenario  # noqa: E402
from tgstats_dagster.telegram.replay.objects import INLINE_GRAPHS  # noqa: E402
from tgstats_dagster.warehouse.server import libpq_url  # noqa: E402
from tgstats_dagster_tests.databases import scratch_database  # noqa: E402
from tgstats_dagster_tests.e2e.processes import VENV_BIN, ProcessSet, venv_environment  # noqa: E402

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
HOME_DC, OTHER_STATS_DC = 2, 4
ZOOM_GRAPHS = ("followers_graph", "interactions_graph")
ZOOM_SPAN = 7
PAGE = 100
BULK_FORWARDS = 150
POST_GRAPH_FILES = ("views_graph.json", "reactions_by_emotion_graph.json")
STATS_REQUESTS = frozenset({"GetBroadcastStatsRequest", "GetMegagroupStatsRequest"})
LOAD = "LoadAsyncGraphRequest"
CONTENT_REQUESTS = (
    "GetHistoryRequest",
    "GetStoriesArchiveRequest",
    "GetMessageStatsRequest",
    "GetStoryStatsRequest",
    "GetMessagePublicForwardsRequest",
    "GetStoryPublicForwardsRequest",
    "GetStarsRevenueStatsRequest",
    LOAD,
)
UTC = timezone.utc


class BenchError(RuntimeError):
    """A step of the bench failed; the message says which and carries the process logs."""


# ----- the scenario ---------------------------------------------------------------------------


def bench_peers(count: int, posts: int) -> tuple[SyntheticPeer, ...]:
    return tuple(
        SyntheticPeer(
            key=f"content_peer_{index:03d}",
            channel_id=3_100_000_000 + index,
            title=f"content bench channel {index}",
            username=f"content_peer_{index:03d}",
            broadcast=True,
            participants_count=5_000 + 311 * index,
            stats_dc=OTHER_STATS_DC if index % 2 else HOME_DC,
            zoom_graphs=ZOOM_GRAPHS,
            posts=posts,
            stories=3,
            revenue=True,
        )
        for index in range(count)
    )


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")


def moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def write_fleet(folder: Path, peers: tuple[SyntheticPeer, ...], end: date, days: int) -> None:
    write_scenario(folder, peers=peers, end_day=end, days=days)
    for index, peer in enumerate(peers):
        if index % 2:
            continue
        posts_dir = folder / peer.key / "posts"
        with_forwards = [
            p
            for p in read_json(posts_dir / "posts.json")
            if (posts_dir / str(p["id"]) / "public_forwards.json").exists()
        ]
        post = with_forwards[-2]
        path = posts_dir / str(post["id"]) / "public_forwards.json"
        published = moment(post["date"])
        bulk = [
            {
                "kind": "message",
                "channel_id": 2_000_400_000 + i,
                "title": f"Bulk forwarder {i}",
                "username": f"bulk_forwarder_{i}" if i % 2 else None,
                "message_id": 500 + i,
                "date": (published + timedelta(minutes=5 + i)).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "views": 20 + i,
            }
            for i in range(BULK_FORWARDS)
        ]
        forwards = sorted([*read_json(path), *bulk], key=lambda f: f["date"], reverse=True)
        write_json(path, forwards)


def next_day(folder: Path) -> date:
    """The scenario served the next day: its daily graphs (bench/_next_day.py) and its
    content (a zoom of the new day, a post published that day, the revenue graphs); the new
    day."""
    advance(folder)
    new_day: date | None = None
    for peer in sorted(p for p in folder.iterdir() if (p / "peer.json").exists()):
        for zoom_dir in sorted((peer / "graphs").glob("*.zoom")):
            newest = max(zoom_dir.glob("*.json"), key=lambda p: p.stem)
            day = date.fromisoformat(newest.stem) + timedelta(days=1)
            zoom = read_json(newest)
            x_column = next(c for c in zoom["columns"] if c[0] == "x")
            x_column[1:] = [x + DAY_MS for x in x_column[1:]]
            write_json(zoom_dir / f"{day.isoformat()}.json", zoom)
            new_day = day
        posts_path = peer / "posts" / "posts.json"
        if posts_path.exists() and new_day is not None:
            posts = read_json(posts_path)
            newest_post = posts[-1]
            post = {
                **newest_post,
                "id": newest_post["id"] + 1,
                "date": datetime.combine(new_day, day_time(12), tzinfo=UTC).strftime(
                    "%Y-%m-%dT%H:%M:%SZ"
                ),
                "message": "A post of the next day",
            }
            write_json(posts_path, [*posts, post])
            source = peer / "posts" / str(newest_post["id"])
            for name in POST_GRAPH_FILES:
                if (source / name).exists():
                    target = peer / "posts" / str(post["id"]) / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(source / name, target)
        for graph in sorted((peer / "revenue").glob("*/revenue_graph.json")):
            doc = read_json(graph)
            if _advance_graph(doc, revised=0):
                write_json(graph, doc)
    if new_day is None:
        raise BenchError("the scenario has no zoom to move on")
    return new_day


# ----- the fewest requests --------------------------------------------------------------------


def pages(items: int) -> int:
    return max(1, math.ceil(items / PAGE))


@dataclass(frozen=True)
class Step:
    """What a step asks: its days, which of them have their hours kept, and which posts'
    statistics are settled (published at least ``settle`` before ``kept_at``)."""

    days: list[date]
    new_days: list[date]
    kept_at: datetime | None  # when the previous step fetched the posts' statistics
    settle: timedelta


def async_graphs(peer: Path) -> int:
    """Graphs a snapshot of the peer serves as async tokens (one load each)."""
    return sum(1 for p in (peer / "graphs").glob("*.json") if p.stem not in INLINE_GRAPHS)


def min_requests(peer: Path, step: Step) -> Counter[str]:
    """The fewest content requests of one peer for one step, by request (module docstring)."""
    out: Counter[str] = Counter()
    days = set(step.days)
    zoomable = sorted((peer / "graphs").glob("*.zoom"))
    out[LOAD] += len(zoomable) * math.ceil(len(step.new_days) / ZOOM_SPAN)
    for kind, folder, listing, stats, forwards in (
        ("message", "posts", "posts.json", "GetMessageStatsRequest", "Message"),
        ("story", "stories", "stories.json", "GetStoryStatsRequest", "Story"),
    ):
        path = peer / folder / listing
        entries = read_json(path) if path.exists() else []
        published = [e for e in entries if moment(e["date"]).date() in days]
        if kind == "message":
            out["GetHistoryRequest"] += pages(len(published))
        else:
            out["GetStoriesArchiveRequest"] += pages(len(entries))
        for entry in published:
            when = moment(entry["date"])
            if step.kept_at is not None and step.kept_at - when >= step.settle:
                continue  # settled at the previous step: never again
            post_dir = peer / folder / str(entry["id"])
            out[stats] += 1
            out[LOAD] += sum(1 for name in POST_GRAPH_FILES if (post_dir / name).exists())
            forwards_path = post_dir / "public_forwards.json"
            count = len(read_json(forwards_path)) if forwards_path.exists() else 0
            out[f"Get{forwards}PublicForwardsRequest"] += pages(count)
    out["GetStarsRevenueStatsRequest"] += 2
    return out


def fleet_min(folder: Path, keys: list[str], step: Step) -> Counter[str]:
    total: Counter[str] = Counter()
    for key in keys:
        total += min_requests(folder / key, step)
    return total


def content_counts(entries: list[dict[str, Any]], folder: Path) -> tuple[Counter[str], int]:
    """(content requests by kind, snapshots fetched) of a step's replay-log lines."""
    by_kind = Counter(e["request"] for e in entries if e["request"] in CONTENT_REQUESTS)
    snapshots = Counter(
        e["peer"] for e in entries if e["request"] in STATS_REQUESTS and e["outcome"] == "ok"
    )
    snapshot_loads = sum(n * async_graphs(folder / peer) for peer, n in snapshots.items())
    by_kind[LOAD] = max(0, by_kind[LOAD] - snapshot_loads)
    return by_kind, sum(snapshots.values())


# ----- running tgstats ------------------------------------------------------------------------


def resolve_server(option: str | None) -> str | None:
    url = option or os.environ.get("TGSTATS_DATABASE_URL")
    if url:
        return url
    try:
        with psycopg.connect(libpq_url(DEFAULT_SERVER), connect_timeout=3):
            return DEFAULT_SERVER
    except psycopg.Error:
        return None


def log_entries(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def tgstats(log_dir: Path, env: dict[str, str], name: str, *args: str, timeout: float) -> float:
    """``tgstats ARGS`` to its end (stopped with its process group on errors); its seconds."""
    processes = ProcessSet(log_dir, env)
    try:
        started = time.monotonic()
        process = processes.start(name, [str(VENV_BIN / "tgstats"), *args])
        try:
            process.popen.wait(timeout)
        except Exception as exc:  # a timeout, or Ctrl-C: the process group is stopped below
            raise BenchError(f"tgstats {args[0]} did not end:\n{processes.logs(30)}") from exc
        seconds = time.monotonic() - started
    finally:
        processes.stop()
    if process.popen.returncode != 0:
        raise BenchError(
            f"tgstats {args[0]} exited with {process.popen.returncode}:\n{processes.logs(30)}"
        )
    return seconds


def step_figures(
    name: str, seconds: float, entries: list[dict[str, Any]], folder: Path, least: Counter[str]
) -> dict[str, Any]:
    counts, snapshots = content_counts(entries, folder)
    content = sum(counts.values())
    minimum = sum(least.values())
    figures: dict[str, Any] = {
        "step": name,
        "seconds": round(seconds, 1),
        "requests": len(entries),
        "stats_requests": sum(e["request"] in STATS_REQUESTS for e in entries),
        "snapshots": snapshots,
        "content_requests": content,
        "min_content_requests": minimum,
        "content_ratio": round(content / minimum, 3) if minimum else 0.0,
    }
    for kind in CONTENT_REQUESTS:
        if counts[kind] > least[kind]:
            figures[f"over_{kind}"] = counts[kind] - least[kind]
    return figures


def run(args: argparse.Namespace, server: str) -> list[dict[str, Any]]:
    today = datetime.now(UTC).date()
    end = today - timedelta(days=2)  # the refresh's next day is yesterday
    first = end - timedelta(days=args.days - 1)
    settle = timedelta(days=args.settle_days)
    peers = bench_peers(args.peers, args.posts)
    keys = [p.key for p in peers]
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-content-")))
        database_url = stack.enter_context(scratch_database(server, "bench_content"))
        folder = tmp / "scenario"
        write_fleet(folder, peers, end, args.days)
        replay_log = args.logs / "replay.jsonl"
        replay_log.unlink(missing_ok=True)
        env = venv_environment(
            {
                "MTPROTO_ENABLED": "true",
                "MTPROTO_STATS_ENABLED": "true",
                "MTPROTO_STATS_PEERS": ",".join(keys),
                "MTPROTO_STATS_PERIOD_DAYS": str(args.days),
                "TGSTATS_POST_SETTLE_DAYS": str(args.settle_days),
                "TGSTATS_TELEGRAM_REPLAY": str(folder),
                "TGSTATS_REPLAY_LOG": str(replay_log),
                "TGSTATS_DATABASE_URL": database_url,
                "TGSTATS_HOME": str(tmp / "home"),
                "TGSTATS_START_DATE": first.isoformat(),
                "DAGSTER_HOME": None,
                "TGSTATS_DAGSTER_PG_URL": None,
                "TG_API_ID": None,
                "TG_API_HASH": None,
                "TG_SESSION": None,
                "TGSTATS_SNAPSHOT_MAX_AGE_HOURS": None,
            }
        )
        timeout = 600.0 + 30.0 * args.peers
        print(f"[content] {args.peers} channels, backfill {first}..{end}", flush=True)
        days = [first + timedelta(days=i) for i in range(args.days)]
        backfill_least = fleet_min(folder, keys, Step(days, days, None, settle))
        started_at = datetime.now(UTC)
        seconds = tgstats(
            args.logs,
            env,
            "backfill",
            "backfill",
            "--start",
            first.isoformat(),
            "--end",
            end.isoformat(),
            timeout=timeout,
        )
        entries = log_entries(replay_log)
        results = [step_figures("backfill", seconds, entries, folder, backfill_least)]
        print(f"[content] {line(results[-1])}", flush=True)

        new_day = next_day(folder)
        refresh_days = [new_day - timedelta(days=args.days - 1 - i) for i in range(args.days)]
        refresh_least = fleet_min(folder, keys, Step(refresh_days, [new_day], started_at, settle))
        before = len(entries)
        seconds = tgstats(
            args.logs,
            {**env, "TGSTATS_SNAPSHOT_MAX_AGE_HOURS": "0"},
            "refresh",
            "refresh",
            timeout=timeout,
        )
        entries = log_entries(replay_log)[before:]
        results.append(step_figures("refresh", seconds, entries, folder, refresh_least))
        print(f"[content] {line(results[-1])}", flush=True)
        return results


def line(figures: dict[str, Any]) -> str:
    return " ".join(f"{name}={value}" for name, value in figures.items())


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peers", type=int, default=10, help="channels of the fleet")
    parser.add_argument("--days", type=int, default=30, help="days of the backfill")
    parser.add_argument("--posts", type=int, default=40, help="posts of each channel")
    parser.add_argument(
        "--settle-days", type=int, default=7, help="TGSTATS_POST_SETTLE_DAYS (default 7)"
    )
    parser.add_argument("--database-url", help="a PostgreSQL server (admin URL)")
    parser.add_argument("--logs", type=Path, help="folder kept for the process and replay logs")
    args = parser.parse_args(argv)
    if args.peers < 1 or args.days < 8 or args.posts < 6:
        parser.error("--peers >= 1, --days >= 8 and --posts >= 6")
    server = resolve_server(args.database_url)
    if server is None:
        print(
            "content bench skipped: no --database-url, no TGSTATS_DATABASE_URL, and "
            f"{DEFAULT_SERVER} does not answer"
        )
        return 0
    if args.logs is None:
        args.logs = Path(tempfile.mkdtemp(prefix="bench-content-logs-"))
    args.logs.mkdir(parents=True, exist_ok=True)
    print(f"[content] process and replay logs: {args.logs}", flush=True)
    signal.signal(signal.SIGTERM, _interrupt)
    results = run(args, server)
    print()
    for figures in results:
        print(line(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
