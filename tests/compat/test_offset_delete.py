"""kafka-python's ``delete_group_offsets`` (OffsetDelete) on one node: an empty group's offsets
go, and stay gone after a restart; a live consumer group keeps those of the topics it
subscribes to; Kafka's group and partition errors."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient
from kafka import TopicPartition as KafkaTopicPartition
from kafka.errors import (
    GroupIdNotFoundError,
    GroupSubscribedToTopicError,
    NoError,
    UnknownTopicOrPartitionError,
)

pytestmark = pytest.mark.compat

GROUP = "trimmers"


def committed(bootstrap: str, group: str, keys: list[tuple[str, int]]) -> dict:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        found = consumer.committed([TopicPartition(t, p) for t, p in keys], timeout=10)
    finally:
        consumer.close()
    return {(tp.topic, tp.partition): tp.offset for tp in found}


def commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        consumer.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False
        )
    finally:
        consumer.close()


def delete_offsets(bootstrap: str, group: str, keys: list[tuple[str, int]]) -> dict:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        answer = admin.delete_group_offsets(group, [KafkaTopicPartition(*k) for k in keys])
    finally:
        admin.close()
    return {(tp.topic, tp.partition): error for tp, error in answer.items()}


def make_topics(bootstrap: str, *names: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(n, 2, 1) for n in names]).values():
        future.result(timeout=10)


def test_offsets_of_an_empty_group_are_deleted_and_stay_deleted(broker):
    make_topics(broker.bootstrap, "alpha", "beta")
    commit(broker.bootstrap, GROUP, {("alpha", 0): 5, ("alpha", 1): 6, ("beta", 0): 7})

    answer = delete_offsets(broker.bootstrap, GROUP, [("alpha", 0), ("beta", 1), ("nosuch", 0)])
    assert answer == {
        ("alpha", 0): NoError,
        ("beta", 1): NoError,  # nothing committed there: nothing to delete, no error
        ("nosuch", 0): UnknownTopicOrPartitionError,
    }
    keys = [("alpha", 0), ("alpha", 1), ("beta", 0)]
    assert committed(broker.bootstrap, GROUP, keys) == {
        ("alpha", 0): -1001,
        ("alpha", 1): 6,
        ("beta", 0): 7,
    }
    broker.restart(clean=False)  # the tombstones are in __consumer_offsets
    assert committed(broker.bootstrap, GROUP, keys)[("alpha", 0)] == -1001

    # Its last offsets gone, the empty group is deleted, as Kafka's cleanupGroupMetadata does.
    assert set(delete_offsets(broker.bootstrap, GROUP, keys).values()) == {NoError}
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        assert GROUP not in {g.group for g in admin.list_groups()}
    finally:
        admin.close()
    with pytest.raises(GroupIdNotFoundError):
        delete_offsets(broker.bootstrap, GROUP, [("alpha", 0)])


def test_a_consuming_group_keeps_the_offsets_of_its_subscribed_topics(broker):
    make_topics(broker.bootstrap, "alpha", "beta")
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": GROUP, "session.timeout.ms": 6000}
    )
    consumer.subscribe(["alpha"])
    try:
        deadline = time.monotonic() + 20
        while not consumer.assignment():
            assert time.monotonic() < deadline, "the consumer was never assigned a partition"
            consumer.poll(0.2)
        consumer.commit(
            offsets=[TopicPartition("alpha", 0, 3), TopicPartition("beta", 0, 4)],
            asynchronous=False,
        )
        answer = delete_offsets(broker.bootstrap, GROUP, [("alpha", 0), ("beta", 0)])
        assert answer == {("alpha", 0): GroupSubscribedToTopicError, ("beta", 0): NoError}
        after = committed(broker.bootstrap, GROUP, [("alpha", 0), ("beta", 0)])
        assert after == {("alpha", 0): 3, ("beta", 0): -1001}
    finally:
        consumer.close()
