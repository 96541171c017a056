"""DescribeCluster and Metadata's broker list: the brokers come from the metadata image, where
the node registers itself at start, and the controller is the active one (this node)."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import AdminClient
from kafka.admin import KafkaAdminClient
from kio.schema.errors import ErrorCode

from tests.support.wire import WireClient

pytestmark = pytest.mark.compat

DESCRIBE_CLUSTER = 60
CLUSTER_OPERATIONS_BITS = sum(1 << code for code in (5, 7, 8, 9, 10, 11, 12))
OMITTED = -(2**31)


def test_confluent_describe_cluster_names_this_node_as_broker_and_controller(broker_factory):
    broker = broker_factory(config={"node.id": "3"})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    cluster = admin.describe_cluster(include_authorized_operations=True).result(timeout=10)
    assert [(n.id, n.host, n.port) for n in cluster.nodes] == [(3, "127.0.0.1", broker.port)]
    assert cluster.controller.id == 3
    assert cluster.cluster_id and cluster.authorized_operations


def test_kafka_python_describe_cluster_is_answered_by_describe_cluster(broker_factory):
    broker = broker_factory(config={"node.id": "2"})
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        cluster = admin.describe_cluster()
    finally:
        admin.close()
    # v2's is_fenced is only in a DescribeCluster answer (not in the Metadata fallback).
    assert [(b["broker_id"], b["host"], b["port"], b["is_fenced"]) for b in cluster["brokers"]] == [
        (2, "127.0.0.1", broker.port, False)
    ]
    assert cluster["controller_id"] == 2
    assert cluster["cluster_id"]


def test_every_describe_cluster_version_answers_from_the_image(shared_broker):
    with WireClient(shared_broker.port) as client:
        versions = client.request(
            18, 3, {"client_software_name": "t", "client_software_version": "1"}
        )
        advertised = {k.api_key: (k.min_version, k.max_version) for k in versions.api_keys}
        assert advertised[DESCRIBE_CLUSTER] == (0, 2)
        metadata = client.request(
            3,
            12,
            {"topics": [], "allow_auto_topic_creation": False,
             "include_topic_authorized_operations": False},
        )  # fmt: skip
        assert [(b.node_id, b.port) for b in metadata.brokers] == [(0, shared_broker.port)]
        assert metadata.controller_id == 0
        for version in (0, 1, 2):
            for asked in (False, True):
                asking = {"include_cluster_authorized_operations": asked,
                          "include_fenced_brokers": asked}  # fmt: skip
                answer = client.request(DESCRIBE_CLUSTER, version, asking)
                assert answer.error_code == ErrorCode.none
                assert answer.cluster_id == metadata.cluster_id
                assert answer.controller_id == 0
                assert [(b.broker_id, b.host, b.port) for b in answer.brokers] == [
                    (0, "127.0.0.1", shared_broker.port)
                ]
                expected = CLUSTER_OPERATIONS_BITS if asked else OMITTED
                assert answer.cluster_authorized_operations == expected
        assert answer.endpoint_type == 1  # brokers, as a broker listener answers


def test_asking_a_broker_for_controllers_is_an_unsupported_endpoint_type(shared_broker):
    with WireClient(shared_broker.port) as client:
        answer = client.request(
            DESCRIBE_CLUSTER,
            1,
            {"include_cluster_authorized_operations": False, "endpoint_type": 2},
        )
    assert answer.error_code == ErrorCode.unsupported_endpoint_type
    assert answer.error_message and not answer.brokers


def test_a_restart_registers_the_node_anew_and_keeps_every_leader_epoch(broker):
    def leader_epochs(client: WireClient) -> list[tuple[int, int, int]]:
        topic = client.metadata("tweets").topics[0]
        return sorted((p.partition_index, p.leader_id, p.leader_epoch) for p in topic.partitions)

    with WireClient(broker.port) as client:
        before = leader_epochs(client)  # auto-created
    broker.restart()
    with WireClient(broker.port) as client:
        assert leader_epochs(client) == before
        cluster = client.request(
            DESCRIBE_CLUSTER, 0, {"include_cluster_authorized_operations": False}
        )
    assert [(b.broker_id, b.port) for b in cluster.brokers] == [(0, broker.port)]
