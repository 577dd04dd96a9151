"""The assignment of a group's partitions to its live members, and the settings that bound it."""

from __future__ import annotations

import random

import pytest

from tandem_messaging import ConsumerSettings, assign


def test_partitions_go_round_robin_over_the_sorted_members() -> None:
    members = ["m3", "m1", "m2"]
    assert assign(members, "m1", 6) == {0, 3}
    assert assign(members, "m2", 6) == {1, 4}
    assert assign(members, "m3", 6) == {2, 5}


@pytest.mark.parametrize("partitions", [1, 5, 8, 256])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 300])
def test_every_partition_is_assigned_to_exactly_one_member(partitions: int, size: int) -> None:
    members = [f"host:{pid}:x" for pid in range(size)]
    shares = [assign(members, member, partitions) for member in members]
    assert sorted(p for share in shares for p in share) == list(range(partitions))
    assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_the_assignment_is_stable_whatever_order_the_members_come_in() -> None:
    members = [f"m{i}" for i in range(5)]
    shuffled = random.sample(members, len(members))
    for member in members:
        assert assign(members, member, 16) == assign(shuffled, member, 16)
    assert assign([*members, "m0"], "m0", 16) == assign(members, "m0", 16)


def test_a_member_not_among_the_live_ones_is_assigned_nothing() -> None:
    assert assign(["m1", "m2"], "m3", 8) == frozenset()
    assert assign([], "m1", 8) == frozenset()


@pytest.mark.parametrize(
    "changes",
    [{"partitions": 0}, {"partitions": 257}, {"heartbeat_s": 5.0}, {"heartbeat_s": 0.0}],
)
def test_settings_refuse_partition_counts_and_heartbeats_that_cannot_work(
    changes: dict[str, float],
) -> None:
    with pytest.raises(ValueError, match=r"partitions|heartbeat"):
        ConsumerSettings(**changes)  # type: ignore[arg-type]
