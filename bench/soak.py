"""A soak: many days of ``tgstats refresh`` and ``tgstats backfill`` under random faults.

Usage::

    .venv/bin/python bench/soak.py [--cycles 30] [--peers 6] [--days 10] [--latency 0.02]
        [--seed N] [--kinds sigkill_group,...] [--database-url URL] [--logs DIR]

Each cycle is a "day": the scenario moves on by one day (bench/_next_day.py: a new day, the
two before it revised, the daily revenue graphs too; bench/_soak_content.py: each channel
publishes a post and a story, and the new day has no zoom file, so its zoom answers
NOT_ENOUGH_DATA), then one real CLI process runs, ``tgstats refresh`` or (one cycle in
four, at random) ``tgstats backfill`` of the scenario's current window, with
TGSTATS_SNAPSHOT_MAX_AGE_HOURS=0 so that every cycle fetches. The fleet is bench/
_refresh_scenario.py's: ``--peers`` peers, channels and supergroups alternately, on stats DC 2
and DC 4, with content (bench/_soak_content.py): every channel has hourly zooms of its
followers graph for the first window's days, posts (about one a day), stories, and Stars and
TON revenue; every supergroup zooms of its members graph. The first cycle is a clean
backfill, every faulted cycle is followed by a clean one (which measures the recovery), and
the last cycle is clean. The fault kinds are dealt from a shuffled deck (every kind comes up
before any comes up twice); ``--seed`` (printed first) replays the same draws (the content of
the new days has a random generator of its own).

Fault kinds:

- the offline Telegram's (scenario.json ``faults``, docs/scenario-format.md), with
  MTPROTO_FLOOD_SLEEP_THRESHOLD=5: ``flood_short`` (FLOOD_WAIT_2 or _3: slept),
  ``flood_long`` (FLOOD_WAIT_8: beyond the threshold), ``connection_dropped``,
  ``graph_reload`` (GRAPH_EXPIRED_RELOAD or GRAPH_OUTDATED_RELOAD on LoadAsyncGraphRequest),
  ``chp_call_fail`` (on the stats request or a channel's content request), ``no_answer``
  (NO_ANSWER: the request is never answered, with MTPROTO_REQUEST_TIMEOUT=2), each on a random
  request kind and peer: the stats request, LoadAsyncGraphRequest (one time in two, with
  ``after`` the snapshot's own async graphs: one of the first zooms or posts' graphs), and
  for a channel GetHistoryRequest, GetMessageStatsRequest, GetMessagePublicForwardsRequest
  and GetStarsRevenueStatsRequest;
- ``sigkill_group``, ``sigkill_process``, ``sigint_group``, ``sigint_process``,
  ``sigterm_group``, ``sigterm_process``: the signal to the command's process group or to
  the process alone, at a random moment (uniform) within 0.9 x the clean cycles' mean
  duration, so that nearly every signal lands while the command runs;
- ``pg_terminate``: ``pg_terminate_backend`` of the first warehouse connection seen running a
  COPY or an INSERT into a warehouse table (pg_stat_activity of the scratch database, polled
  from a random moment on); when none is seen before the command ends, the fault is counted
  as ``faults_missed_pg_terminate`` instead.

Not simulated: the embedded PostgreSQL killed (the soak runs on one server for all its cycles,
so that every check sees the whole history; killing the machine's shared server is not an
option, and a cycle on an embedded server of its own would not continue the same
warehouse); a full disk under TGSTATS_HOME (no unprivileged way to fill a filesystem: a small
tmpfs or loop mount needs root, RLIMIT_FSIZE raises EFBIG for one process's files, not
ENOSPC; and on a server TGSTATS_HOME holds only the instance's config).

Checks after every cycle (a failed one is printed as ``[soak] FINDING``):

- ``tracebacks_shown``: the command's output has no "Traceback (most recent call last)".
- ``duplicate_rows``: in every warehouse table, count(*) = count of distinct primary keys.
- ``rows_lost``: stats_snapshots rows never decrease, nor do the rows (primary keys) of the
  content tables (posts, post_stats, post_timeline, post_forwards, channel_hourly,
  content_raw, revenue_status); after the last cycle, the rows missing or wrong of the
  final checks below; every snapshot stores every graph of
  its peer (the set of the first clean cycle), ``complete`` exactly when none is
  ``missing``, and ``missing_graphs`` names those; after a signal or pg_terminate fault,
  every peer whose stats request and graph loads were all answered (replay log,
  TGSTATS_REPLAY_LOG) at least a second before the fault has a snapshot from that cycle.
- ``runs_wedged``: after a cycle whose command ended on its own (not a signal fault), no run
  is STARTED, STARTING or CANCELING and no ``telegram`` pool slot is claimed or pending.
  The CLI fails the runs of dead commands at its start (fail_dead_runs), so the runs a
  killed command leaves are checked after the next command, which is always a clean one.
  After SIGINT or SIGTERM, the command must have marked its own runs canceled
  (``stop_left_runs``: runs left unfinished right after such a command ended).
- ``abnormal_exits``: an exit code other than 0 or 1, or, after a signal, other than the
  shell's 130 (SIGINT) or 143 (SIGTERM), death by that signal, or -9 (SIGKILL).
- ``recovered``: of the faulted cycles, those whose following clean cycle exits 0 and
  passes every check.

After the last cycle: channel_daily equals the scenario (tgstats_dagster_tests/pipeline/
expected.py ``expected_daily`` of every day served, revenue_stars.* and revenue_ton.* from
the revenue graphs included, the newest serving of each day winning, as the refresh keeps a
day that left Telegram's window), telegram_peers holds every peer, and each peer's newest
snapshot is complete; ``posts`` holds every post and story of the scenario's files published
in the days served, with their counters, each with a complete ``post_stats`` row;
``channel_hourly`` holds the 24 hours of every day served that has a zoom file, for each
zoomable graph; ``revenue_status`` has rows of both currencies for each monetized channel.

The figures come last, one ``name=value`` per line: cycles, faults_<kind> (``faults_missed_*``:
not delivered), recovered (and recovered_<kind> as recovered/faulted), exit_<kind> (exit codes
seen, ``CODExTIMES``; -9 is SIGKILL), rows_lost, runs_wedged, tracebacks_shown,
duplicate_rows, stop_left_runs, abnormal_exits, clean_cycle_s, soak_s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the test helpers are not installed, only the package
    sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402
from _next_day import advance  # noqa: E402
from _refresh_scenario import (  # noqa: E402
    GRAPH_REQUESTS,
    STATS_REQUESTS,
    async_graphs,
    write_bench_scenario,
)
from _soak_content import (  # noqa: E402
    CHANNEL_CONTENT_REQUESTS,
    check_content_final,
    content_gone,
    content_keys,
    content_peers,
    new_day,
    revenue_differs,
)
from refresh import dagster_instance, log_entries, query, resolve_server  # noqa: E402

from tgstats_dagster.warehouse.server import libpq_url  # noqa: E402
from tgstats_dagster.warehouse.tables import TABLES  # noqa: E402
from tgstats_dagster_tests.databases import scratch_database  # noqa: E402
from tgstats_dagster_tests.e2e.processes import VENV_BIN, ProcessSet, venv_environment  # noqa: E402
from tgstats_dagster_tests.pipeline.expected import expected_daily  # noqa: E402

TELEGRAM_FAULTS = (
    "flood_short",
    "flood_long",
    "connection_dropped",
    "graph_reload",
    "chp_call_fail",
    "no_answer",
)
SIGNAL_FAULTS = {
    "sigkill_group": (signal.SIGKILL, True),
    "sigkill_process": (signal.SIGKILL, False),
    "sigint_group": (signal.SIGINT, True),
    "sigint_process": (signal.SIGINT, False),
    "sigterm_group": (signal.SIGTERM, True),
    "sigterm_process": (signal.SIGTERM, False),
}
FAULT_KINDS = (*TELEGRAM_FAULTS, *SIGNAL_FAULTS, "pg_terminate")
FLOOD_THRESHOLD = 5
#: MTPROTO_REQUEST_TIMEOUT: an unanswered request is given up on (and sent again) after this.
REQUEST_TIMEOUT = 2
LONG_FLOOD = 8
TRACEBACK = "Traceback (most recent call last)"
UNFINISHED = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
POOL = "telegram"
#: A fetch answered this long before a fault must be stored by then (it is stored as it
#: arrives, in one transaction: milliseconds).
STORE_GRACE_S = 1.0
COMMAND_TIMEOUT_S = 240.0
STOP_WAIT_S = 60.0


@dataclass
class Cycle:
    index: int
    command: str
    fault: str | None
    exit: int | None = None
    seconds: float = 0.0
    delivered: bool = True
    findings: list[str] = field(default_factory=list)
    #: (monotonic time, replay-log lines written by this cycle's command so far)
    samples: list[tuple[float, int]] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"cycle-{self.index:02d}-{self.command}" + (f"-{self.fault}" if self.fault else "")


@dataclass
class Soak:
    folder: Path
    keys: list[str]
    kinds: dict[str, str]  # peer key -> stats request class name
    graph_loads: dict[str, int]  # peer key -> LoadAsyncGraph requests of one snapshot
    database_url: str
    home: Path
    log_dir: Path
    replay_log: Path
    env: dict[str, str]
    rng: random.Random
    window_end: date
    days: int
    model: dict[tuple[str, date, str], Decimal] = field(default_factory=dict)
    graphs: dict[int, set[str]] = field(default_factory=dict)  # channel -> graphs of a snapshot
    snapshots: int = 0
    clean_seconds: list[float] = field(default_factory=list)
    peers: tuple[Any, ...] = ()  # the fleet (SyntheticPeer), for its content
    first_day: date | None = None  # the first day served
    content: dict[str, set[tuple]] = field(default_factory=dict)  # content tables' keys

    @property
    def window(self) -> tuple[date, date]:
        return self.window_end - timedelta(days=self.days - 1), self.window_end

    def remember_scenario(self) -> None:
        """The days the scenario serves now, into the model of channel_daily (newest wins)."""
        first, last = self.window
        days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        for key in self.keys:
            for (day, metric), value in expected_daily(self.folder, key, days).items():
                self.model[(key, day, metric)] = value

    def expected_seconds(self) -> float:
        runs = self.clean_seconds[1:] or self.clean_seconds  # the first one is a backfill
        return sum(runs) / len(runs)


# ----- faults ------------------------------------------------------------------------------


def telegram_fault(soak: Soak, kind: str) -> list[dict[str, Any]]:
    """scenario.json ``faults`` for ``kind``, on a random peer and request kind."""
    rng = soak.rng
    peer = rng.choice(soak.keys)
    stats = soak.kinds[peer]
    content = CHANNEL_CONTENT_REQUESTS if stats == "GetBroadcastStatsRequest" else ()
    request = rng.choice([stats, "LoadAsyncGraphRequest", *content])
    if kind == "flood_short":
        fault = {"request": request, "error": f"FLOOD_WAIT_{rng.choice([2, 3])}"}
    elif kind == "flood_long":
        fault = {"request": request, "error": f"FLOOD_WAIT_{LONG_FLOOD}"}
    elif kind == "connection_dropped":
        fault = {"request": request, "error": "CONNECTION_DROPPED", "times": rng.choice([1, 2])}
    elif kind == "no_answer":
        fault = {"request": request, "error": "NO_ANSWER", "times": rng.choice([1, 2])}
    elif kind == "graph_reload":
        error = rng.choice(["GRAPH_EXPIRED_RELOAD", "GRAPH_OUTDATED_RELOAD"])
        fault = {"request": "LoadAsyncGraphRequest", "error": error}
    else:
        request = rng.choice([stats, *content])
        fault = {"request": request, "error": "CHP_CALL_FAIL", "times": rng.choice([1, 2])}
    if fault["request"] == "LoadAsyncGraphRequest" and rng.random() < 0.5:
        # one of the first zooms or posts' graphs, loaded after the snapshot's async graphs
        fault["after"] = soak.graph_loads[peer] + rng.randint(0, 2)
    return [{**fault, "peer": peer}]


def set_faults(folder: Path, faults: list[dict[str, Any]]) -> None:
    path = folder / "scenario.json"
    settings = json.loads(path.read_text(encoding="utf-8"))
    settings["faults"] = faults
    path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")


def warehouse_writes(url: str) -> list[tuple[int, str]]:
    """(pid, query) of the connections to the scratch database running a warehouse write."""
    rows = query(
        url,
        "SELECT pid, query FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND state = 'active'",
    )
    found = []
    for pid, text in rows:
        head = " ".join(text.split()).lower()
        if head.startswith("copy ") or any(
            head.startswith(f"insert into {name} ") or head.startswith(f'insert into "{name}"')
            for name in TABLES
        ):
            found.append((pid, text))
    return found


class Terminator(threading.Thread):
    """From ``delay`` on, terminates the first warehouse write it sees (pg_terminate_backend)."""

    def __init__(self, url: str, delay: float) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.delay = delay
        self.stop = threading.Event()
        self.terminated: str | None = None
        self.at: float | None = None

    def run(self) -> None:
        if self.stop.wait(self.delay):
            return
        with psycopg.connect(libpq_url(self.url), autocommit=True) as conn:
            while not self.stop.is_set():
                for pid, text in warehouse_writes(self.url):
                    self.at = time.monotonic()
                    conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    self.terminated = " ".join(text.split())[:120]
                    return
                self.stop.wait(0.005)


# ----- one cycle ---------------------------------------------------------------------------


def run_cycle(soak: Soak, cycle: Cycle) -> tuple[float | None, int]:
    """Run the cycle's command with its fault; (monotonic time of the fault, replay lines
    before the cycle)."""
    first, last = soak.window
    if cycle.command == "backfill":
        args = ["backfill", "--start", first.isoformat(), "--end", last.isoformat()]
    else:
        args = ["refresh"]
    faults = telegram_fault(soak, cycle.fault) if cycle.fault in TELEGRAM_FAULTS else []
    set_faults(soak.folder, faults)
    if faults:
        print(f"[soak] {cycle.name}: scenario faults {faults}", flush=True)
    lines_before = _lines(soak.replay_log)
    processes = ProcessSet(soak.log_dir, soak.env)
    fault_at: float | None = None
    terminator: Terminator | None = None
    moment = (
        soak.rng.uniform(0.1, max(1.0, 0.9 * soak.expected_seconds())) if soak.clean_seconds else 0
    )
    try:
        started = time.monotonic()
        process = processes.start(cycle.name, [str(VENV_BIN / "tgstats"), *args])
        if cycle.fault == "pg_terminate":
            terminator = Terminator(soak.database_url, moment * 0.5)
            terminator.start()
        deadline = started + COMMAND_TIMEOUT_S
        signalled = False
        while process.popen.poll() is None and time.monotonic() < deadline:
            cycle.samples.append((time.monotonic(), _lines(soak.replay_log) - lines_before))
            due = time.monotonic() - started >= moment
            if cycle.fault in SIGNAL_FAULTS and not signalled and due:
                sig, group = SIGNAL_FAULTS[cycle.fault]
                fault_at = time.monotonic()
                with contextlib.suppress(ProcessLookupError):
                    if group:
                        os.killpg(process.popen.pid, sig)
                    else:
                        os.kill(process.popen.pid, sig)
                signalled = True
                deadline = min(deadline, fault_at + STOP_WAIT_S)
            time.sleep(0.02)
        cycle.seconds = time.monotonic() - started
        if process.popen.poll() is None:
            cycle.findings.append(f"did not end within {deadline - started:.0f} s")
        if cycle.fault in SIGNAL_FAULTS and not signalled:
            cycle.delivered = False
    finally:
        if terminator is not None:
            terminator.stop.set()
            terminator.join(5)
        processes.stop()
    cycle.exit = process.popen.returncode
    if terminator is not None:
        fault_at = terminator.at
        cycle.delivered = terminator.terminated is not None
        if terminator.terminated:
            print(f"[soak] {cycle.name}: terminated {terminator.terminated!r}", flush=True)
    set_faults(soak.folder, [])
    text = process.log_path.read_text(encoding="utf-8", errors="replace")
    if TRACEBACK in text:
        start = text.index(TRACEBACK)
        cycle.findings.append(f"traceback shown:\n{text[max(0, start - 400) : start + 3000]}")
    return fault_at, lines_before


def _lines(path: Path) -> int:
    try:
        with path.open("rb") as log:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: log.read(1 << 16), b""))
    except FileNotFoundError:
        return 0


# ----- checks ------------------------------------------------------------------------------


def duplicate_rows(url: str) -> dict[str, int]:
    """Per warehouse table: count(*) - count of distinct primary keys (0 when sound)."""
    found = {}
    for name, table in TABLES.items():
        keys = ", ".join(c.name for c in table.primary_key.columns)
        [(total, distinct)] = query(
            url, f"SELECT count(*), count(DISTINCT ({keys})) FROM {name}"
        )  # the keys are more than one column: a row value counts distinct tuples
        if total != distinct:
            found[name] = total - distinct
    return found


def check_snapshots(soak: Soak, cycle: Cycle) -> int:
    """Snapshot rows never decrease; each stores every graph of its peer, complete exactly
    when none is missing. Returns the problems found."""
    rows = query(
        soak.database_url,
        "SELECT s.channel_id, s.fetched_at, s.complete, s.missing_graphs, "
        "coalesce(array_agg(r.graph) FILTER (WHERE r.graph IS NOT NULL), '{}'), "
        "coalesce(array_agg(r.graph) FILTER (WHERE r.kind = 'missing'), '{}') "
        "FROM stats_snapshots s LEFT JOIN stats_raw r USING (channel_id, fetched_at) "
        "GROUP BY s.channel_id, s.fetched_at, s.complete, s.missing_graphs",
    )
    problems = 0
    if len(rows) < soak.snapshots:
        cycle.findings.append(f"stats_snapshots went from {soak.snapshots} to {len(rows)} rows")
        problems += soak.snapshots - len(rows)
    soak.snapshots = len(rows)
    for channel, fetched, complete, named, graphs, missing in rows:
        reference = soak.graphs.setdefault(channel, set(graphs))
        why = []
        if set(graphs) != reference:
            why.append(f"graphs {sorted(set(reference) ^ set(graphs))} differ")
        if complete != (not missing) or set(named) != set(missing):
            why.append(f"complete={complete}, missing_graphs={named}, missing rows={missing}")
        if why:
            cycle.findings.append(f"snapshot {channel} {fetched}: {'; '.join(why)}")
            problems += 1
    return problems


def finished_fetches(soak: Soak, entries: list[dict[str, Any]]) -> set[str]:
    """The peers whose stats request and every graph load after it were answered."""
    done, loads = set(), Counter()
    answered: set[str] = set()
    for entry in entries:
        peer, request = entry.get("peer"), entry.get("request")
        if peer not in soak.kinds or entry.get("outcome") != "ok":
            continue
        if request in STATS_REQUESTS:
            answered.add(peer)
            loads[peer] = 0
        elif request in GRAPH_REQUESTS and peer in answered:
            loads[peer] += 1
            if loads[peer] >= soak.graph_loads[peer]:
                done.add(peer)
    return done


def check_lost(soak: Soak, cycle: Cycle, entries: list[dict[str, Any]], since: datetime) -> int:
    """The peers fetched in full before the fault whose snapshot of this cycle is absent."""
    done = finished_fetches(soak, entries)
    rows = query(
        soak.database_url,
        "SELECT DISTINCT peer_key FROM stats_snapshots WHERE fetched_at >= %s",
        since,
    )
    stored = {key for (key,) in rows}
    lost = sorted(done - stored)
    if lost:
        cycle.findings.append(f"fetched before the fault but not stored: {lost}")
    return len(lost)


def unfinished_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(instance.get_runs(dg.RunsFilter(statuses=UNFINISHED)))


def held_slots(instance: dg.DagsterInstance) -> str | None:
    info = instance.event_log_storage.get_concurrency_info(POOL)
    if info.claimed_slots or info.pending_steps:
        claimed = [(s.run_id, s.step_key) for s in info.claimed_slots]
        pending = [(s.run_id, s.step_key) for s in info.pending_steps]
        return f"{POOL} pool: claimed {claimed}, pending {pending}"
    return None


def check_final(soak: Soak, figures: Counter[str]) -> tuple[list[str], int]:
    """channel_daily equals the model of the scenario; every peer stored, newest snapshot
    complete. (findings, channel_daily rows missing or wrong)"""
    findings = []
    rows = query(soak.database_url, "SELECT peer_key, day, metric, value FROM channel_daily")
    stored = {(key, day, metric): value for key, day, metric, value in rows}
    missing = sorted(set(soak.model) - set(stored))
    extra = sorted(set(stored) - set(soak.model))
    wrong = sorted(k for k in set(stored) & set(soak.model) if stored[k] != soak.model[k])
    if missing or extra or wrong:
        findings.append(
            f"channel_daily differs from the scenario: {len(missing)} missing (e.g. "
            f"{missing[:3]}), {len(extra)} extra (e.g. {extra[:3]}), {len(wrong)} wrong (e.g. "
            f"{[(k, stored[k], soak.model[k]) for k in wrong[:3]]})"
        )
    peers = {key for (key,) in query(soak.database_url, "SELECT peer_key FROM telegram_peers")}
    if peers != set(soak.keys):
        findings.append(f"telegram_peers holds {sorted(peers)}, not {soak.keys}")
    newest = query(
        soak.database_url,
        "SELECT DISTINCT ON (peer_key) peer_key, complete FROM stats_snapshots "
        "ORDER BY peer_key, fetched_at DESC",
    )
    incomplete = sorted(key for key, complete in newest if not complete)
    if incomplete or len(newest) != len(soak.keys):
        findings.append(f"newest snapshots: {len(newest)} peers, incomplete {incomplete}")
    if revenue := revenue_differs(stored, soak.model):
        findings.append(f"channel_daily: {revenue} revenue_* row(s) missing or wrong (above)")
    content, lost, checked = check_content_final(
        soak.database_url, soak.folder, soak.peers, soak.first_day, soak.window_end
    )
    findings += content
    figures.update(checked)
    return findings, len(missing) + len(wrong) + lost


# ----- the soak ----------------------------------------------------------------------------


def plan(
    rng: random.Random, cycles: int, kinds: tuple[str, ...] = FAULT_KINDS
) -> list[tuple[str, str | None]]:
    """(command, fault) per cycle: a clean backfill first, a clean cycle after every faulted
    one and at the end, fault kinds dealt from shuffled decks."""
    deck: list[str] = []
    out: list[tuple[str, str | None]] = []
    for index in range(cycles):
        command = "backfill" if index == 0 or rng.random() < 0.25 else "refresh"
        faulted = 0 < index < cycles - 1 and out[-1][1] is None
        if faulted and not deck:
            deck = list(kinds)
            rng.shuffle(deck)
        out.append((command, deck.pop() if faulted else None))
    return out


def soak_run(args: argparse.Namespace, server: str) -> dict[str, Any]:
    rng = random.Random(args.seed)
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    # The scenario's window ends yesterday after the last cycle's move.
    window_end = yesterday - timedelta(days=args.cycles - 1)
    start = window_end - timedelta(days=args.days - 1)
    period = (yesterday - start).days + 1
    figures: dict[str, Any] = Counter()
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="soak-")))
        database_url = stack.enter_context(scratch_database(server, "bench_soak"))
        scenario = write_bench_scenario(
            tmp / "scenario",
            args.peers,
            window_end,
            args.days,
            args.latency,
            peers=content_peers(args.peers),
        )
        replay_log = args.logs / "replay.jsonl"
        replay_log.unlink(missing_ok=True)
        env = venv_environment(
            {
                "MTPROTO_ENABLED": "true",
                "MTPROTO_STATS_ENABLED": "true",
                "MTPROTO_STATS_PEERS": ",".join(scenario.keys),
                "MTPROTO_STATS_PERIOD_DAYS": str(period),
                "MTPROTO_FLOOD_SLEEP_THRESHOLD": str(FLOOD_THRESHOLD),
                "MTPROTO_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT),
                "TGSTATS_TELEGRAM_REPLAY": str(scenario.folder),
                "TGSTATS_REPLAY_LOG": str(replay_log),
                "TGSTATS_DATABASE_URL": database_url,
                "TGSTATS_HOME": str(tmp / "home"),
                "TGSTATS_START_DATE": start.isoformat(),
                "TGSTATS_SNAPSHOT_MAX_AGE_HOURS": "0",
                "DAGSTER_HOME": None,
                "TGSTATS_DAGSTER_PG_URL": None,
                "TG_API_ID": None,
                "TG_API_HASH": None,
                "TG_SESSION": None,
            }
        )
        soak = Soak(
            folder=scenario.folder,
            keys=scenario.keys,
            kinds={
                p.key: "GetBroadcastStatsRequest" if p.broadcast else "GetMegagroupStatsRequest"
                for p in scenario.peers
            },
            graph_loads={k: async_graphs(scenario.folder / k) for k in scenario.keys},
            database_url=database_url,
            home=tmp / "home",
            log_dir=args.logs,
            replay_log=replay_log,
            env=env,
            rng=rng,
            window_end=window_end,
            days=args.days,
            peers=scenario.peers,
            first_day=start,
        )
        content_rng = random.Random(f"{args.seed}/content")
        cycles = [Cycle(i, c, f) for i, (c, f) in enumerate(plan(rng, args.cycles, args.kinds))]
        exits: dict[str, Counter[int | None]] = defaultdict(Counter)
        started = time.monotonic()
        instance = None
        for cycle in cycles:
            if cycle.index > 0:
                advance(soak.folder)
                soak.window_end += timedelta(days=1)
                new_day(soak.folder, soak.peers, soak.window_end, content_rng)
            soak.remember_scenario()
            since = datetime.now(timezone.utc)
            fault_at, lines_before = run_cycle(soak, cycle)
            if instance is None:
                # the first command wrote the instance's dagster.yaml and its tables
                instance = stack.enter_context(
                    dagster_instance(soak.home / "dagster", database_url)
                )
            figures["rows_lost"] += check_snapshots(soak, cycle)
            kept = content_keys(database_url)
            for gone in content_gone(soak.content, kept):
                cycle.findings.append(f"content lost: {gone}")
                figures["rows_lost"] += int(gone.split(": ")[1].split()[0])
            soak.content = kept
            dups = duplicate_rows(database_url)
            if dups:
                cycle.findings.append(f"duplicate rows: {dups}")
                figures["duplicate_rows"] += sum(dups.values())
            if cycle.fault in SIGNAL_FAULTS or cycle.fault == "pg_terminate":
                entries = log_entries(replay_log)[lines_before:]
                if fault_at is not None:
                    # the lines answered a grace before the fault: their snapshots are stored
                    entries = _answered_before(entries, fault_at, cycle)
                    figures["rows_lost"] += check_lost(soak, cycle, entries, since)
            ended_alone = cycle.fault not in SIGNAL_FAULTS or not cycle.delivered
            left = unfinished_runs(instance)
            slots = held_slots(instance)
            if ended_alone and (left or slots):
                figures["runs_wedged"] += len(left)
                cycle.findings.append(
                    f"runs left {[(r.run_id, r.status.value) for r in left]}; {slots or ''}"
                )
            elif cycle.fault in (
                "sigint_group",
                "sigint_process",
                "sigterm_group",
                "sigterm_process",
            ):
                mine = [r for r in left if _created_after(instance, r, since)]
                if mine:
                    figures["stop_left_runs"] += len(mine)
                    ids = [(r.run_id, r.status.value) for r in mine]
                    cycle.findings.append(f"after the stop signal, runs left {ids}")
            if cycle.exit not in expected_exits(cycle):
                figures["abnormal_exits"] += 1
                tail = "\n".join(_tail(soak.log_dir / f"{cycle.name}.log", 5))
                cycle.findings.append(f"exit {cycle.exit}, not {expected_exits(cycle)}:\n{tail}")
            tracebacks = sum(f.startswith("traceback") for f in cycle.findings)
            figures["tracebacks_shown"] += tracebacks
            if cycle.fault is None:
                soak.clean_seconds.append(cycle.seconds)
            else:
                key = cycle.fault if cycle.delivered else f"missed_{cycle.fault}"
                figures[f"faults_{key}"] += 1
                exits[key][cycle.exit] += 1
            _report(cycle)
        figures["rows_lost"] += _final(soak, cycles, figures)
        figures["soak_s"] = time.monotonic() - started
        faulted = [c for c in cycles if c.fault and c.delivered]
        recovered = [
            c for c in faulted if cycles[c.index + 1].exit == 0 and not cycles[c.index + 1].findings
        ]
        figures["cycles"] = len(cycles)
        figures["faulted"] = len(faulted)
        figures["recovered"] = len(recovered)
        figures["clean_cycle_s"] = sum(soak.clean_seconds) / len(soak.clean_seconds)
        for key, codes in sorted(exits.items()):
            figures[f"exit_{key}"] = "/".join(
                f"{code}x{n}" for code, n in sorted(codes.items(), key=str)
            )
        for kind in sorted({c.fault for c in faulted if c.fault}):
            of_kind = [c for c in faulted if c.fault == kind]
            back = sum(c in recovered for c in of_kind)
            figures[f"recovered_{kind}"] = f"{back}/{len(of_kind)}"
        for name in (
            "rows_lost",
            "runs_wedged",
            "tracebacks_shown",
            "duplicate_rows",
            "stop_left_runs",
            "abnormal_exits",
        ):
            figures.setdefault(name, 0)
        return dict(figures)


def expected_exits(cycle: Cycle) -> set[int | None]:
    """What the command should exit with: 0, or 1 when a peer failed or is incomplete; after
    SIGINT or SIGTERM 130 or 143 (the shell's codes, which tgstats returns), or death by that
    signal (a signal landing as the interpreter exits, or before tgstats set its handlers);
    -9 after SIGKILL."""
    if cycle.fault in SIGNAL_FAULTS and cycle.delivered:
        sig, _ = SIGNAL_FAULTS[cycle.fault]
        return {-9} if sig == signal.SIGKILL else {128 + sig, -sig}
    return {0, 1}


def _tail(path: Path, lines: int) -> list[str]:
    return path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]


def _created_after(instance: dg.DagsterInstance, run: dg.DagsterRun, since: datetime) -> bool:
    [record] = instance.get_run_records(dg.RunsFilter(run_ids=[run.run_id]))
    return record.create_timestamp >= since


def _answered_before(
    entries: list[dict[str, Any]], fault_at: float, cycle: Cycle
) -> list[dict[str, Any]]:
    """The replay lines written up to STORE_GRACE_S before the fault (from the samples taken
    while the command ran)."""
    count = 0
    for at, lines in cycle.samples:
        if at <= fault_at - STORE_GRACE_S:
            count = lines
    return entries[:count]


def _final(soak: Soak, cycles: list[Cycle], figures: Counter[str]) -> int:
    findings, lost = check_final(soak, figures)
    if findings:
        cycles[-1].findings += findings
        _report(cycles[-1], final=True)
    return lost


def _report(cycle: Cycle, final: bool = False) -> None:
    what = cycle.fault or "clean"
    if cycle.fault and not cycle.delivered:
        what += " (not delivered: the command ended first)"
    if not final:
        print(f"[soak] {cycle.name}: {what}, exit {cycle.exit}, {cycle.seconds:.1f} s", flush=True)
    for finding in cycle.findings:
        print(f"[soak] FINDING {cycle.name}: {finding}", file=sys.stderr, flush=True)


FIGURE_ORDER = (
    "cycles",
    "faulted",
    "faults_",
    "recovered",
    "recovered_",
    "exit_",
    "rows_lost",
    "runs_wedged",
    "tracebacks_shown",
    "duplicate_rows",
    "stop_left_runs",
    "abnormal_exits",
    "checked_",
    "clean_cycle_s",
    "soak_s",
)


def _figure_order(name: str) -> tuple[int, str]:
    """Figures in FIGURE_ORDER: by exact name, else by the longest prefix that matches."""
    if name in FIGURE_ORDER:
        return FIGURE_ORDER.index(name), name
    prefixes = [p for p in FIGURE_ORDER if p.endswith("_") and name.startswith(p)]
    return FIGURE_ORDER.index(max(prefixes, key=len)) if prefixes else len(FIGURE_ORDER), name


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--peers", type=int, default=6)
    parser.add_argument("--days", type=int, default=10, help="days Telegram serves")
    parser.add_argument("--latency", type=float, default=0.02, help="seconds per request")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--kinds", default=",".join(FAULT_KINDS), help="the fault kinds dealt (default: all)"
    )
    parser.add_argument("--database-url", help="a PostgreSQL server (admin URL)")
    parser.add_argument("--logs", type=Path, help="folder kept for the logs (default: new)")
    args = parser.parse_args(argv)
    args.kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    unknown = sorted(set(args.kinds) - set(FAULT_KINDS))
    if args.cycles < 3 or args.peers < 2 or args.days < 4 or unknown or not args.kinds:
        parser.error(f"--cycles >= 3, --peers >= 2, --days >= 4, --kinds of {FAULT_KINDS}")
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(2**32)
    server = resolve_server(args.database_url)
    if server is None:
        print("soak bench skipped: no PostgreSQL server (--database-url, TGSTATS_DATABASE_URL)")
        return 0
    if args.logs is None:
        args.logs = Path(tempfile.mkdtemp(prefix="bench-soak-logs-"))
    args.logs.mkdir(parents=True, exist_ok=True)
    print(f"[soak] seed={args.seed}, logs in {args.logs}", flush=True)
    figures = soak_run(args, server)
    print()
    for name, value in sorted(figures.items(), key=lambda item: _figure_order(item[0])):
        print(f"{name}={value:.1f}" if isinstance(value, float) else f"{name}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
