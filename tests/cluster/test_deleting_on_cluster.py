"""DeleteRecords and OffsetDelete on a 3-broker cluster, with the real clients.

confluent-kafka's ``delete_records`` is answered once every ISR member's log starts at the new
offset: the segments below it are gone from each replica's disk, and when the leader is
killed its successor's earliest offset is the new start. kafka-python's
``delete_group_offsets`` writes tombstones to ``__consumer_offsets``: after the coordinator is
killed, the new coordinator has the deleted offsets gone and the others kept."""

from __future__ import annotations

import pytest
from confluent_kafka import Consumer, ElectionType, TopicPartition
from confluent_kafka.admin import AdminClient
from kafka import KafkaAdminClient
from kafka import TopicPartition as KafkaTopicPartition
from kafka.errors import NoError

from tests.support.confluent import produce, watermarks
from tests.support.messages import keyed_messages
from tests.support.waiting import eventually

pytestmark = pytest.mark.cluster

TOPIC = "trimmed"
GROUP = "trimmers"


def segment_bases(cluster, node_id: int) -> list[int]:
    directory = cluster.node(node_id).data_dir / f"{TOPIC}-0"
    return sorted(int(path.stem) for path in directory.glob("*.log"))


def test_deleted_records_are_gone_from_every_replica_and_stay_gone(cluster_factory):
    cluster = cluster_factory(brokers=3)
    # Node 1 leads (node 0 is the controller, and lives through the test).
    cluster.create_topic(TOPIC, assignment=[[1, 2, 0]], **{"segment.bytes": "2048"})
    produce(cluster.bootstrap, TOPIC, keyed_messages(200), **{"linger.ms": 0, "batch.size": 200})
    eventually(lambda: len(cluster.isr(TOPIC, 0)) == 3, "every replica in the ISR")
    assert all(len(segment_bases(cluster, n)) > 4 for n in range(3))

    admin = AdminClient({"bootstrap.servers": cluster.bootstrap})
    futures = admin.delete_records([TopicPartition(TOPIC, 0, 120)], operation_timeout=20)
    (deleted,) = [future.result(timeout=30) for future in futures.values()]
    assert deleted.low_watermark == 120
    # Answered once each ISR member's log starts there, the segments below going with it (a
    # follower that fell out of the ISR meanwhile under load is not waited for: it catches up).
    for node in range(3):
        eventually(
            lambda n=node: (bases := segment_bases(cluster, n))[0] <= 120 < [*bases, 200][1],
            f"node {node} keeps only the segments from the one holding offset 120",
        )

    cluster.kill(1)
    new_leader = cluster.wait_for_leader(TOPIC, 0, not_=1)
    assert watermarks(cluster.bootstrap, TOPIC, 1) == [(120, 200)]
    reader = Consumer(
        {"bootstrap.servers": cluster.bootstrap, "group.id": "r", "auto.offset.reset": "earliest"}
    )
    reader.assign([TopicPartition(TOPIC, 0, 3)])  # below the start: out of range, reset
    try:
        msg = reader.poll(20)
        assert msg is not None and msg.error() is None and msg.offset() == 120
    finally:
        reader.close()

    # The killed leader comes back, takes its preferred leadership again and starts at 120.
    cluster.start_node(1)
    eventually(lambda: 1 in cluster.isr(TOPIC, 0), "node 1 back in the ISR")
    elected = admin.elect_leaders(ElectionType.PREFERRED, [TopicPartition(TOPIC, 0)])
    elected.result(timeout=30)
    assert cluster.wait_for_leader(TOPIC, 0, not_=new_leader) == 1
    assert watermarks(cluster.bootstrap, TOPIC, 1) == [(120, 200)]


def committed(bootstrap: str, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP})
    try:
        found = consumer.committed([TopicPartition(t, p) for t, p in keys], timeout=30)
    finally:
        consumer.close()
    return {(tp.topic, tp.partition): tp.offset for tp in found}


def test_deleted_offsets_stay_deleted_after_the_coordinator_dies(cluster_factory):
    cluster = cluster_factory(brokers=3, dedicated_controllers=True)
    cluster.create_topic(TOPIC, partitions=2)
    bootstrap = cluster.bootstrap
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": GROUP})
    offsets = [TopicPartition(TOPIC, 0, 5), TopicPartition(TOPIC, 1, 6)]
    consumer.commit(offsets=offsets, asynchronous=False)
    consumer.close()
    keys = [(TOPIC, 0), (TOPIC, 1)]
    assert committed(bootstrap, keys) == {(TOPIC, 0): 5, (TOPIC, 1): 6}

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        answer = admin.delete_group_offsets(GROUP, [KafkaTopicPartition(TOPIC, 0)])
    finally:
        admin.close()
    assert list(answer.values()) == [NoError]
    assert committed(bootstrap, keys) == {(TOPIC, 0): -1001, (TOPIC, 1): 6}

    coordinator = cluster.leader("__consumer_offsets", 0)  # the one partition of the topic
    eventually(lambda: len(cluster.isr("__consumer_offsets", 0)) == 3, "offsets fully replicated")
    cluster.kill(coordinator)
    cluster.wait_for_leader("__consumer_offsets", 0, not_=coordinator)
    assert committed(bootstrap, keys) == {(TOPIC, 0): -1001, (TOPIC, 1): 6}
