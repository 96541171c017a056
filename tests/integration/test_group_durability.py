"""Committed offsets and group state survive a broker restart, clean or SIGKILL."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from tests.support.broker_process import KAFKA_OFFSETS_PARTITIONS
from tests.support.group_reads import committed_offsets


def _committed(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int]:
    asked = [(topic, p) for p in range(partitions)]
    return {p: offset for (_, p), offset in committed_offsets(bootstrap, group, asked).items()}


@pytest.mark.parametrize("clean", [True, False], ids=["sigterm", "sigkill"])
def test_committed_offsets_survive_restart(broker_factory, clean):
    broker = broker_factory(config=KAFKA_OFFSETS_PARTITIONS)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("kept", 3, 1)])["kept"].result(10)
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "durable"})
    commits = [TopicPartition("kept", p, 10 * (p + 1), metadata=f"m{p}") for p in range(3)]
    consumer.commit(offsets=commits, asynchronous=False)
    consumer.close()
    assert _committed(broker.bootstrap, "durable", "kept", 3) == {0: 10, 1: 20, 2: 30}

    broker.restart(clean=clean)

    assert _committed(broker.bootstrap, "durable", "kept", 3) == {0: 10, 1: 20, 2: 30}
    reader = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": "durable"})
    try:
        found = reader.committed([TopicPartition("kept", p) for p in range(3)], timeout=10)
        assert [tp.metadata for tp in found] == ["m0", "m1", "m2"]
    finally:
        reader.close()
