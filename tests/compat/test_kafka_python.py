"""kafka-python 3.0 against the bundled broker: its default (idempotent) producer, a consumer
on assigned partitions, and its admin client."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from tests.support.messages import Delivered, assert_read_back_exactly, keyed_messages

pytestmark = pytest.mark.compat


def test_idempotent_producer_and_assigned_consumer(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.create_topics([NewTopic("kp", num_partitions=4, replication_factor=1)])
        assert "kp" in admin.list_topics()
    finally:
        admin.close()

    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)
    assert producer.config["enable_idempotence"], "the default producer is idempotent"
    messages = keyed_messages(2000)
    futures = [(key, value, producer.send("kp", value=value, key=key)) for key, value in messages]
    producer.flush(30)
    delivered = []
    for key, value, future in futures:
        meta = future.get(timeout=10)
        delivered.append(Delivered(meta.partition, meta.offset, key, value))
    producer.close()

    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    consumer.assign([TopicPartition("kp", p) for p in range(4)])
    consumed = [Delivered(r.partition, r.offset, r.key, r.value) for r in consumer]
    end_offsets = consumer.end_offsets([TopicPartition("kp", p) for p in range(4)])
    consumer.close()

    assert_read_back_exactly(delivered, consumed)
    for tp, end in end_offsets.items():
        assert end == sum(1 for m in delivered if m.partition == tp.partition)
