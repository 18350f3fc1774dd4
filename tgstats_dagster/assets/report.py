"""The channel report: each stats peer's whole kept history, drawn (tgstats_dagster.report).

Partitioned by stats peer, one step for all the peers of its run. A refresh redraws the
reports of the peers whose rows changed, after the daily runs that changed them (the
report sensor in a deployment, ``tgstats refresh`` from the shell); a refresh that changed
nothing draws nothing. Each partition's materialization shows a compact overview (an SVG
of a few KB, in the event log forever) and names the full report page.
"""

import dagster as dg

from tgstats_dagster.assets.common import GROUP, add_partition_metadata
from tgstats_dagster.assets.content import CHANNEL_HOURLY, POSTS, REVENUE_STATUS
from tgstats_dagster.assets.daily import CHANNEL_DAILY
from tgstats_dagster.assets.figures import MEGAGROUP_TOPS, POST_INTERACTIONS, STATS_FIGURES
from tgstats_dagster.partitions import PEER, stats_peer_partitions
from tgstats_dagster.resources import ReportsResource, WarehouseResource
from tgstats_dagster.runs import REPORT_JOB, peers_failed

CHANNEL_REPORT = dg.AssetKey("channel_report")


@dg.asset(
    key=CHANNEL_REPORT,
    group_name=GROUP,
    kinds={"matplotlib", "html"},
    description=(
        "Each channel's whole kept history drawn as Telegram's statistics page draws it: "
        "audience, views and shares, sources, languages, notifications, hours, posts and "
        "revenue where kept (a chart without data is left out and the page says why). The "
        "materialization shows an overview; `report` names the full page (offline HTML "
        "under TGSTATS_HOME/reports). Redrawn when the channel's rows change."
    ),
    partitions_def=stats_peer_partitions,
    deps=[
        dg.AssetDep(
            CHANNEL_DAILY,
            partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
                partition_dimension_name=PEER
            ),
        ),
        *(
            dg.AssetDep(
                key,
                partition_mapping=dg.MultiToSingleDimensionPartitionMapping(
                    partition_dimension_name=PEER
                ),
            )
            for key in (CHANNEL_HOURLY, POSTS)
        ),
        STATS_FIGURES,
        POST_INTERACTIONS,
        MEGAGROUP_TOPS,
        REVENUE_STATUS,
    ],
    backfill_policy=dg.BackfillPolicy.single_run(),
)
def channel_report(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, reports: ReportsResource
) -> dg.MaterializeResult:
    # matplotlib is imported by the runs that draw, not by every process that loads the code.
    from tgstats_dagster.report import NoReport, draw_report, history_version, overview_markdown

    peers = list(context.partition_keys)
    known = warehouse.peers.known(peers)
    about: dict[str, dict[str, object]] = {}
    failed: dict[str, str] = {}
    for peer in peers:
        if peer not in known:
            failed[peer] = "no stored peer entity: materialize telegram_peers for it first"
            continue
        channel_id = int(known[peer]["channel_id"])
        try:
            report = draw_report(warehouse.engine, channel_id, reports.path)
        except NoReport as exc:
            failed[peer] = str(exc)
            continue
        about[peer] = {
            "overview": dg.MetadataValue.md(overview_markdown(report)),
            "report": dg.MetadataValue.path(str(report.html_path)),
            "history_version": history_version(warehouse.engine, channel_id),
            "charts": len(report.drawn),
            "left_out": dg.MetadataValue.json(report.notes),
            "first_day": str(report.first_day),
            "last_day": str(report.last_day),
        }
        context.log.info(f"{peer}: {report.html_path} ({len(report.drawn)} charts)")
    if failed:
        raise peers_failed(REPORT_JOB, peers, failed, len(about))
    add_partition_metadata(context, CHANNEL_REPORT, about)
    return dg.MaterializeResult()
