"""aiokafka 0.14 against the bundled broker: producer and a consumer on assigned partitions."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.support.messages import Delivered, assert_read_back_exactly, keyed_messages

pytestmark = pytest.mark.compat


async def _round_trip(bootstrap: str) -> tuple[list[Delivered], list[Delivered]]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        messages = keyed_messages(1000)
        futures = [(k, v, await producer.send("aio", v, key=k)) for k, v in messages]
        delivered = []
        for key, value, future in futures:
            meta = await future
            delivered.append(Delivered(meta.partition, meta.offset, key, value))
    finally:
        await producer.stop()

    partitions = sorted({m.partition for m in delivered})
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    await consumer.start()
    consumed: list[Delivered] = []
    try:
        consumer.assign([TopicPartition("aio", p) for p in partitions])
        while len(consumed) < len(delivered):
            batches = await consumer.getmany(timeout_ms=10_000)
            assert batches, f"timed out after {len(consumed)} messages"
            for records in batches.values():
                consumed += [Delivered(r.partition, r.offset, r.key, r.value) for r in records]
    finally:
        await consumer.stop()
    return delivered, consumed


def test_producer_and_assigned_consumer(broker_factory):
    broker = broker_factory(config={"num.partitions": "3"})
    delivered, consumed = asyncio.run(_round_trip(broker.bootstrap))
    assert len({m.partition for m in delivered}) == 3
    assert_read_back_exactly(delivered, consumed)
