"""The key's journey (dashboard.key_journey) places keys where the real clients do: 10,000
random keys produced to a real broker by confluent-kafka (``partitioner=murmur2_random``) and
by kafka-python (its default partitioner), each record's partition read back from the
consume side and compared with the page's partition for its key."""

from __future__ import annotations

import random

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaProducer

from dashboard.key_journey import journey
from tests.support.confluent import consume_assigned, produce

pytestmark = pytest.mark.compat

PARTITIONS = 7
KEYS = 10_000
ALPHABET = "abcxyz0129 -_#@éßçøΩж中文🐦"


def random_keys(seed: int) -> list[str]:
    """Distinct non-empty keys of 1 to 24 characters, some of them several UTF-8 bytes each."""
    rng = random.Random(seed)
    keys: dict[str, None] = {}
    while len(keys) < KEYS:
        keys["".join(rng.choices(ALPHABET, k=rng.randint(1, 24)))] = None
    return list(keys)


def test_keys_land_on_the_partition_the_journey_shows(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    for topic in ("placed-by-librdkafka", "placed-by-kafka-python"):
        admin.create_topics([NewTopic(topic, PARTITIONS, 1)])[topic].result(timeout=10)
    keys = random_keys(19)
    expected = {key.encode(): journey(key, PARTITIONS).partition for key in keys}
    messages = [(key.encode(), b"") for key in keys]

    produce(broker.bootstrap, "placed-by-librdkafka", messages, partitioner="murmur2_random")
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)
    for key, value in messages:
        producer.send("placed-by-kafka-python", key=key, value=value)
    producer.flush(30)
    producer.close()

    for topic in ("placed-by-librdkafka", "placed-by-kafka-python"):
        read = consume_assigned(broker.bootstrap, topic, PARTITIONS, KEYS)
        placed = {record.key: record.partition for record in read}
        assert len(placed) == KEYS, topic
        wrong = {k: (p, expected[k]) for k, p in placed.items() if expected[k] != p}
        assert wrong == {}, f"{topic}: {len(wrong)} keys elsewhere, e.g. {list(wrong.items())[:3]}"
    assert len(set(expected.values())) == PARTITIONS
