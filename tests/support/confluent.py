"""confluent-kafka helpers: produce with delivery reports, consume assigned partitions."""

from __future__ import annotations

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from tests.support.messages import Delivered


def produce(bootstrap: str, topic: str, messages, **config) -> list[Delivered]:
    delivered: list[Delivered] = []
    errors = []

    def report(err, msg):
        if err is not None:
            errors.append(err)
        else:
            delivered.append(Delivered(msg.partition(), msg.offset(), msg.key(), msg.value()))

    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5, **config})
    for key, value in messages:
        producer.produce(topic, value, key, on_delivery=report)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert errors == []
    return delivered


def consume_assigned(bootstrap: str, topic: str, partitions: int, count: int) -> list[Delivered]:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "compat-assign", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    consumed: list[Delivered] = []
    try:
        while len(consumed) < count:
            msg = consumer.poll(10)
            assert msg is not None, f"timed out after {len(consumed)} of {count} messages"
            assert msg.error() is None, msg.error()
            consumed.append(Delivered(msg.partition(), msg.offset(), msg.key(), msg.value()))
        assert consumer.poll(0.5) is None, "read more messages than were produced"
    finally:
        consumer.close()
    return consumed


def watermarks(bootstrap: str, topic: str, partitions: int) -> list[tuple[int, int]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        return [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            for p in range(partitions)
        ]
    finally:
        consumer.close()
