"""``tgstats record``: fetch stats through the real client and write a scenario folder.

The folder is the scenario format (docs/scenario-format.md), so a recording replays as it
was recorded: graph payloads are written byte for byte, a peer without statistics rights is
written with ``can_view_stats`` false and no stats. Access hashes are not written (they
belong to the recording account); the offline Telegram derives its own. A graph that could
not be loaded (an incomplete snapshot) is not written: the command names it and exits
non-zero, as a recording without it would not replay as Telegram answered.

Beyond the stats, record_content.py writes each recorded peer's zooms, posts, stories and
revenue, bounded by the snapshot's window; what of them could not be fetched makes the
command exit non-zero too.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from tgstats_dagster.settings import ConfigError, Settings
from tgstats_dagster.telegram.connect import open_client, retry_policy
from tgstats_dagster.telegram.models import PeerInfo, PeerOutcome, StatsSnapshot
from tgstats_dagster.telegram.record_content import (
    DEFAULT_POST_STATS,
    ContentRecording,
    record_content,
)
from tgstats_dagster.telegram.stats import StatsClient


def peer_json(peer: PeerInfo) -> dict[str, Any]:
    return {
        "id": peer.channel_id,
        "title": peer.title,
        "username": peer.username,
        "broadcast": peer.broadcast,
        "megagroup": peer.megagroup,
        "can_view_stats": peer.can_view_stats,
        "stats_dc": peer.stats_dc,
        "participants_count": peer.participants_count,
    }


def write_peer(out: Path, peer: PeerInfo, snapshot: StatsSnapshot | None) -> Path:
    """One peer folder of a scenario; graphs/ is rewritten from scratch."""
    folder = out / peer.key
    folder.mkdir(parents=True, exist_ok=True)
    info = peer_json(peer)
    if snapshot is None:
        info["can_view_stats"] = False
    (folder / "peer.json").write_text(
        json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    shutil.rmtree(folder / "graphs", ignore_errors=True)
    (folder / "stats.json").unlink(missing_ok=True)
    if snapshot is None:
        return folder
    (folder / "stats.json").write_text(
        json.dumps(snapshot.scalars, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    graphs = folder / "graphs"
    graphs.mkdir()
    for graph in snapshot.graphs:
        if graph.kind == "missing":
            continue
        if graph.data is not None:
            (graphs / f"{graph.field}.json").write_bytes(graph.data.encode("utf-8"))
        elif graph.error is not None:
            (graphs / f"{graph.field}.error").write_bytes(graph.error.encode("utf-8"))
    return folder


def _progress(outcome: PeerOutcome, out: TextIO) -> None:
    detail = f": {outcome.reason}" if outcome.reason else ""
    if outcome.snapshot is not None and not outcome.snapshot.complete:
        detail = f": incomplete, missing {', '.join(outcome.snapshot.missing_graphs)}"
    print(f"  {outcome.key}: {outcome.status}{detail}", file=out, flush=True)


def summary(outcomes: list[PeerOutcome], requests: Counter[str]) -> str:
    kinds_shown = ("inline", "async", "error", "missing")
    rows = [("peer", "status", *kinds_shown, "detail")]
    for o in outcomes:
        kinds = Counter(g.kind for g in o.snapshot.graphs) if o.snapshot else Counter()
        rows.append((o.key, o.status, *(str(kinds[k]) for k in kinds_shown), o.reason or ""))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in rows
    ]
    lines.append("requests: " + ", ".join(f"{k}={v}" for k, v in sorted(requests.items())))
    return "\n".join(line.rstrip() for line in lines)


async def _outcomes(
    stats: StatsClient, peers: tuple[str, ...], stream: TextIO
) -> list[PeerOutcome]:
    """Resolve, then fetch, every peer; the outcomes in the order of ``peers``."""
    by_key: dict[str, PeerOutcome] = {}
    resolved: list[PeerInfo] = []
    async for outcome in stats.resolve_each(peers, {}):
        if outcome.peer is None:
            by_key[outcome.key] = outcome
            _progress(outcome, stream)
        else:
            resolved.append(outcome.peer)
    async for outcome in stats.fetch_each(resolved):
        by_key[outcome.key] = outcome
        _progress(outcome, stream)
    return [by_key[key] for key in peers]


async def record(
    settings: Settings,
    peers: tuple[str, ...],
    out: Path,
    stream: TextIO | None = None,
    post_stats: int = DEFAULT_POST_STATS,
) -> tuple[list[PeerOutcome], dict[str, ContentRecording]]:
    """Fetch ``peers`` and write them under ``out``: the outcomes, in order, and what was
    recorded beyond the stats of each peer that has a snapshot."""
    stream = stream or sys.stdout
    async with open_client(settings) as client:
        stats = StatsClient(client, policy=retry_policy(settings), concurrency=settings.concurrency)
        out.mkdir(parents=True, exist_ok=True)
        (out / "scenario.json").write_text(
            json.dumps({"home_dc": stats.home_dc, "faults": []}, indent=2) + "\n",
            encoding="utf-8",
        )
        print(f"recording {len(peers)} peer(s) into {out}", file=stream, flush=True)
        outcomes = await _outcomes(stats, peers, stream)
        contents: dict[str, ContentRecording] = {}
        for outcome in outcomes:
            if outcome.peer is None or outcome.status == "failed":
                continue
            folder = write_peer(out, outcome.peer, outcome.snapshot)
            if outcome.snapshot is not None:
                done = await record_content(stats.content, outcome.snapshot, folder, post_stats)
                contents[outcome.key] = done
                _content_progress(outcome.key, done, stream)
        print(summary(outcomes, stats.requests), file=stream, flush=True)
        return outcomes, contents


def _content_progress(key: str, done: ContentRecording, out: TextIO) -> None:
    print(f"  {key}: {done.describe()}", file=out, flush=True)
    for problem in done.problems:
        print(f"  {key}: not recorded: {problem}", file=out, flush=True)


def run_record(
    settings: Settings, peers: tuple[str, ...], out: Path, post_stats: int | None = None
) -> int:
    """The command: 0 when every peer was recorded whole or skipped for lack of rights.

    ``post_stats``: how many of the newest posts (and stories) get their statistics
    recorded; None: DEFAULT_POST_STATS.
    """
    if not peers:
        raise ConfigError("--peers: give at least one username or channel id")
    post_stats = DEFAULT_POST_STATS if post_stats is None else post_stats
    if post_stats < 0:
        raise ConfigError("--post-stats: give 0 or more posts")
    outcomes, contents = asyncio.run(record(settings, peers, out, post_stats=post_stats))
    failed = [o.key for o in outcomes if o.status == "failed"]
    incomplete = [o.key for o in outcomes if o.snapshot is not None and not o.snapshot.complete]
    incomplete += [key for key, done in contents.items() if done.problems and key not in incomplete]
    if failed:
        print(f"{len(failed)} peer(s) failed: {', '.join(failed)}", file=sys.stderr)
    if incomplete:
        print(
            f"{len(incomplete)} peer(s) recorded without some graphs or content: "
            f"{', '.join(incomplete)}",
            file=sys.stderr,
        )
    return 1 if failed or incomplete else 0
