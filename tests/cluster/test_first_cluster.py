"""A first cluster end to end, with confluent-kafka (librdkafka): three nodes, node 0 the
single controller (combined), nodes 1 and 2 brokers. A RF=3 topic created through broker 1 is
seen with its leaders, replicas and ISR from every broker; ``describe_cluster()`` names the
brokers and the controller everywhere; every broker names the same group coordinator; acks=all
writes through each single broker reach the leaders."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from kio.schema.errors import ErrorCode

from tests.support.confluent import produce
from tests.support.waiting import eventually
from tests.support.wire import WireClient

pytestmark = pytest.mark.cluster

TOPIC = "rf3"
PARTITIONS = 3


def test_a_topic_created_through_one_broker_is_served_by_every_broker(cluster_factory):
    cluster = cluster_factory(brokers=3, controllers=1, dedicated_controllers=False)
    one = cluster.node(1).bootstrap
    admin = AdminClient({"bootstrap.servers": one})
    created = admin.create_topics([NewTopic(TOPIC, PARTITIONS, 3)], operation_timeout=30)
    created[TOPIC].result(timeout=30)

    for node in cluster.nodes:
        each = AdminClient({"bootstrap.servers": node.bootstrap})

        def shown(each=each):
            topic = each.list_topics(TOPIC, timeout=10).topics[TOPIC]
            return topic if topic.error is None else None

        # Another broker learns of the topic from the metadata log a moment later.
        topic = eventually(shown, f"{TOPIC} shown by node {node.node_id}", timeout=10)
        assert sorted(topic.partitions) == list(range(PARTITIONS))
        for partition in topic.partitions.values():
            assert sorted(partition.replicas) == [0, 1, 2]
            assert sorted(partition.isrs) == [0, 1, 2]
            assert partition.leader in (0, 1, 2)
        described = each.describe_cluster().result(timeout=10)
        assert sorted(b.id for b in described.nodes) == [0, 1, 2]
        assert described.controller.id == 0

    # Every broker names the same coordinator for a group: the leader of its offsets partition.
    coordinators = set()
    for node in cluster.nodes:
        with WireClient(node.port) as client:
            answer = client.request(10, 3, {"key": "g", "key_type": 0})
        assert answer.error_code == ErrorCode.none
        coordinators.add((answer.node_id, answer.port))
    leader = cluster.leader("__consumer_offsets", 0)
    assert coordinators == {(leader, cluster.node(leader).port)}

    messages = [(f"k{i}".encode(), f"v{i}".encode()) for i in range(30)]
    delivered = []
    for k, node in enumerate(cluster.nodes):
        delivered += produce(
            node.bootstrap, TOPIC, messages[k * 10 : (k + 1) * 10], **{"enable.idempotence": True}
        )
    assert sorted(d.value for d in delivered) == sorted(v for _, v in messages)
