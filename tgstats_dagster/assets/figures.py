"""Each snapshot's figures beyond its graphs: the headline figures with the previous period,
the interactions of the most recent posts and stories, and a supergroup's tops.

One step, downstream of ``stats_raw`` in the same run and with the same stats peer
partitions, without Telegram: it hands the IO manager the rows of each peer's newest stored
snapshot, written once per snapshot (a re-run adds nothing, a new snapshot adds its rows, so
the history builds up like ``stats_raw``), and it runs only when ``stats_raw`` recorded a new
snapshot. A stored snapshot of the same channels that has no rows yet (its run ended before
this step) is written too. A partition's materialization describes its peer's snapshot: for
example the followers or members, and the change against the previous period.
"""

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import dagster as dg
import pandas as pd

from tgstats_dagster.assets.common import GROUP, add_partition_metadata, newest_snapshots
from tgstats_dagster.assets.daily import NOT_NEGATIVE
from tgstats_dagster.assets.snapshots import STATS_RAW
from tgstats_dagster.partitions import stats_peer_partitions
from tgstats_dagster.resources import WarehouseResource
from tgstats_dagster.telegram.figures import (
    AUDIENCE,
    TOP_COUNTERS,
    Figure,
    PostCounters,
    TopMember,
    figures,
    megagroup_tops,
    missing_figures,
    post_interactions,
)
from tgstats_dagster.warehouse.io_manager import table_metadata
from tgstats_dagster.warehouse.snapshots import SnapshotHead
from tgstats_dagster.warehouse.tables import TABLES

STATS_FIGURES = dg.AssetKey("stats_figures")
POST_INTERACTIONS = dg.AssetKey("post_interactions")
MEGAGROUP_TOPS = dg.AssetKey("megagroup_tops")
REQUIRED_FIGURES = "required_figures"

_Snapshot = tuple[int, datetime]  # (channel id, fetch time)


def _out(table: str, description: str) -> dg.AssetOut:
    return dg.AssetOut(
        key=dg.AssetKey(table),
        group_name=GROUP,
        kinds={"postgres", "pandas"},
        metadata=table_metadata(table),
        description=description,
    )


def _not_negative(asset: dg.AssetKey, what: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        NOT_NEGATIVE, asset=asset, description=f"No {what} is negative: they are counts."
    )


def build_figures_assets() -> dg.AssetsDefinition:
    @dg.multi_asset(
        name="snapshot_figures",
        deps=[STATS_RAW],
        outs={
            "stats_figures": _out(
                "stats_figures",
                "The headline figures of each snapshot, one row per figure by its TL name "
                "(followers, views_per_post, … for a channel; members, messages, viewers, "
                "posters for a supergroup): `current` and `previous` (this period and the one "
                "before), or `part` and `total` (enabled_notifications), with the snapshot's "
                "period. Written once per snapshot. Table `stats_figures`.",
            ),
            "post_interactions": _out(
                "post_interactions",
                "The views, forwards and reactions of a channel's most recent posts "
                "(kind `message`) and stories (kind `story`) as each snapshot lists them. "
                "Written once per snapshot. Table `post_interactions`.",
            ),
            "megagroup_tops": _out(
                "megagroup_tops",
                "A supergroup's top posters (messages, average characters), admins (deleted, "
                "kicked, banned) and inviters (invitations) in each snapshot, with the rank "
                "and each member's name and username. Written once per snapshot. Table "
                "`megagroup_tops`.",
            ),
        },
        partitions_def=stats_peer_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            dg.AssetCheckSpec(
                REQUIRED_FIGURES,
                asset=STATS_FIGURES,
                description="Each snapshot has the figures its kind of peer must have (a "
                "channel: followers, views, shares and reactions per post and per story, "
                "enabled notifications; a supergroup: members, messages, viewers, posters).",
            ),
            _not_negative(STATS_FIGURES, "figure"),
            _not_negative(POST_INTERACTIONS, "view, forward or reaction count"),
            _not_negative(MEGAGROUP_TOPS, "top's count"),
        ],
    )
    def snapshot_figures(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        known = warehouse.peers.known(list(context.partition_keys))
        kinds = {int(row["channel_id"]): str(row["kind"]) for row in known.values()}
        held = _held_snapshots(context.partition_keys, known, warehouse)
        snapshots = set(held.values())
        sources = warehouse.snapshots.figure_sources(snapshots)
        parsed = {(h.channel_id, h.fetched_at): _parse(h) for h in sources}
        for asset, about in _partition_metadata(held, parsed, kinds).items():
            add_partition_metadata(context, asset, about)
        context.log.info(
            f"{len(parsed)} snapshot(s) for {len(held)} partition(s), "
            f"{len(parsed) - len(snapshots)} of them stored earlier without figures"
        )
        # stats_figures last: its rows mark a snapshot as done (SnapshotStore.figure_sources).
        for table in ("post_interactions", "megagroup_tops", "stats_figures"):
            yield dg.Output(_frame(table, parsed.values()), output_name=table)
        yield from _checks(parsed, kinds)

    return snapshot_figures


@dataclass
class _Parsed:
    """The rows of one stored snapshot."""

    head: SnapshotHead
    figures: list[Figure] = field(default_factory=list)
    posts: list[PostCounters] = field(default_factory=list)
    tops: list[TopMember] = field(default_factory=list)

    def rows(self, table: str) -> Iterator[dict[str, Any]]:
        snapshot = {"channel_id": self.head.channel_id, "fetched_at": self.head.fetched_at}
        if table == "stats_figures":
            period = {"period_start": self.head.period_min, "period_end": self.head.period_max}
            yield from ({**snapshot, **asdict(f), **period} for f in self.figures)
        elif table == "post_interactions":
            yield from ({**snapshot, **asdict(p)} for p in self.posts)
        else:
            yield from ({**snapshot, **asdict(t)} for t in self.tops)


def _parse(head: SnapshotHead) -> _Parsed:
    """A stored snapshot's figures; a malformed one fails the step naming it and the field."""
    parsed = _Parsed(head)
    for name, read in (
        ("figures", figures),
        ("posts", post_interactions),
        ("tops", megagroup_tops),
    ):
        try:
            setattr(parsed, name, read(head.scalars))
        except (KeyError, TypeError, ValueError) as exc:
            raise dg.Failure(
                description=f"{head.peer_key}: the snapshot fetched at "
                f"{head.fetched_at.isoformat()} has malformed {name} ({exc!r}): its other "
                "tables are kept; report it with `tgstats record`",
                allow_retries=False,
            ) from None
    return parsed


def _held_snapshots(
    peers: Iterable[str], known: Mapping[str, Mapping[str, Any]], warehouse: WarehouseResource
) -> dict[str, _Snapshot]:
    """Peer -> its newest stored snapshot; fails naming the peers that have none (their
    ``stats_raw`` is not materialized)."""
    held = newest_snapshots(warehouse, known)
    lacking = [peer for peer in peers if peer not in held]
    if lacking:
        raise dg.Failure(
            description=f"{len(lacking)} peer(s) have no stored snapshot (such as "
            f"{', '.join(lacking[:5])}): materialize stats_raw for them first",
            allow_retries=False,
        )
    return held


def _frame(table: str, snapshots: Iterable[_Parsed]) -> pd.DataFrame:
    columns = [column.name for column in TABLES[table].columns]
    rows = [row for parsed in snapshots for row in parsed.rows(table)]
    return pd.DataFrame(rows, columns=columns, dtype=object)


def _partition_metadata(
    held: Mapping[str, _Snapshot], parsed: Mapping[_Snapshot, _Parsed], kinds: Mapping[int, str]
) -> dict[dg.AssetKey, dict[str, dict[str, Any]]]:
    """What each partition's materializations show of the snapshot its day holds."""
    about_snapshot = {
        snapshot: _about(parsed[snapshot], kinds.get(snapshot[0], "")) for snapshot in parsed
    }
    out: dict[dg.AssetKey, dict[str, dict[str, Any]]] = {
        STATS_FIGURES: {},
        POST_INTERACTIONS: {},
        MEGAGROUP_TOPS: {},
    }
    for key, snapshot in held.items():
        for asset, about in about_snapshot[snapshot].items():
            out[asset][key] = about
    return out


def _about(parsed: _Parsed, kind: str) -> dict[dg.AssetKey, dict[str, Any]]:
    fetched = {"snapshot_fetched_at": parsed.head.fetched_at.isoformat()}
    by_name = {f.figure: f for f in parsed.figures}
    figures_about: dict[str, Any] = {**fetched, "dagster/partition_row_count": len(by_name)}
    audience = by_name.get(AUDIENCE.get(kind, ""))
    if audience is not None and audience.current is not None:
        figures_about[audience.figure] = audience.current
        if audience.previous is not None:
            figures_about[f"{audience.figure}_previous"] = audience.previous
            figures_about[f"{audience.figure}_change"] = audience.current - audience.previous
    notifications = by_name.get("enabled_notifications")
    if notifications is not None and notifications.part is not None and notifications.total:
        share = 100 * notifications.part / notifications.total
        figures_about["enabled_notifications_percent"] = round(share, 1)

    posts_about: dict[str, Any] = {
        **fetched,
        "dagster/partition_row_count": len(parsed.posts),
        "posts": sum(p.kind == "message" for p in parsed.posts),
        "stories": sum(p.kind == "story" for p in parsed.posts),
    }
    if parsed.posts:
        best = max(parsed.posts, key=lambda p: p.views)
        posts_about["most_viewed"] = f"{best.kind} {best.post_id}: {best.views} views"

    tops_about: dict[str, Any] = {**fetched, "dagster/partition_row_count": len(parsed.tops)}
    for top in TOP_COUNTERS:
        tops_about[f"top_{top}"] = sum(t.top == top for t in parsed.tops)
    posters = [t for t in parsed.tops if t.top == "posters"]
    if posters:
        first = posters[0]
        tops_about["top_poster"] = f"{_member(first)}: {first.messages} messages"
    elif kind == "broadcast":
        tops_about["note"] = "a channel has no tops: only supergroups do"
    return {
        STATS_FIGURES: figures_about,
        POST_INTERACTIONS: posts_about,
        MEGAGROUP_TOPS: tops_about,
    }


def _member(member: TopMember) -> str:
    if member.username:
        return f"@{member.username}"
    name = " ".join(n for n in (member.first_name, member.last_name) if n)
    return name or f"user {member.user_id}"


def _checks(
    parsed: Mapping[_Snapshot, _Parsed], kinds: Mapping[int, str]
) -> Iterator[dg.AssetCheckResult]:
    missing: dict[str, list[str]] = {}
    for p in parsed.values():
        present = {f.figure for f in p.figures}
        if lacking := missing_figures(kinds.get(p.head.channel_id, ""), present):
            missing[f"{p.head.peer_key} at {p.head.fetched_at.isoformat()}"] = lacking
    yield dg.AssetCheckResult(
        check_name=REQUIRED_FIGURES,
        asset_key=STATS_FIGURES,
        passed=not missing,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            "every snapshot has the figures of its kind of peer"
            if not missing
            else "figures are missing: "
            + "; ".join(f"{where}: {', '.join(names)}" for where, names in missing.items())
        ),
        metadata={"missing": dg.MetadataValue.json(missing)},
    )
    negative: dict[dg.AssetKey, list[str]] = {
        STATS_FIGURES: [],
        POST_INTERACTIONS: [],
        MEGAGROUP_TOPS: [],
    }
    for p in parsed.values():
        peer = p.head.peer_key
        for f in p.figures:
            if any((v or 0) < 0 for v in (f.current, f.previous, f.part, f.total)):
                negative[STATS_FIGURES].append(f"{peer} {f.figure}")
        for post in p.posts:
            if min(post.views, post.forwards, post.reactions) < 0:
                negative[POST_INTERACTIONS].append(f"{peer} {post.kind} {post.post_id}")
        for t in p.tops:
            if any((getattr(t, counter) or 0) < 0 for counter in TOP_COUNTERS[t.top]):
                negative[MEGAGROUP_TOPS].append(f"{peer} {t.top} {t.user_id}")
    for asset, examples in negative.items():
        yield dg.AssetCheckResult(
            check_name=NOT_NEGATIVE,
            asset_key=asset,
            passed=not examples,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={"examples": dg.MetadataValue.json(examples[:20])},
        )
