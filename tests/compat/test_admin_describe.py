"""confluent-kafka's describe calls: authorized operations and the broker's own settings;
and its leader elections on a single node."""

from __future__ import annotations

import pytest
from confluent_kafka import ElectionType, KafkaError, TopicCollection, TopicPartition
from confluent_kafka.admin import AclOperation, AdminClient, ConfigResource, ConfigSource, NewTopic

pytestmark = pytest.mark.compat

# What Kafka answers with no authorizer: every operation its ACLs know for the resource type.
TOPIC_OPERATIONS = {
    AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DELETE,
    AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.DESCRIBE_CONFIGS,
    AclOperation.ALTER_CONFIGS,
}  # fmt: skip
CLUSTER_OPERATIONS = {
    AclOperation.CREATE, AclOperation.ALTER, AclOperation.DESCRIBE, AclOperation.CLUSTER_ACTION,
    AclOperation.DESCRIBE_CONFIGS, AclOperation.ALTER_CONFIGS, AclOperation.IDEMPOTENT_WRITE,
}  # fmt: skip


def test_describe_topics_and_cluster_answer_every_operation_allowed(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("described", 2, 1)])["described"].result(timeout=10)

    topics = admin.describe_topics(
        TopicCollection(["described"]), include_authorized_operations=True
    )
    topic = topics["described"].result(timeout=10)
    assert set(topic.authorized_operations) == TOPIC_OPERATIONS
    assert len(topic.partitions) == 2

    cluster = admin.describe_cluster(include_authorized_operations=True).result(timeout=10)
    assert set(cluster.authorized_operations) == CLUSTER_OPERATIONS

    # Not asked for, they stay omitted, as Kafka leaves them.
    plain = admin.describe_topics(TopicCollection(["described"]))["described"].result(timeout=10)
    assert plain.authorized_operations is None


def test_describe_broker_configs_lists_every_setting_with_its_source(broker_factory):
    broker = broker_factory(config={"num.partitions": "3"})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    resource = ConfigResource(ConfigResource.Type.BROKER, "0")
    configs = admin.describe_configs([resource])[resource].result(timeout=10)

    advertised = configs["advertised.listeners"]
    assert advertised.value == f"PLAINTEXT://{broker.bootstrap}"
    assert advertised.source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["listeners"].value == f"PLAINTEXT://{broker.bootstrap}"
    assert configs["listeners"].source == ConfigSource.STATIC_BROKER_CONFIG.value
    assert configs["num.partitions"].value == "3"
    assert configs["num.partitions"].source == ConfigSource.STATIC_BROKER_CONFIG.value
    assert configs["log.retention.ms"].value == str(7 * 24 * 3600 * 1000)
    assert configs["log.retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value


def test_elect_leaders_on_one_node_says_no_election_is_needed(broker):
    """Every replica of a single node is the node itself, its preferred leader already."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("elected", 2, 1)])["elected"].result(timeout=10)
    asked = [TopicPartition("elected", 0), TopicPartition("elected", 5)]
    for kind in (ElectionType.PREFERRED, ElectionType.UNCLEAN):
        results = admin.elect_leaders(kind, asked).result(timeout=10)
        codes = {tp.partition: error.code() for tp, error in results.items()}
        assert codes == {
            0: KafkaError.ELECTION_NOT_NEEDED,
            5: KafkaError.UNKNOWN_TOPIC_OR_PART,
        }
