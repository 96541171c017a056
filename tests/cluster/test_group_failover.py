"""G2, short: a confluent-kafka consumer group on three brokers (a controller of its own)
commits offsets; the broker coordinating the group is SIGKILLed; the group finds the new
coordinator (the new leader of its ``__consumer_offsets`` partition), every committed offset
is still there, the member commits again, and a new member resumes exactly where the group
left off."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, TopicPartition
from kio.schema.errors import ErrorCode

from broker.groups.store import partition_for
from tests.support.confluent import produce
from tests.support.waiting import eventually
from tests.support.wire import WireClient

pytestmark = pytest.mark.cluster

TOPIC = "events"
PARTITIONS = 3
GROUP = "g2"
OFFSETS_PARTITIONS = 6  # led by different brokers: each coordinates some of them


def coordinator(port: int) -> int:
    """The coordinator of ``GROUP`` as the broker at ``port`` names it (-1: none yet)."""
    with WireClient(port, timeout=5.0) as client:
        answer = client.request(10, 3, {"key": GROUP, "key_type": 0})
    return int(answer.node_id) if answer.error_code == ErrorCode.none else -1


def member(bootstrap: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": GROUP,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([TOPIC])
    return consumer


def consume(consumer: Consumer, count: int) -> list[tuple[int, int]]:
    """``count`` records as (partition, offset), polling for at most 60 s."""
    got: list[tuple[int, int]] = []

    def enough() -> bool:
        message = consumer.poll(0.5)
        if message is not None and message.error() is None:
            got.append((message.partition(), message.offset()))
        return len(got) >= count

    eventually(enough, f"{count} records consumed", timeout=60)
    return got


def committed(consumer: Consumer) -> dict[int, int]:
    """The group's committed offsets, of the partitions that have one."""
    wanted = [TopicPartition(TOPIC, p) for p in range(PARTITIONS)]
    found = consumer.committed(wanted, timeout=30)
    return {tp.partition: tp.offset for tp in found if tp.offset >= 0}


def next_offsets(records: list[tuple[int, int]]) -> dict[int, int]:
    """What a consumer that read ``records`` commits: the next offset of each partition."""
    ends: dict[int, int] = {}
    for partition, offset in records:
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    return ends


def test_committed_offsets_survive_the_coordinators_broker_being_killed(cluster_factory):
    cluster = cluster_factory(
        brokers=3, controllers=1, config={"offsets.topic.num.partitions": str(OFFSETS_PARTITIONS)}
    )
    cluster.create_topic(TOPIC, partitions=PARTITIONS, replication=3)
    produce(cluster.bootstrap, TOPIC, [(f"k{i}".encode(), b"v") for i in range(60)])

    first = member(cluster.bootstrap)
    try:
        seen = consume(first, 30)
        first.commit(asynchronous=False)
        before = committed(first)
        assert before == next_offsets(seen)
        victim = coordinator(cluster.node(0).port)
        assert victim == cluster.leader(
            "__consumer_offsets", partition_for(GROUP, OFFSETS_PARTITIONS)
        )

        # Any other broker refuses the group as Kafka's do, on every version's shape.
        other = next(node for node in cluster.brokers if node.node_id != victim)
        with WireClient(other.port) as client:
            batched = client.request(
                9, 8, {"groups": [{"group_id": GROUP, "topics": None}], "require_stable": False}
            )
            single = client.request(9, 3, {"group_id": GROUP, "topics": None})
            heartbeat = {"group_id": GROUP, "generation_id": 1, "member_id": "m"}
            beat = client.request(12, 3, {**heartbeat, "group_instance_id": None})
        assert (batched.groups[0].error_code, batched.groups[0].topics) == (
            ErrorCode.not_coordinator,
            (),
        )
        assert (single.error_code, single.topics) == (ErrorCode.not_coordinator, ())
        assert beat.error_code == ErrorCode.not_coordinator

        cluster.kill(victim)
        alive = [node for node in cluster.brokers if node.node_id != victim]
        heir = (
            eventually(
                lambda: (found := coordinator(alive[0].port)) not in (-1, victim) and found + 1,
                "a new coordinator named",
                timeout=30,
            )
            - 1
        )
        assert heir in {node.node_id for node in alive}

        # The member finds the new coordinator by itself and reads back what it committed.
        assert committed(first) == before  # librdkafka retries until the heir answers
        seen += consume(first, 10)
        first.commit(asynchronous=False)
        after = committed(first)
        assert after == next_offsets(seen) != before
    finally:
        first.close()

    # A new member of the group resumes at the committed offsets: nothing read again.
    second = member(",".join(node.bootstrap for node in alive))
    try:
        resumed = consume(second, 60 - len(seen))
    finally:
        second.close()
    assert all(offset >= after.get(partition, 0) for partition, offset in resumed)
    assert sorted(seen + resumed) == sorted(set(seen + resumed))  # no record twice
    assert len(set(seen + resumed)) == 60
