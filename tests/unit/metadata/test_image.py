"""The metadata image: built by applying records, a new image per change, old ones unchanged."""

from __future__ import annotations

import uuid

import pytest

from broker.metadata.image import MetadataError, MetadataImage, PartitionRegistration
from broker.metadata.records import (
    NO_LEADER,
    ConfigRecord,
    ConfigResourceType,
    FenceBrokerRecord,
    PartitionChangeRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    RemoveTopicRecord,
    TopicRecord,
    UnfenceBrokerRecord,
)

TOPIC_ID = uuid.UUID(int=7)


def a_topic(partitions: int = 2) -> list:
    return [TopicRecord("tweets", TOPIC_ID)] + [
        PartitionRecord(i, TOPIC_ID, replicas=(0, 1, 2), isr=(0, 1, 2), leader=i % 3)
        for i in range(partitions)
    ]


def test_applying_records_yields_a_new_image_and_leaves_the_old_one_alone() -> None:
    empty = MetadataImage()
    created = empty.apply_all(a_topic())
    assert empty.topics == {} and empty.topics_by_id == {}
    assert created.topics["tweets"].topic_id == TOPIC_ID
    assert created.topics_by_id[TOPIC_ID].name == "tweets"
    assert created.partition("tweets", 1) == PartitionRegistration((0, 1, 2), (0, 1, 2), 1)

    shrunk = created.apply(PartitionChangeRecord(1, TOPIC_ID, isr=(1, 2)))
    assert created.partition("tweets", 1).isr == (0, 1, 2)
    assert shrunk.partition("tweets", 1).isr == (1, 2)
    assert shrunk.partition("tweets", 0) is created.partition("tweets", 0)


def test_an_image_cannot_be_changed_in_place() -> None:
    image = MetadataImage().apply_all(a_topic())
    with pytest.raises(TypeError):
        image.topics["other"] = image.topics["tweets"]  # type: ignore[index]
    with pytest.raises(TypeError):
        image.topics["tweets"].partitions[5] = image.partition("tweets", 0)  # type: ignore[index]


def test_a_partition_change_bumps_the_partition_epoch_and_a_new_leader_the_leader_epoch() -> None:
    image = MetadataImage().apply_all(a_topic())
    isr_only = image.apply(PartitionChangeRecord(0, TOPIC_ID, isr=(0, 1)))
    assert isr_only.partition("tweets", 0) == PartitionRegistration((0, 1, 2), (0, 1), 0, 0, 1)
    moved = isr_only.apply(PartitionChangeRecord(0, TOPIC_ID, isr=(1,), leader=1))
    assert moved.partition("tweets", 0) == PartitionRegistration((0, 1, 2), (1,), 1, 1, 2)
    offline = moved.apply(PartitionChangeRecord(0, TOPIC_ID, leader=NO_LEADER))
    assert offline.partition("tweets", 0).leader == NO_LEADER
    assert offline.partition("tweets", 0).leader_epoch == 2


def test_removing_a_topic_drops_its_partitions_and_configs() -> None:
    image = MetadataImage().apply_all(
        [*a_topic(), ConfigRecord(ConfigResourceType.TOPIC, "tweets", "retention.ms", "1000")]
    )
    assert image.topic_config("tweets") == {"retention.ms": "1000"}
    gone = image.apply(RemoveTopicRecord(TOPIC_ID))
    assert gone.topics == {} and gone.topics_by_id == {} and gone.topic_config("tweets") == {}
    again = gone.apply_all([TopicRecord("tweets", uuid.UUID(int=8))])
    assert again.topics["tweets"].topic_id == uuid.UUID(int=8)
    assert image.topics["tweets"].topic_id == TOPIC_ID


def test_config_records_set_and_remove_values() -> None:
    broker = (ConfigResourceType.BROKER, "0")
    image = MetadataImage().apply(
        ConfigRecord(ConfigResourceType.BROKER, "0", "min.insync.replicas", "2")
    )
    assert image.configs[broker] == {"min.insync.replicas": "2"}
    removed = image.apply(ConfigRecord(ConfigResourceType.BROKER, "0", "min.insync.replicas", None))
    assert broker not in removed.configs


def test_brokers_register_and_are_fenced_and_unfenced_at_their_epoch() -> None:
    incarnation = uuid.UUID(int=1)
    image = MetadataImage().apply(RegisterBrokerRecord(1, incarnation, broker_epoch=5))
    assert image.brokers[1].fenced
    live = image.apply(UnfenceBrokerRecord(1, 5))
    assert not live.brokers[1].fenced and image.brokers[1].fenced
    assert live.apply(FenceBrokerRecord(1, 5)).brokers[1].fenced
    with pytest.raises(MetadataError):
        live.apply(FenceBrokerRecord(1, 4))  # a stale epoch


def test_records_that_do_not_fit_are_refused() -> None:
    image = MetadataImage().apply_all(a_topic())
    with pytest.raises(MetadataError):
        image.apply(TopicRecord("tweets", uuid.UUID(int=9)))
    with pytest.raises(MetadataError):
        image.apply(PartitionRecord(0, uuid.UUID(int=9), (0,), (0,), 0))
    with pytest.raises(MetadataError):
        image.apply(PartitionChangeRecord(9, TOPIC_ID, isr=(0,)))


def test_producer_id_blocks_move_the_next_free_id() -> None:
    image = MetadataImage().apply(ProducerIdsRecord(0, 1, next_producer_id=1000))
    assert image.next_producer_id == 1000
