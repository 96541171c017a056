"""Kafka's topic configs through confluent-kafka: accepted, described, and the two that change
what is stored (compression.type, message.timestamp.type) honoured for real consumers."""

from __future__ import annotations

import time

import pytest
from confluent_kafka import TIMESTAMP_CREATE_TIME, TIMESTAMP_LOG_APPEND_TIME, Consumer, Producer
from confluent_kafka.admin import AdminClient, ConfigResource, ConfigSource, NewTopic

from broker.protocol.batch import scan_valid

pytestmark = pytest.mark.compat

CONFIGS = {
    "compression.type": "gzip",  # kafka-python reads gzip without extra libraries
    "compression.gzip.level": "9",
    "message.timestamp.type": "LogAppendTime",
    "min.cleanable.dirty.ratio": "0.3",
    "cleanup.policy": "compact,delete",
    "delete.retention.ms": "3600000",
    "preallocate": "true",
    "unclean.leader.election.enable": "false",
    "message.timestamp.before.max.ms": "86400000",
}
OLD_CREATE_TIME = 1_000_000  # 1970: a LogAppendTime topic must not keep it


def consume(bootstrap: str, topic: str, count: int) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"read-{topic}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    got = []
    deadline = time.monotonic() + 60
    while len(got) < count:
        assert time.monotonic() < deadline, f"read {len(got)} of {count}"
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            got.append(message)
    consumer.close()
    return got


def stored_codecs(broker, topic: str) -> set[int]:
    data = (broker.data_dir / f"{topic}-0" / f"{0:020d}.log").read_bytes()
    return {header.compression for header in scan_valid(data)}


def test_standard_topic_configs_are_accepted_stored_described_and_honoured(shared_broker):
    admin = AdminClient({"bootstrap.servers": shared_broker.bootstrap})
    admin.create_topics([NewTopic("appended", 1, 1, config=CONFIGS)])["appended"].result(10)

    resource = ConfigResource(ConfigResource.Type.TOPIC, "appended")
    described = admin.describe_configs([resource])[resource].result(10)
    for name, value in CONFIGS.items():
        assert described[name].value == value, name
        assert described[name].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert described["compression.zstd.level"].value == "3"

    before = int(time.time() * 1000)
    producer = Producer({"bootstrap.servers": shared_broker.bootstrap, "compression.type": "none"})
    for i in range(100):
        producer.produce(
            "appended", f"tweet {i} ".encode() * 10, key=b"k", timestamp=OLD_CREATE_TIME
        )
    assert producer.flush(10) == 0
    after = int(time.time() * 1000)

    messages = consume(shared_broker.bootstrap, "appended", 100)
    assert [m.value() for m in messages] == [f"tweet {i} ".encode() * 10 for i in range(100)]
    for message in messages:
        kind, stamp = message.timestamp()
        assert kind == TIMESTAMP_LOG_APPEND_TIME
        assert before <= stamp <= after
    assert stored_codecs(shared_broker, "appended") == {1}  # sent uncompressed, stored as gzip

    # kafka-python checks every batch's CRC (check_crcs=True): the rewritten ones pass.
    from kafka import KafkaConsumer, TopicPartition

    reader = KafkaConsumer(bootstrap_servers=shared_broker.bootstrap, check_crcs=True)
    reader.assign([TopicPartition("appended", 0)])
    reader.seek_to_beginning()
    records = []
    while len(records) < 100:
        batches = reader.poll(timeout_ms=10_000)
        assert batches, f"kafka-python read {len(records)} of 100"
        records += [r for rs in batches.values() for r in rs]
    reader.close()
    assert {(r.timestamp_type, before <= r.timestamp <= after) for r in records} == {(1, True)}


def test_a_codec_topic_recompresses_and_uncompressed_decompresses(shared_broker):
    admin = AdminClient({"bootstrap.servers": shared_broker.bootstrap})
    topics = [
        NewTopic("as-lz4", 1, 1, config={"compression.type": "lz4"}),
        NewTopic("as-plain", 1, 1, config={"compression.type": "uncompressed"}),
        NewTopic("as-sent", 1, 1),
    ]
    for future in admin.create_topics(topics).values():
        future.result(10)
    payloads = [f"value {i} ".encode() * 30 for i in range(200)]
    producer = Producer(
        {"bootstrap.servers": shared_broker.bootstrap, "compression.type": "gzip", "linger.ms": 20}
    )
    for topic in ("as-lz4", "as-plain", "as-sent"):
        for payload in payloads:
            producer.produce(topic, payload, timestamp=OLD_CREATE_TIME)
    assert producer.flush(10) == 0

    for topic, codec in (("as-lz4", 3), ("as-plain", 0), ("as-sent", 1)):
        messages = consume(shared_broker.bootstrap, topic, len(payloads))
        assert [m.value() for m in messages] == payloads
        assert {m.timestamp() for m in messages} == {(TIMESTAMP_CREATE_TIME, OLD_CREATE_TIME)}
        assert stored_codecs(shared_broker, topic) == {codec}, topic


def test_a_batch_that_grows_past_max_message_bytes_when_decompressed_is_refused(shared_broker):
    """Kafka checks the size again after recompressing; the bytes stored must fit too."""
    from confluent_kafka import KafkaError

    admin = AdminClient({"bootstrap.servers": shared_broker.bootstrap})
    config = {"compression.type": "uncompressed", "max.message.bytes": "4000"}
    admin.create_topics([NewTopic("small", 1, 1, config=config)])["small"].result(10)
    errors = []
    producer = Producer(
        {"bootstrap.servers": shared_broker.bootstrap, "compression.type": "gzip", "linger.ms": 50}
    )
    # Each record alone is over 4000 bytes plain and far under it as gzip, so however
    # librdkafka splits them into batches, every batch grows past the limit when decompressed.
    for _ in range(10):
        producer.produce("small", b"x" * 5000, on_delivery=lambda err, _: errors.append(err))
    assert producer.flush(10) == 0
    assert {err.code() if err else None for err in errors} == {KafkaError.MSG_SIZE_TOO_LARGE}
    assert (shared_broker.data_dir / "small-0" / f"{0:020d}.log").stat().st_size == 0
