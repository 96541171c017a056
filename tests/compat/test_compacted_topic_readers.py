"""kafka-python and aiokafka read a compacted topic from offset 0 to its end: the cleaner's
empty batches (where whole batches went) are stepped over, and each key's latest value is
found at the offset it was written to (confluent-kafka: tests/reliability/
test_compaction_crash.py)."""

from __future__ import annotations

import asyncio
import time

from aiokafka import AIOKafkaConsumer
from aiokafka import TopicPartition as AioTopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaTopicPartition

from tests.reliability.test_compaction_crash import CLEANED, TOPIC, fill
from tests.support.waiting import eventually

Read = dict[bytes, tuple[int, bytes]]


def compacted(broker_factory) -> tuple[str, dict[int, tuple[bytes, bytes]]]:
    broker = broker_factory(config={"log.cleaner.backoff.ms": "200"})
    written = fill(broker.bootstrap)
    eventually(lambda: CLEANED in broker.read_log(), "a cleaning pass", timeout=60)
    return broker.bootstrap, written


def expected(written: dict[int, tuple[bytes, bytes]]) -> Read:
    return {key: (offset, value) for offset, (key, value) in sorted(written.items())}


def test_kafka_python_reads_the_latest_value_of_each_key(broker_factory):
    bootstrap, written = compacted(broker_factory)
    end = max(written) + 1
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, check_crcs=True)
    partition = KafkaTopicPartition(TOPIC, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    read: Read = {}
    count = 0
    deadline = time.monotonic() + 60
    try:
        while consumer.position(partition) < end:
            assert time.monotonic() < deadline, f"stuck at offset {consumer.position(partition)}"
            for records in consumer.poll(timeout_ms=1000).values():
                for record in records:
                    read[record.key] = (record.offset, record.value)
                    count += 1
    finally:
        consumer.close()
    assert read == expected(written) and count < len(written)


def test_aiokafka_reads_the_latest_value_of_each_key(broker_factory):
    bootstrap, written = compacted(broker_factory)
    end = max(written) + 1

    async def read_all() -> tuple[Read, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        partition = AioTopicPartition(TOPIC, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        read: Read = {}
        count = 0
        deadline = time.monotonic() + 60
        try:
            while (position := await consumer.position(partition)) < end:
                assert time.monotonic() < deadline, f"stuck at offset {position}"
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        read[record.key] = (record.offset, record.value)
                        count += 1
        finally:
            await consumer.stop()
        return read, count

    read, count = asyncio.run(read_all())
    assert read == expected(written) and count < len(written)
