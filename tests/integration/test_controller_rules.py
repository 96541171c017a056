"""The single node decides topic changes and producer ids with the controller's own rules
(``broker.controller.topics`` and ``producer_ids``), so clients get Kafka's answers for
requests the node used to accept as it liked."""

from __future__ import annotations

import datetime

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic
from kio.schema.errors import ErrorCode

from tests.support.wire import WireClient

CREATE_TOPICS, INIT_PRODUCER_ID, CREATE_PARTITIONS = 19, 22, 37


def test_create_topics_refuses_assignments_with_a_gap(broker):
    """Partitions 0 and 2 but no 1: Kafka refuses the assignment; the node used to make a
    topic of two partitions."""
    gap = [{"partition_index": p, "broker_ids": [0]} for p in (0, 2)]
    topic = {"name": "gappy", "num_partitions": -1, "replication_factor": -1}
    body = {
        "topics": [topic | {"assignments": gap, "configs": []}],
        "timeout": datetime.timedelta(seconds=10),
        "validate_only": False,
    }
    with WireClient(broker.port) as client:
        answer = client.request(CREATE_TOPICS, 5, body).topics[0]
    assert answer.error_code == ErrorCode.invalid_replica_assignment
    assert "consecutive" in answer.error_message
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    assert "gappy" not in admin.list_topics(timeout=10).topics


def test_create_partitions_refuses_too_few_assignments(broker):
    """Two new partitions with one assignment: Kafka refuses; the node used to ignore the
    assignments and add both."""
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("growing", 1, 1)])["growing"].result(10)
    future = admin.create_partitions([NewPartitions("growing", 3, [[0]])])["growing"]
    with pytest.raises(KafkaException) as refused:
        future.result(10)
    assert refused.value.args[0].code() == ErrorCode.invalid_replica_assignment
    assert len(admin.list_topics(timeout=10).topics["growing"].partitions) == 1


def _new_producer_id(port: int) -> int:
    body = {
        "transactional_id": None,
        "transaction_timeout": 60_000,
        "producer_id": -1,
        "producer_epoch": -1,
    }
    with WireClient(port) as client:
        answer = client.request(INIT_PRODUCER_ID, 4, body)
    assert answer.error_code == 0
    return answer.producer_id


def test_producer_ids_come_from_a_stored_block(broker):
    """The node takes a block of 1000 ids from the controller, as a Kafka broker does, and
    a restart starts from the next block: an id is never handed out twice."""
    first, second = _new_producer_id(broker.port), _new_producer_id(broker.port)
    assert second == first + 1
    broker.restart()
    assert _new_producer_id(broker.port) == first + 1000


def test_a_refused_topic_is_answered_on_create_topics_v5(broker):
    """CreateTopics v5+ answers carry configs even for a refused topic; without them the
    answer could not be encoded and the connection was closed instead."""
    topic = {"name": "twice", "num_partitions": 1, "replication_factor": 1}
    body = {
        "topics": [topic | {"assignments": [], "configs": []}],
        "timeout": datetime.timedelta(seconds=10),
        "validate_only": False,
    }
    with WireClient(broker.port) as client:
        assert client.request(CREATE_TOPICS, 5, body).topics[0].error_code == ErrorCode.none
        again = client.request(CREATE_TOPICS, 5, body).topics[0]
    assert again.error_code == ErrorCode.topic_already_exists


def test_a_name_asked_for_twice_in_one_request_is_refused_for_both(broker):
    """Kafka answers INVALID_REQUEST for each copy and creates neither; the node used to
    create the first and refuse the second as existing."""
    topic = {"name": "twice", "num_partitions": 1, "replication_factor": 1, "assignments": []}
    once = {"name": "once", "num_partitions": 1, "replication_factor": 1, "assignments": []}
    body = {
        "topics": [topic | {"configs": []}, topic | {"configs": []}, once | {"configs": []}],
        "timeout": datetime.timedelta(seconds=10),
        "validate_only": False,
    }
    with WireClient(broker.port) as client:
        answers = client.request(CREATE_TOPICS, 5, body).topics
    assert [(a.name, a.error_code) for a in answers] == [
        ("twice", ErrorCode.invalid_request),
        ("twice", ErrorCode.invalid_request),
        ("once", ErrorCode.none),
    ]
    assert answers[0].error_message == "Duplicate topic name."
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    topics = admin.list_topics(timeout=10).topics
    assert "twice" not in topics and "once" in topics

    increase = {
        "topics": [{"name": "once", "count": 2, "assignments": None}] * 2,
        "timeout": datetime.timedelta(seconds=10),
        "validate_only": False,
    }
    with WireClient(broker.port) as client:
        results = client.request(CREATE_PARTITIONS, 2, increase).results
    assert [(r.name, r.error_code) for r in results] == [("once", ErrorCode.invalid_request)] * 2
    assert len(admin.list_topics(timeout=10).topics["once"].partitions) == 1
