from datetime import date

import dagster as dg
import pytest

from tgstats_dagster.partitions import (
    PeerDay,
    contiguous_runs,
    days_by_peer,
    stats_partitions,
    stats_peer_changes,
    stats_range_tags,
)


def test_days_by_peer_groups_a_multi_peer_multi_day_selection() -> None:
    keys = ["2026-11-02|b", "2026-11-01|a", "2026-11-01|b", PeerDay("a", date(2026, 11, 3)).key]
    assert days_by_peer(keys) == {
        "b": [date(2026, 11, 1), date(2026, 11, 2)],
        "a": [date(2026, 11, 1), date(2026, 11, 3)],
    }


def test_the_codec_reads_back_what_it_writes() -> None:
    pair = PeerDay("mychannel", date(2026, 11, 3))
    assert str(pair.key) == "2026-11-03|mychannel"
    assert PeerDay.of(pair.key) == PeerDay.of(str(pair.key)) == pair


def test_days_by_peer_refuses_a_peer_only_key() -> None:
    with pytest.raises(ValueError, match="'mychannel' is not a peer x date partition key"):
        days_by_peer(["mychannel"])


@pytest.mark.parametrize(
    ("wanted", "runs"),
    [
        (["a", "b", "c"], [["a", "b", "c"]]),
        (["c", "a"], [["a"], ["c"]]),
        (["b", "d", "c"], [["b", "c", "d"]]),
        ([], []),
    ],
)
def test_contiguous_runs_follow_the_partition_order(wanted, runs) -> None:
    assert contiguous_runs(["a", "b", "c", "d"], wanted) == runs


def test_stats_peers_are_the_peers_with_rights() -> None:
    add, delete = stats_peer_changes(
        ["a", "b", "c", "d"], ["c", "x"], {"a": True, "b": False, "c": True, "d": True}
    )
    assert (add, delete) == (["a", "d"], ["x"])


def test_dagster_honours_the_range_tags() -> None:
    """The range tags are Dagster internals: check that Dagster still reads them as a range,
    and that a range of peers x days is their rectangle."""
    tags = stats_range_tags("a", "b", date(2026, 11, 1), date(2026, 11, 2))
    request = dg.RunRequest(tags=tags)
    assert request.partition_key_range == dg.PartitionKeyRange("2026-11-01|a", "2026-11-02|b")

    partitions = stats_partitions(date(2026, 11, 1))
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("stats_peer", ["a", "b", "c"])

        @dg.asset(partitions_def=partitions, backfill_policy=dg.BackfillPolicy.single_run())
        def seen(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
            return dg.MaterializeResult(metadata={"keys": sorted(map(str, context.partition_keys))})

        result = dg.materialize([seen], instance=instance, tags=tags)
        keys = result.asset_materializations_for_node("seen")[0].metadata["keys"].value
    assert keys == ["2026-11-01|a", "2026-11-01|b", "2026-11-02|a", "2026-11-02|b"]
