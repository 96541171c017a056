"""confluent-kafka (librdkafka 2.16) against the bundled broker: admin, produce, consume."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

from tests.support.confluent import consume_assigned, produce, watermarks
from tests.support.messages import assert_read_back_exactly, java_partition, keyed_messages

pytestmark = pytest.mark.compat


def _admin(broker) -> AdminClient:
    return AdminClient({"bootstrap.servers": broker.bootstrap})


def _create(admin: AdminClient, name: str, partitions: int, config=None) -> None:
    futures = admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])
    futures[name].result(timeout=10)


def test_admin_creates_lists_alters_and_deletes_topics(shared_broker):
    admin = _admin(shared_broker)
    _create(admin, "orders", 6, {"retention.ms": "3600000"})
    topics = admin.list_topics(timeout=10).topics
    assert "orders" in topics
    assert sorted(topics["orders"].partitions) == list(range(6))
    assert topics["orders"].partitions[0].leader == 0

    with pytest.raises(KafkaException) as exists:
        _create(admin, "orders", 3)
    assert "TOPIC_ALREADY_EXISTS" in str(exists.value)

    admin.create_partitions([NewPartitions("orders", 8)])["orders"].result(timeout=10)
    assert len(admin.list_topics("orders", timeout=10).topics["orders"].partitions) == 8

    admin.delete_topics(["orders"])["orders"].result(timeout=10)
    assert "orders" not in admin.list_topics(timeout=10).topics


def test_keyed_messages_are_read_back_once_in_order_at_their_offsets(shared_broker):
    admin = _admin(shared_broker)
    _create(admin, "tweets", 6)
    messages = keyed_messages(3000)
    delivered = produce(shared_broker.bootstrap, "tweets", messages, partitioner="murmur2_random")

    # Keys land where the partitioner put them: Kafka's Java murmur2 placement.
    for message in delivered:
        assert message.partition == java_partition(message.key, 6)
    assert len({m.partition for m in delivered}) == 6

    consumed = consume_assigned(shared_broker.bootstrap, "tweets", 6, len(messages))
    assert_read_back_exactly(delivered, consumed)

    for partition, (low, high) in enumerate(watermarks(shared_broker.bootstrap, "tweets", 6)):
        assert low == 0
        assert high == sum(1 for m in delivered if m.partition == partition)


@pytest.mark.parametrize("codec", ["gzip", "lz4", "snappy", "zstd"])
def test_compressed_batches_round_trip(shared_broker, codec):
    messages = keyed_messages(500)
    delivered = produce(
        shared_broker.bootstrap,
        f"compressed-{codec}",
        messages,
        **{"compression.type": codec, "batch.num.messages": 100},
    )
    partitions = len({m.partition for m in delivered})
    consumed = consume_assigned(shared_broker.bootstrap, f"compressed-{codec}", partitions, 500)
    assert_read_back_exactly(delivered, consumed)


def test_offsets_for_times_finds_the_first_message_at_or_after(shared_broker):
    producer = Producer({"bootstrap.servers": shared_broker.bootstrap})
    for i, timestamp in enumerate([1_000, 2_000, 3_000]):
        producer.produce("timed", f"v{i}".encode(), partition=0, timestamp=timestamp)
        producer.flush(10)
    consumer = Consumer({"bootstrap.servers": shared_broker.bootstrap, "group.id": "times"})
    try:
        found = consumer.offsets_for_times([TopicPartition("timed", 0, 1_500)], timeout=10)
        assert found[0].offset == 1
        past_end = consumer.offsets_for_times([TopicPartition("timed", 0, 9_000)], timeout=10)
        assert past_end[0].offset == -1
    finally:
        consumer.close()
