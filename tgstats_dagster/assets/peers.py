"""The peer entity: what channels.getFullChannel says of each configured peer."""

from datetime import datetime, timezone

import dagster as dg
import pandas as pd

from tgstats_dagster.assets.common import (
    GROUP,
    TELEGRAM_POOL,
    add_partition_metadata,
    peer_info,
    peer_rights,
    record_requests,
    refuse_when_off,
)
from tgstats_dagster.partitions import PEER, STATS_PEER, peer_partitions, sync_stats_peers
from tgstats_dagster.resources import TelegramResource, WarehouseResource
from tgstats_dagster.runs import PEERS_JOB, peers_failed
from tgstats_dagster.telegram.errors import PeerNotFound
from tgstats_dagster.telegram.models import PeerInfo
from tgstats_dagster.warehouse.io_manager import table_metadata
from tgstats_dagster.warehouse.peers import PEER_COLUMNS

STATS_RIGHTS = "stats_rights"


@dg.asset(
    name="telegram_peers",
    partitions_def=peer_partitions,
    group_name=GROUP,
    kinds={"telegram", "postgres"},
    pool=TELEGRAM_POOL,
    backfill_policy=dg.BackfillPolicy.single_run(),
    metadata=table_metadata("telegram_peers"),
    check_specs=[
        dg.AssetCheckSpec(
            STATS_RIGHTS,
            asset="telegram_peers",
            description="The account may view each peer's statistics (can_view_stats); a peer "
            "without them is left out of the stats partitions until its rights appear.",
        )
    ],
    description=(
        "One row per channel or supergroup (its channel id is its identity): title, username, "
        "broadcast or megagroup, can_view_stats, stats DC, member count, and the access hash, "
        "so that a username is resolved once and never again. Peers with stats rights become "
        "the stats partitions (`stats_peer`). Table `telegram_peers`."
    ),
)
async def telegram_peers(
    context: dg.AssetExecutionContext,
    telegram: TelegramResource,
    warehouse: WarehouseResource,
):
    refuse_when_off(telegram.disabled_reason)
    keys = list(context.partition_keys)
    stored = warehouse.peers.known(keys)
    known = {key: peer_info(key, row) for key, row in stored.items()}
    stats = await telegram.stats()
    peers: dict[str, PeerInfo] = {}
    failed: dict[str, str] = {}
    unknown: list[str] = []
    async for outcome in stats.resolve_each(keys, known):
        if outcome.peer is not None:
            peers[outcome.key] = outcome.peer
        else:
            failed[outcome.key] = outcome.reason or "failed"
            if isinstance(outcome.error, PeerNotFound):
                unknown.append(outcome.key)
    record_requests(context, telegram.requests)
    for key in unknown:
        # An entry Telegram does not know is reported and does not stay behind as a partition.
        context.log.error(f"{key}: {failed[key]}; its peer partition is removed")
        context.instance.delete_dynamic_partition(PEER, key)
        if key in context.instance.get_dynamic_partitions(STATS_PEER):
            context.instance.delete_dynamic_partition(STATS_PEER, key)
    if failed:
        raise peers_failed(PEERS_JOB, keys, failed, loaded=len(peers))

    now = datetime.now(timezone.utc)
    about = {
        key: {
            "title": peer.title,
            "kind": _kind(peer),
            "can_view_stats": peer.can_view_stats,
            "stats_dc": peer.stats_dc or 0,
            "members": peer.participants_count or 0,
        }
        for key, peer in peers.items()
    }
    add_partition_metadata(context, dg.AssetKey("telegram_peers"), about)
    for key, peer in peers.items():
        if not peer.can_view_stats:
            context.log.warning(
                f"{key}: this account cannot view the statistics of {peer.title!r} "
                "(can_view_stats is false): it is left out of the stats partitions"
            )
    yield dg.Output(
        pd.DataFrame([_row(peer, now) for peer in peers.values()], columns=PEER_COLUMNS)
    )
    sync_stats_peers(context.instance, peer_rights(context.instance, warehouse))
    without = sorted(key for key, peer in peers.items() if not peer.can_view_stats)
    yield dg.AssetCheckResult(
        check_name=STATS_RIGHTS,
        passed=not without,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            "every peer offers its statistics"
            if not without
            else f"no stats rights (can_view_stats is false): {', '.join(without)}"
        ),
        metadata={"without_stats_rights": dg.MetadataValue.json(without)},
    )


def _kind(peer: PeerInfo) -> str:
    return "megagroup" if peer.megagroup else "broadcast"


def _row(peer: PeerInfo, now: datetime) -> dict[str, object]:
    return {
        "peer_key": peer.key,
        "channel_id": peer.channel_id,
        "access_hash": peer.access_hash,
        "title": peer.title,
        "username": peer.username,
        "kind": _kind(peer),
        "can_view_stats": peer.can_view_stats,
        "stats_dc": peer.stats_dc,
        "participants_count": peer.participants_count,
        "updated_at": now,
    }
