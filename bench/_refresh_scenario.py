"""The synthetic scenario of bench/refresh.py and its Telegram latency bound.

N peers, alternately broadcast channels and megagroups; peers 2..3 of every 4 have their
stats on DC 4 (so half of each kind is on a DC other than the home DC 2), all with stats
rights, with every graph present: the synthetic writer leaves out two async graphs of a
channel (``iv_interactions_graph``, ``story_reactions_by_emotion_graph``), which are added
here as copies of ``interactions_graph`` and ``reactions_by_emotion_graph`` (same daily
axis), so a channel serves 8 async graphs and a megagroup 5.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from scripts.synthetic import SyntheticPeer, write_scenario
from tgstats_dagster.telegram.replay.objects import INLINE_GRAPHS

HOME_DC = 2
OTHER_STATS_DC = 4
# Requests of one connection before the first stats request, sent one after another.
CONNECTION_REQUESTS = ("GetConfig", "GetUsers", "GetState", "GetDifference")
# Per stats DC other than home: ExportAuthorization (home) + ImportAuthorization (that DC).
EXPORTED_AUTHORIZATION_REQUESTS = 2
EXTRA_BROADCAST_GRAPHS = {
    "iv_interactions_graph": "interactions_graph",
    "story_reactions_by_emotion_graph": "reactions_by_emotion_graph",
}
STATS_REQUESTS = frozenset({"GetBroadcastStatsRequest", "GetMegagroupStatsRequest"})
GRAPH_REQUESTS = frozenset({"LoadAsyncGraphRequest"})


@dataclass(frozen=True)
class BenchScenario:
    folder: Path
    peers: tuple[SyntheticPeer, ...]
    min_requests_by_peer: dict[str, int]

    @property
    def keys(self) -> list[str]:
        return [peer.key for peer in self.peers]

    @property
    def min_requests(self) -> int:
        return sum(self.min_requests_by_peer.values())

    @property
    def other_stats_dcs(self) -> set[int]:
        return {p.stats_dc for p in self.peers if p.stats_dc not in (None, HOME_DC)}  # type: ignore[misc]

    def bound_seconds(self, latency: float, concurrency: int) -> float:
        """min_requests x latency / concurrency, plus one connection set-up in sequence."""
        setup = len(CONNECTION_REQUESTS) + EXPORTED_AUTHORIZATION_REQUESTS * len(
            self.other_stats_dcs
        )
        return self.min_requests * latency / concurrency + setup * latency

    @property
    def peer_min_requests(self) -> int:
        """Loading the entities of new peers: resolveUsername + getFullChannel per peer."""
        return 2 * len(self.keys)

    def peer_bound_seconds(self, latency: float, concurrency: int) -> float:
        """The entities of new peers at ``concurrency``, plus their run's connection set-up."""
        return self.peer_min_requests * latency / concurrency + len(CONNECTION_REQUESTS) * latency


def bench_peers(count: int) -> tuple[SyntheticPeer, ...]:
    return tuple(
        SyntheticPeer(
            key=f"bench_peer_{index:04d}",
            channel_id=3_000_000_000 + index,
            title=f"bench peer {index}",
            broadcast=index % 2 == 0,
            participants_count=1_000 + 137 * index,
            can_view_stats=True,
            stats_dc=OTHER_STATS_DC if index % 4 >= 2 else HOME_DC,
        )
        for index in range(count)
    )


def write_bench_scenario(
    folder: Path, count: int, end_day: date, days: int, latency: float
) -> BenchScenario:
    """Write the scenario into ``folder`` (new) and count its minimal requests per peer."""
    peers = bench_peers(count)
    write_scenario(folder, peers=peers, end_day=end_day, days=days)
    for peer in peers:
        graphs = folder / peer.key / "graphs"
        if peer.broadcast:
            for field, source in EXTRA_BROADCAST_GRAPHS.items():
                if not (graphs / f"{field}.json").exists():
                    (graphs / f"{field}.json").write_bytes((graphs / f"{source}.json").read_bytes())
    settings_path = folder / "scenario.json"
    settings = json.loads(settings_path.read_text(encoding="utf-8"))
    settings["latency"] = latency
    settings_path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return BenchScenario(folder, peers, {p.key: min_requests(folder / p.key) for p in peers})


#: What a new snapshot of a channel without posts or revenue costs beyond it: one page of
#: history, one of the stories archive, and the Stars and the TON revenue (both refused).
CHANNEL_CONTENT_REQUESTS = 4


def min_requests(peer_folder: Path) -> int:
    """1 stats request + one LoadAsyncGraph per graph served as an async token, + a channel's
    content requests (CHANNEL_CONTENT_REQUESTS: the bench's peers have no posts, zooms or
    revenue).

    A graph file ``<field>.json`` whose field is not inline is async; ``.error`` files and
    absent fields are answered inside the stats response (StatsGraphError): no request.
    """
    graphs = peer_folder / "graphs"
    if not graphs.is_dir():
        return 0
    async_graphs = [p for p in graphs.glob("*.json") if p.stem not in INLINE_GRAPHS]
    peer = json.loads((peer_folder / "peer.json").read_text(encoding="utf-8"))
    content = CHANNEL_CONTENT_REQUESTS if peer.get("broadcast") else 0
    return 1 + len(async_graphs) + content
