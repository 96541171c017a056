"""ListOffsets by time answers per record, not per batch (Kafka's findOffsetByTimestamp and
offsetOfMaxTimestamp): one batch holding records at t+100, t+400, t+200, plain and with every
codec, asked by confluent-kafka (offsets_for_times, list_offsets max_timestamp) and the wire."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, OffsetSpec

from tests.support.wire import WireClient

pytestmark = pytest.mark.compat

T = 1_700_000_000_000
MAX_TIMESTAMP = -3


def produce_one_batch(bootstrap: str, topic: str, codec: str) -> None:
    """Three records in one batch (one linger), timestamps out of order. The linger is long
    so that a test process descheduled between two produce calls on a busy machine still
    batches all three (a 200 ms linger once split them); flush() sends at once regardless."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "linger.ms": 10_000, "compression.type": codec}
    )
    for delta in (100, 400, 200):
        # long, repetitive values: compressing must pay, or librdkafka sends them plain
        producer.produce(topic, b"t+%d " % delta * 40, partition=0, timestamp=T + delta)
    assert producer.flush(10) == 0


def stored_codec(port: int, topic: str) -> int:
    """The compression bits of the batch at offset 0, as a consumer receives it."""
    with WireClient(port) as wire:
        records = wire.fetch(topic, 0).records
    assert records[57:61] == (3).to_bytes(4, "big"), "the three records are not one batch"
    return records[22] & 0x07


def list_offsets(port: int, topic: str, timestamp: int):
    with WireClient(port) as wire:
        answer = wire.request(
            2,
            7,
            {
                "replica_id": -1,
                "isolation_level": 0,
                "topics": [
                    {
                        "name": topic,
                        "partitions": [
                            {
                                "partition_index": 0,
                                "current_leader_epoch": -1,
                                "timestamp": timestamp,
                            }
                        ],
                    }
                ],
            },
        )
    return answer.topics[0].partitions[0]


@pytest.mark.parametrize("codec", ["none", "gzip", "snappy", "lz4", "zstd"])
def test_offsets_for_times_and_max_timestamp_answer_the_record(broker, codec):
    topic = f"timed-{codec}"
    produce_one_batch(broker.bootstrap, topic, codec)
    assert stored_codec(broker.port, topic) == ["none", "gzip", "snappy", "lz4", "zstd"].index(
        codec
    )

    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "times"})
    try:
        found = consumer.offsets_for_times([TopicPartition(topic, 0, T + 150)], timeout=10)
        assert found[0].offset == 1  # the first record at or after t+150 (the batch starts at 0)
        found = consumer.offsets_for_times([TopicPartition(topic, 0, T + 401)], timeout=10)
        assert found[0].offset == -1
    finally:
        consumer.close()

    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    futures = admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.max_timestamp()})
    (result,) = [future.result(10) for future in futures.values()]
    assert (result.offset, result.timestamp) == (1, T + 400)

    by_time = list_offsets(broker.port, topic, T + 150)
    assert (by_time.error_code, by_time.offset, by_time.timestamp) == (0, 1, T + 400)
    assert by_time.leader_epoch == 0  # the epoch of the batch found
    max_record = list_offsets(broker.port, topic, MAX_TIMESTAMP)
    assert (max_record.offset, max_record.timestamp) == (1, T + 400)
