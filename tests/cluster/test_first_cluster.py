"""A first cluster end to end, with confluent-kafka (librdkafka): three nodes, node 0 the
single controller (combined), nodes 1 and 2 brokers. A RF=3 topic created through broker 1 is
seen with its leaders, replicas and ISR from every broker; ``describe_cluster()`` names the
brokers and the controller everywhere; every broker names the same group coordinator; acks=all
writes through each single broker reach the leaders and are consumed."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from kio.schema.errors import ErrorCode

from tests.support.confluent import consume_assigned, produce
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
    consumed = consume_assigned(cluster.node(2).bootstrap, TOPIC, PARTITIONS, len(messages))
    assert sorted((c.partition, c.offset, c.value) for c in consumed) == sorted(
        (d.partition, d.offset, d.value) for d in delivered
    )


def _metadata(node, topic: str):
    with WireClient(node.port) as client:
        return client.request(
            3,
            12,
            {
                "topics": [{"name": topic, "topic_id": None}],
                "allow_auto_topic_creation": False,
                "include_topic_authorized_operations": False,
            },
        )


def test_admin_requests_to_a_broker_are_forwarded_and_shown_by_it_at_once(cluster_factory):
    """CreateTopics (with a replica assignment and a config), CreatePartitions and
    DeleteTopics sent to a broker that is not the controller (the controller is a node of its
    own) answer once that broker's own image shows the change."""
    cluster = cluster_factory(brokers=3, controllers=1, dedicated_controllers=True)
    broker = cluster.node(2)
    with WireClient(broker.port) as client:
        created = client.request(
            19,
            7,
            {
                "topics": [
                    {
                        "name": "grow",
                        "num_partitions": -1,
                        "replication_factor": -1,
                        "assignments": [{"partition_index": 0, "broker_ids": [1, 0]}],
                        "configs": [{"name": "retention.ms", "value": "60000"}],
                    }
                ],
                "timeout": 30_000,
                "validate_only": False,
            },
        )
    (answer,) = created.topics
    assert (answer.error_code, answer.num_partitions, answer.replication_factor) == (
        ErrorCode.none, 1, 2,
    )  # fmt: skip
    assert {(c.name, c.value) for c in answer.configs} >= {("retention.ms", "60000")}
    (topic,) = _metadata(broker, "grow").topics
    assert [(tuple(p.replica_nodes), p.leader_id) for p in topic.partitions] == [((1, 0), 1)]
    with WireClient(broker.port) as client:
        grown = client.request(
            37,
            3,
            {"topics": [{"name": "grow", "count": 4, "assignments": None}],
             "timeout": 30_000, "validate_only": False},
        )  # fmt: skip
    assert [r.error_code for r in grown.results] == [ErrorCode.none]
    (topic,) = _metadata(broker, "grow").topics
    assert sorted(p.partition_index for p in topic.partitions) == [0, 1, 2, 3]

    with WireClient(cluster.node(1).port) as client:
        deleted = client.request(
            20, 6, {"topics": [{"name": "grow", "topic_id": None}], "timeout": 30_000}
        )
    assert [r.error_code for r in deleted.responses] == [ErrorCode.none]
    (gone,) = _metadata(cluster.node(1), "grow").topics
    assert gone.error_code == ErrorCode.unknown_topic_or_partition


def test_sigterm_is_a_controlled_shutdown(cluster_factory):
    """A broker stopped with SIGTERM asks the controller to move its leaderships first, and
    exits only once every other broker has seen them move (not a session timeout later). The
    controller is a node of its own, so that any broker may stop."""
    cluster = cluster_factory(
        brokers=3,
        controllers=1,
        config={"broker.session.timeout.ms": "30000"},
        dedicated_controllers=True,
    )
    cluster.create_topic("led", partitions=3, replication=3)
    leaders = {cluster.leader("led", p) for p in range(3)}
    stopping = min(leaders)
    assert cluster.terminate(stopping) == 0
    for node in cluster.brokers:
        if node.node_id == stopping:
            continue
        answer = _metadata(node, "led")
        assert all(p.leader_id not in (stopping, -1) for p in answer.topics[0].partitions)
        # Fenced as it stopped (committed before its last answer), long before its lease ends.
        eventually(
            lambda node=node: stopping not in {b.node_id for b in _metadata(node, "led").brokers},
            f"node {node.node_id} no longer lists broker {stopping}",
            timeout=5,
        )
    assert "controlled shutdown: the controller moved" in cluster.node(stopping).read_log()


def test_a_broker_serves_before_the_offsets_topic_can_be_placed(cluster_factory):
    """With fewer brokers than offsets.topic.replication.factor, the offsets topic cannot be
    created yet: the broker serves anyway and FindCoordinator answers
    COORDINATOR_NOT_AVAILABLE (retriable), as Kafka's brokers do."""
    cluster = cluster_factory(
        brokers=1, controllers=1, config={"offsets.topic.replication.factor": "3"}
    )
    with WireClient(cluster.node(0).port) as client:
        answer = client.request(10, 3, {"key": "g", "key_type": 0})
    assert answer.error_code == ErrorCode.coordinator_not_available
    cluster.create_topic("solo", partitions=1, replication=1)
    assert len(produce(cluster.bootstrap, "solo", [(b"k", b"v")])) == 1
