"""DeleteTopics, CreatePartitions and producer-id blocks."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from broker.controller.producer_ids import BLOCK_SIZE, allocate_producer_ids
from broker.controller.topics import PartitionsIncrease, create_partitions, delete_topics
from tests.unit.controller.harness import Harness


def test_delete_topics_by_name_and_id_removes_partitions_and_configs() -> None:
    h = Harness()
    h.start(1)
    h.create("tweets", 2, configs={"retention.ms": "5"})
    h.create("stats")
    stats_id = h.image.topics["stats"].topic_id
    answers = h.commit(delete_topics(h.image, ["tweets", "nope"], [stats_id, stats_id]))
    assert [a.error_code for a in answers] == [
        ErrorCode.none,
        ErrorCode.unknown_topic_or_partition,
        ErrorCode.none,
        ErrorCode.none,
    ]
    assert h.image.topics == {} and h.image.topic_config("tweets") == {}
    assert h.create("tweets").error_code == ErrorCode.none  # the name is free again


def test_create_partitions_places_new_partitions_with_the_topics_replication_factor() -> None:
    h = Harness()
    h.start(3)
    h.create("tweets", 2, 2)
    answers = h.commit(create_partitions(h.image, [PartitionsIncrease("tweets", 5)], rng=h.rng))
    assert answers[0].error_code == ErrorCode.none
    partitions = h.image.topics["tweets"].partitions
    assert sorted(partitions) == [0, 1, 2, 3, 4]
    for p in partitions.values():
        assert len(p.replicas) == 2 and p.isr == p.replicas and p.leader == p.replicas[0]


def test_create_partitions_refusals() -> None:
    h = Harness()
    h.start(2)
    h.create("tweets", 2, 2)
    h.create("one", 1, 1)
    h.heartbeat(1, want_fence=True)
    cases = [
        (PartitionsIncrease("nope", 3), ErrorCode.unknown_topic_or_partition),
        (PartitionsIncrease("tweets", 1), ErrorCode.invalid_partitions),
        (PartitionsIncrease("tweets", 2), ErrorCode.invalid_partitions),
        (PartitionsIncrease("tweets", 3), ErrorCode.invalid_replication_factor),  # 1 broker left
        (PartitionsIncrease("one", 3, [(0,)]), ErrorCode.invalid_replica_assignment),
        (PartitionsIncrease("one", 2, [(1,)]), ErrorCode.invalid_replica_assignment),  # fenced
    ]
    for increase, error in cases:
        result = create_partitions(h.image, [increase], rng=h.rng)
        assert result.answer[0].error_code == error, increase
        assert result.records == ()
    twice = [PartitionsIncrease("one", 2), PartitionsIncrease("one", 3)]
    result = create_partitions(h.image, twice, rng=h.rng)
    assert [a.error_code for a in result.answer] == [ErrorCode.invalid_request] * 2
    assert result.records == ()
    h.commit(create_partitions(h.image, [PartitionsIncrease("one", 2, [(0,)])], rng=h.rng))
    assert h.partition("one", 1).replicas == (0,)


def test_producer_id_blocks_follow_each_other_and_never_overlap() -> None:
    h = Harness()
    h.start(2)
    blocks = []
    for broker_id in (0, 1, 0, 1, 1):
        epoch = h.image.brokers[broker_id].epoch
        block = h.commit(allocate_producer_ids(h.image, broker_id, epoch))
        assert block.error_code == ErrorCode.none and block.producer_id_len == BLOCK_SIZE
        blocks.append(range(block.producer_id_start, block.producer_id_start + BLOCK_SIZE))
    starts = [b.start for b in blocks]
    assert starts == [0, 1000, 2000, 3000, 4000]
    assert h.image.next_producer_id == 5000
    stale = allocate_producer_ids(h.image, 0, 999)
    assert stale.answer.error_code == ErrorCode.stale_broker_epoch and stale.records == ()


def test_topics_that_collide_or_carry_a_bad_config_are_refused() -> None:
    h = Harness()
    h.start(1)
    h.create("tweet.stats")
    collides = h.create("tweet_stats")
    assert collides.error_code == ErrorCode.invalid_topic_exception
    assert "collides with existing topics: tweet.stats" in collides.message
    bad = h.create("other", configs={"retention.ms": "soon"})
    assert bad.error_code == ErrorCode.invalid_config and "retention.ms" in bad.message
    unknown = h.create("other", configs={"retention.hours": "1"})
    assert unknown.error_code == ErrorCode.invalid_config
    assert set(h.image.topics) == {"tweet.stats"}


def test_internal_topics_are_not_deleted() -> None:
    h = Harness()
    h.start(1)
    h.create("__consumer_offsets", 2)
    result = delete_topics(h.image, ["__consumer_offsets"])
    assert result.records == ()
    assert result.answer[0].error_code == ErrorCode.invalid_topic_exception
