"""The peer entity: what channels.getFullChannel says of each configured peer."""

import dagster as dg

from tgstats_dagster.assets.common import GROUP, TELEGRAM_POOL, flags_off
from tgstats_dagster.assets.frames import peer_from_row, peers_frame
from tgstats_dagster.partitions import peer_partitions
from tgstats_dagster.resources import TelegramResource, WarehouseResource


@dg.asset(
    name="telegram_peers",
    partitions_def=peer_partitions,
    group_name=GROUP,
    kinds={"telegram", "postgres"},
    pool=TELEGRAM_POOL,
    output_required=False,
    backfill_policy=dg.BackfillPolicy.single_run(),
    description=(
        "One row per configured peer (channel or supergroup): id, title, username, broadcast "
        "or megagroup, can_view_stats, stats DC, member count, and the access hash, so that a "
        "username is resolved once and never again. Table `telegram_peers`."
    ),
)
async def telegram_peers(
    context: dg.AssetExecutionContext,
    telegram: TelegramResource,
    warehouse: WarehouseResource,
):
    if flags_off(context, telegram.disabled_reason):
        return
    peers = []
    for key in context.partition_keys:
        row = warehouse.known_peer(key)
        peer = await telegram.stats.resolve(key, peer_from_row(row) if row else None)
        if not peer.can_view_stats:
            context.log.warning(
                f"{key}: this account cannot view the statistics of {peer.title!r} "
                "(no can_view_stats): its stats partitions will be skipped"
            )
        peers.append(peer)
    frame = peers_frame(peers)
    yield dg.Output(
        frame,
        metadata={
            "peers": dg.MetadataValue.md(
                frame[["peer_key", "title", "kind", "can_view_stats", "stats_dc"]].to_markdown(
                    index=False
                )
            ),
            "members": sum(int(p.participants_count or 0) for p in peers),
            "without_stats_rights": [p.key for p in peers if not p.can_view_stats],
            "telegram_requests": sum(telegram.stats.requests.values()),
            "telegram_requests_by_type": dg.MetadataValue.json(dict(telegram.stats.requests)),
        },
    )
