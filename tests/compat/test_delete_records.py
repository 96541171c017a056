"""``delete_records`` on one node: with confluent-kafka, the log start moves, the segments below
it leave the disk, readers start there, and a restart keeps it; Kafka's per-partition errors;
kafka-python and aiokafka get the same answers."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete
from aiokafka.structs import TopicPartition as AioTopicPartition
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaAdminClient
from kafka import TopicPartition as KafkaTopicPartition

from tests.support.confluent import produce, watermarks
from tests.support.messages import keyed_messages

pytestmark = pytest.mark.compat

TOPIC = "trimmed"


def delete(admin: AdminClient, *wanted: tuple[str, int, int]) -> list:
    """Each partition's DeletedRecords, or its KafkaError."""
    futures = admin.delete_records([TopicPartition(*w) for w in wanted], operation_timeout=10)
    answers = []
    for future in futures.values():
        try:
            answers.append(future.result(timeout=15))
        except KafkaException as exc:
            answers.append(exc.args[0])
    return answers


def segment_bases(broker, topic: str, partition: int = 0) -> list[int]:
    directory = broker.data_dir / f"{topic}-{partition}"
    return sorted(int(path.stem) for path in directory.glob("*.log"))


def first_offset_read(bootstrap: str, topic: str, start: int) -> int:
    """The offset a consumer assigned at ``start`` reads first (auto.offset.reset=earliest)."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "reader", "auto.offset.reset": "earliest"}
    )
    consumer.assign([TopicPartition(topic, 0, start)])
    try:
        msg = consumer.poll(10)
        assert msg is not None and msg.error() is None, msg and msg.error()
        return msg.offset()
    finally:
        consumer.close()


def test_delete_records_moves_the_log_start_and_deletes_the_segments_below(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    config = {"segment.bytes": "2048"}
    admin.create_topics([NewTopic(TOPIC, 1, 1, config=config)])[TOPIC].result(timeout=10)
    produce(broker.bootstrap, TOPIC, keyed_messages(200), **{"linger.ms": 0, "batch.size": 200})
    before = segment_bases(broker, TOPIC)
    assert len(before) > 4

    (deleted,) = delete(admin, (TOPIC, 0, 120))
    assert deleted.low_watermark == 120
    assert watermarks(broker.bootstrap, TOPIC, 1) == [(120, 200)]
    kept = segment_bases(broker, TOPIC)
    assert kept[0] <= 120 and [b for b in before if b > kept[0]] == kept[1:]
    assert kept[0] == max(b for b in before if b <= 120)  # only the segment holding 120 stays

    # A consumer below the new start is out of range and resets to it.
    assert first_offset_read(broker.bootstrap, TOPIC, 5) == 120

    broker.restart(clean=False)  # SIGKILL: the log-start checkpoint was written at once
    assert watermarks(broker.bootstrap, TOPIC, 1) == [(120, 200)]

    (to_end,) = delete(AdminClient({"bootstrap.servers": broker.bootstrap}), (TOPIC, 0, -1))
    assert to_end.low_watermark == 200
    assert watermarks(broker.bootstrap, TOPIC, 1) == [(200, 200)]


def test_delete_records_answers_kafkas_errors(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    compacted = NewTopic("compacted", 1, 1, config={"cleanup.policy": "compact"})
    for future in admin.create_topics([NewTopic(TOPIC, 1, 1), compacted]).values():
        future.result(timeout=10)
    produce(broker.bootstrap, TOPIC, keyed_messages(10))
    produce(broker.bootstrap, "compacted", keyed_messages(10))

    past_end, compact, unknown, internal = delete(
        admin, (TOPIC, 0, 11), ("compacted", 0, 5), ("nosuch", 0, 1), ("__consumer_offsets", 0, 0)
    )
    assert past_end.code() == KafkaError.OFFSET_OUT_OF_RANGE
    assert compact.code() == KafkaError.POLICY_VIOLATION
    assert unknown.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert internal.code() == KafkaError.TOPIC_EXCEPTION
    assert watermarks(broker.bootstrap, TOPIC, 1) == [(0, 10)]
    (same,) = delete(admin, (TOPIC, 0, 10))  # up to the high watermark is allowed
    assert same.low_watermark == 10


def test_kafka_python_and_aiokafka_delete_records(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(TOPIC, 2, 1)])[TOPIC].result(timeout=10)
    produce(broker.bootstrap, TOPIC, keyed_messages(40))
    ends = [high for _, high in watermarks(broker.bootstrap, TOPIC, 2)]
    assert min(ends) >= 2

    kp = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        answer = kp.delete_records({KafkaTopicPartition(TOPIC, 0): 1})
    finally:
        kp.close()
    assert {tp.partition: result["low_watermark"] for tp, result in answer.items()} == {0: 1}

    async def with_aiokafka() -> dict:
        aio = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await aio.start()
        try:
            return await aio.delete_records({AioTopicPartition(TOPIC, 1): RecordsToDelete(2)})
        finally:
            await aio.close()

    assert {tp.partition: low for tp, low in asyncio.run(with_aiokafka()).items()} == {1: 2}
    assert [low for low, _ in watermarks(broker.bootstrap, TOPIC, 2)] == [1, 2]
