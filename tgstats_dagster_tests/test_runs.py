"""What a snapshots run says it changed: a run tag whose size follows ranges, not the fleet."""

from datetime import date, timedelta

import pytest

from tgstats_dagster.runs import (
    CHANGED_DAYS_TAG,
    MAX_CHANGED_TAG_BYTES,
    changed_days,
    changed_days_tag,
    changes_tags,
)

PEERS = [f"channel_{index:04d}" for index in range(1000)]
DAY = date(2026, 11, 30)


def _days(*back: int) -> list[date]:
    return [DAY - timedelta(days=n) for n in back]


def test_every_peer_with_a_new_day_is_one_range_of_peers() -> None:
    tag = changed_days_tag(dict.fromkeys(PEERS, _days(0)), PEERS)
    assert len(tag[CHANGED_DAYS_TAG]) < 100
    assert changed_days(tag, PEERS) == {(DAY, DAY): PEERS}


def test_exact_ranges_read_back_exactly() -> None:
    changed = {"channel_0001": _days(0, 1), "channel_0002": _days(0, 1), "channel_0009": _days(5)}
    tag = changed_days_tag(changed, PEERS)
    assert changed_days(tag, PEERS) == {
        (DAY - timedelta(days=1), DAY): ["channel_0001", "channel_0002"],
        (DAY - timedelta(days=5), DAY - timedelta(days=5)): ["channel_0009"],
    }
    runs = changes_tags(tag, PEERS, "run-1")
    assert [
        (r["dagster/asset_partition_range_start"], r["dagster/asset_partition_range_end"])
        for r in runs
    ] == [
        (
            f"{DAY - timedelta(days=5)}|channel_0009",
            f"{DAY - timedelta(days=5)}|channel_0009",
        ),
        (f"{DAY - timedelta(days=1)}|channel_0001", f"{DAY}|channel_0002"),
    ]


@pytest.mark.parametrize("step", [2, 3])
def test_alternating_peers_stay_under_the_limit_and_none_is_left_out(step: int) -> None:
    changed = {peer: _days(0) for peer in PEERS[::step]}
    tag = changed_days_tag(changed, PEERS)
    assert len(tag[CHANGED_DAYS_TAG].encode()) <= MAX_CHANGED_TAG_BYTES
    [held] = changed_days(tag, PEERS).values()
    assert set(changed) <= set(held)


def test_many_ranges_of_days_become_one_rectangle_when_they_do_not_fit() -> None:
    changed = {peer: _days(2 * (index % 40)) for index, peer in enumerate(PEERS)}
    tag = changed_days_tag(changed, PEERS)
    assert len(tag[CHANGED_DAYS_TAG].encode()) <= MAX_CHANGED_TAG_BYTES
    stored = changed_days(tag, PEERS)
    for peer, [day] in changed.items():
        assert any(first <= day <= last and peer in held for (first, last), held in stored.items())


def test_a_peer_gone_from_the_partitions_keeps_the_rest_of_its_range() -> None:
    tag = changed_days_tag(dict.fromkeys(PEERS[:5], _days(0)), PEERS)
    later = [peer for peer in PEERS if peer != "channel_0000"]
    assert changed_days(tag, later) == {(DAY, DAY): ["channel_0004"]}


def test_an_unknown_peer_is_refused() -> None:
    with pytest.raises(ValueError, match="not a stats peer"):
        changed_days_tag({"elsewhere": _days(0)}, PEERS)
