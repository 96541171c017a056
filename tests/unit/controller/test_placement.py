"""Replica placement: Kafka's striped round-robin, and CreateTopics' checks around it."""

from __future__ import annotations

from collections import Counter

import pytest
from kio.schema.errors import ErrorCode

from broker.controller.placement import PlacementError, place_replicas
from broker.controller.topics import NewTopic, create_topics
from tests.unit.controller.harness import Harness


def test_striping_starts_each_partition_one_broker_on_and_shifts_followers_on_wrap() -> None:
    placed = place_replicas([10, 11, 12], 4, 3, start=0, shift=0)
    assert placed == [(10, 11, 12), (11, 12, 10), (12, 10, 11), (10, 12, 11)]


@pytest.mark.parametrize("start", range(5))
@pytest.mark.parametrize("shift", range(5))
def test_leaders_and_replicas_spread_evenly_with_no_broker_twice(start: int, shift: int) -> None:
    brokers = [0, 1, 2, 3, 4]
    placed = place_replicas(brokers, 20, 3, start=start, shift=shift)
    assert all(len(set(replicas)) == 3 for replicas in placed)
    leaders = Counter(replicas[0] for replicas in placed)
    assert set(leaders.values()) == {4}
    everywhere = Counter(b for replicas in placed for b in replicas)
    assert set(everywhere.values()) == {12}


def test_new_partitions_continue_the_stripe_where_the_topic_left_off() -> None:
    whole = place_replicas([0, 1, 2], 6, 2, start=1, shift=2)
    assert place_replicas([0, 1, 2], 2, 2, start=1, shift=2, first_partition=4) == whole[4:]


def test_a_replication_factor_above_the_brokers_is_refused_with_kafkas_message() -> None:
    with pytest.raises(PlacementError, match="only 2 broker"):
        place_replicas([0, 1], 1, 3, start=0, shift=0)


def test_create_topics_counts_only_unfenced_brokers_for_the_replication_factor() -> None:
    h = Harness()
    h.start(3)
    h.heartbeat(2, want_fence=True)
    answer = h.create("tweets", 1, 3)
    assert answer.error_code == ErrorCode.invalid_replication_factor
    assert "only 2 broker(s)" in answer.message
    assert "tweets" not in h.image.topics
    placed = h.create("tweets", 6, 2)
    assert placed.error_code == ErrorCode.none
    for index in range(6):
        assert 2 not in h.partition("tweets", index).replicas


def test_created_partitions_start_with_every_replica_in_sync_and_the_first_leading() -> None:
    h = Harness()
    h.start(3)
    answer = h.create("tweets", 3, -1, configs={"retention.ms": "1000"})
    assert (answer.num_partitions, answer.replication_factor) == (3, 1)  # default RF 1
    answer = h.create("stats", 3, 3)
    assert answer.error_code == ErrorCode.none
    for index in range(3):
        p = h.partition("stats", index)
        assert p.isr == p.replicas and p.leader == p.replicas[0]
        assert (p.leader_epoch, p.partition_epoch) == (0, 0)
    assert h.image.topic_config("tweets") == {"retention.ms": "1000"}


@pytest.mark.parametrize(
    ("assignments", "error"),
    [
        ({0: (0, 1), 2: (1, 2)}, "consecutive"),
        ({0: (0, 1), 1: (1,)}, "same number"),
        ({0: (1, 1)}, "twice"),
        ({0: (0, 7)}, "not registered"),
        ({0: ()}, "empty"),
        ({0: (2,)}, "fenced"),
    ],
)
def test_explicit_assignments_are_checked(assignments: dict, error: str) -> None:
    h = Harness()
    h.start(3)
    h.heartbeat(2, want_fence=True)
    answer = h.create("tweets", -1, -1, assignments=assignments)
    assert answer.error_code == ErrorCode.invalid_replica_assignment
    assert error in answer.message
    assert "tweets" not in h.image.topics


def test_an_explicit_assignment_is_used_as_given_with_fenced_replicas_out_of_the_isr() -> None:
    h = Harness()
    h.start(3)
    h.heartbeat(0, want_fence=True)
    answer = h.create("tweets", assignments={0: (0, 1, 2), 1: (2, 1, 0)})
    assert answer.error_code == ErrorCode.none
    assert h.partition("tweets", 0).replicas == (0, 1, 2)
    assert (h.partition("tweets", 0).isr, h.partition("tweets", 0).leader) == ((1, 2), 1)
    assert (h.partition("tweets", 1).isr, h.partition("tweets", 1).leader) == ((2, 1), 2)


def test_assignments_with_a_count_or_factor_and_bad_counts_are_refused() -> None:
    h = Harness()
    h.start(2)
    result = create_topics(
        h.image,
        [
            NewTopic("a", 1, -1, assignments={0: (0,)}),
            NewTopic("b", 0, 1),
            NewTopic("c", 1, 0),
            NewTopic("d d"),
            NewTopic("e"),
            NewTopic("e"),
            NewTopic("f"),
        ],
        rng=h.rng,
    )
    codes = [a.error_code for a in result.answer]
    assert codes == [
        ErrorCode.invalid_request,
        ErrorCode.invalid_partitions,
        ErrorCode.invalid_replication_factor,
        ErrorCode.invalid_topic_exception,
        ErrorCode.invalid_request,
        ErrorCode.invalid_request,
        ErrorCode.none,
    ]
    h.commit(result)
    assert set(h.image.topics) == {"f"}
    assert h.create("f").error_code == ErrorCode.topic_already_exists
