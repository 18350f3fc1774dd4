from datetime import date

import pytest

from tgstats_dagster.partitions import contiguous_runs, days_by_peer, stats_key


def test_days_by_peer_groups_a_multi_peer_multi_day_selection() -> None:
    keys = ["2026-11-02|b", "2026-11-01|a", "2026-11-01|b", str(stats_key("a", date(2026, 11, 3)))]
    assert days_by_peer(keys) == {
        "a": [date(2026, 11, 1), date(2026, 11, 3)],
        "b": [date(2026, 11, 1), date(2026, 11, 2)],
    }


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
