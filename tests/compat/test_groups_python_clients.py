"""kafka-python and aiokafka group consumers subscribe, consume and commit."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as AioTopicPartition
from kafka import KafkaConsumer

from tests.support.confluent import produce, watermarks
from tests.support.messages import keyed_messages

pytestmark = pytest.mark.compat


def test_kafka_python_group_consumer(broker_factory):
    broker = broker_factory(config={"num.partitions": "3"})
    delivered = produce(broker.bootstrap, "kp-group", keyed_messages(900))
    consumer = KafkaConsumer(
        "kp-group",
        bootstrap_servers=broker.bootstrap,
        group_id="kp",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    seen = set()
    for record in consumer:
        seen.add((record.partition, record.offset))
        if len(seen) == len(delivered):
            break
    consumer.commit()
    assignment = consumer.assignment()
    committed = {tp.partition: consumer.committed(tp) for tp in assignment}
    consumer.close()
    assert seen == {(m.partition, m.offset) for m in delivered}
    assert {tp.partition for tp in assignment} == {0, 1, 2}
    high = [h for _, h in watermarks(broker.bootstrap, "kp-group", 3)]
    assert committed == dict(enumerate(high))

    # A new consumer in the same group starts from the commits: nothing left to read.
    again = KafkaConsumer(
        "kp-group",
        bootstrap_servers=broker.bootstrap,
        group_id="kp",
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    assert list(again) == []
    positions = {tp.partition: again.position(tp) for tp in again.assignment()}
    assert positions == dict(enumerate(high))
    again.close()


async def _aiokafka_group(bootstrap: str, expected: int) -> tuple[set, dict]:
    consumer = AIOKafkaConsumer(
        "aio-group",
        bootstrap_servers=bootstrap,
        group_id="aio",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    seen: set[tuple[int, int]] = set()
    try:
        while len(seen) < expected:
            batches = await consumer.getmany(timeout_ms=10_000)
            assert batches, f"timed out after {len(seen)} of {expected}"
            for records in batches.values():
                seen.update((r.partition, r.offset) for r in records)
        await consumer.commit()
        committed = {
            p: await consumer.committed(AioTopicPartition("aio-group", p)) for p in range(3)
        }
    finally:
        await consumer.stop()
    return seen, committed


def test_aiokafka_group_consumer(broker_factory):
    broker = broker_factory(config={"num.partitions": "3"})
    delivered = produce(broker.bootstrap, "aio-group", keyed_messages(900))
    seen, committed = asyncio.run(_aiokafka_group(broker.bootstrap, len(delivered)))
    assert seen == {(m.partition, m.offset) for m in delivered}
    high = [h for _, h in watermarks(broker.bootstrap, "aio-group", 3)]
    assert committed == dict(enumerate(high))
