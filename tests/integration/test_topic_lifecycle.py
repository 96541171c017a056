"""Deleting, re-creating and naming topics as real clients do it (issue 12, items 2, 6, 11).

A deleted topic's committed offsets go with it; kafka-python's ``delete_topics`` (which sends
the all-zero topic id) works; Kafka's longest topic names work end to end, and a name equal
to an existing one after '.' -> '_' is refused as Kafka refuses it.
"""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka.admin import KafkaAdminClient
from kio.schema.errors import ErrorCode

from tests.support.confluent import consume_assigned, produce
from tests.support.wire import WireClient
from tests.support.workload import create_topic


def delete_topic(bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.delete_topics([topic], operation_timeout=10)[topic].result(10)


def read_as_group(bootstrap: str, topic: str, group: str, count: int) -> list[bytes]:
    """Subscribe as ``group`` (earliest when nothing is committed), read ``count`` values,
    commit them, and check nothing more arrives."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "topic.metadata.refresh.interval.ms": 1000,
        }
    )
    consumer.subscribe([topic])
    values: list[bytes] = []
    try:
        deadline = time.monotonic() + 30
        while len(values) < count and time.monotonic() < deadline:
            msg = consumer.poll(1)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            values.append(msg.value())
        extra = consumer.poll(1)
        assert extra is None or extra.error() is not None, "read more than was produced"
        if values:
            consumer.commit(asynchronous=False)
    finally:
        consumer.close()
    return values


def committed(bootstrap: str, topic: str, group: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        (position,) = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        return position.offset
    finally:
        consumer.close()


def test_a_recreated_topic_is_read_from_its_start_by_a_group_that_read_the_old_one(broker):
    bootstrap = broker.bootstrap
    create_topic(bootstrap, "reborn", 1)
    produce(bootstrap, "reborn", [(None, b"old-%d" % i) for i in range(10)])
    assert len(read_as_group(bootstrap, "reborn", "readers", 10)) == 10
    assert committed(bootstrap, "reborn", "readers") == 10

    delete_topic(bootstrap, "reborn")
    create_topic(bootstrap, "reborn", 1)
    new = [b"new-%d" % i for i in range(50)]
    produce(bootstrap, "reborn", [(None, value) for value in new])

    assert read_as_group(bootstrap, "reborn", "readers", 50) == new


def test_offsets_of_a_deleted_topic_stay_gone_after_a_restart(broker):
    bootstrap = broker.bootstrap
    create_topic(bootstrap, "brief", 1)
    produce(bootstrap, "brief", [(None, b"v")] * 3)
    read_as_group(bootstrap, "brief", "g", 3)
    delete_topic(bootstrap, "brief")
    broker.restart(clean=False)
    create_topic(bootstrap, "brief", 1)
    assert committed(bootstrap, "brief", "g") < 0  # nothing committed (OFFSET_INVALID)


def test_kafka_python_delete_topics_deletes_by_name(broker):
    create_topic(broker.bootstrap, "doomed", 2)
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.delete_topics(["doomed"], timeout_ms=10_000)
        assert "doomed" not in admin.list_topics()
    finally:
        admin.close()
    assert "AttributeError" not in broker.read_log()


@pytest.mark.parametrize("length", [214, 240, 249])
def test_the_longest_topic_names_kafka_allows_work(broker, length):
    topic = f"t{length}-" + "x" * (length - len(f"t{length}-"))
    bootstrap = broker.bootstrap
    create_topic(bootstrap, topic, 2)
    delivered = produce(bootstrap, topic, [(b"k%d" % i, b"v%d" % i) for i in range(20)])
    assert sorted(d.value for d in consume_assigned(bootstrap, topic, 2, 20)) == sorted(
        d.value for d in delivered
    )
    delete_topic(bootstrap, topic)
    create_topic(bootstrap, topic, 1)  # the name is free again
    assert not list(broker.data_dir.glob("*-delete"))


def test_a_name_that_collides_after_dots_become_underscores_is_refused(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    create_topic(broker.bootstrap, "metrics.cpu", 1)
    future = admin.create_topics([NewTopic("metrics_cpu", 1, 1)])["metrics_cpu"]
    with pytest.raises(Exception) as caught:
        future.result(10)
    error = caught.value.args[0]
    assert error.code() == KafkaError.TOPIC_EXCEPTION  # INVALID_TOPIC_EXCEPTION (17)
    assert "collides with existing topics: metrics.cpu" in error.str()
    assert "metrics_cpu" not in admin.list_topics(timeout=10).topics


def test_a_create_whose_client_goes_away_is_still_completed(broker_factory):
    broker = broker_factory(config={"offsets.topic.num.partitions": "1"})
    with WireClient(broker.port) as client:
        client.send_raw(
            client.encode(
                19,
                5,
                {
                    "topics": [
                        {
                            "name": "abandoned",
                            "num_partitions": 300,
                            "replication_factor": 1,
                            "assignments": [],
                            "configs": [],
                        }
                    ],
                    "timeout": 60_000,
                    "validate_only": False,
                },
            )
        )
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    deadline = time.monotonic() + 60
    while "abandoned" not in admin.list_topics(timeout=10).topics:
        assert time.monotonic() < deadline, "the topic was never created"
        time.sleep(0.2)
    assert not list(broker.data_dir.glob("abandoned-*.*"))  # no half-made directory
    assert len(admin.list_topics("abandoned", timeout=10).topics["abandoned"].partitions) == 300


def test_topic_ids_on_the_wire_treat_the_zero_id_as_no_id(broker):
    """Metadata v12 and DeleteTopics v6, as Kafka answers them: the all-zero id means "use
    the name", an unknown id is UNKNOWN_TOPIC_ID, neither name nor id is INVALID_REQUEST."""
    create_topic(broker.bootstrap, "by-id", 1)
    with WireClient(broker.port) as client:

        def metadata(name, topic_id):
            body = {
                "topics": [{"name": name, "topic_id": topic_id}],
                "allow_auto_topic_creation": False,
                "include_topic_authorized_operations": False,
            }
            (answer,) = client.request(3, 12, body).topics
            return answer

        by_name = metadata("by-id", None)
        assert (by_name.error_code, by_name.name) == (ErrorCode.none, "by-id")
        stranger = uuid.uuid4()
        unknown = metadata(None, stranger)
        assert (unknown.error_code, unknown.topic_id) == (ErrorCode.unknown_topic_id, stranger)

        def delete(name, topic_id):
            body = {"topics": [{"name": name, "topic_id": topic_id}], "timeout": 10_000}
            (answer,) = client.request(20, 6, body).responses
            return answer

        assert delete(None, None).error_code == ErrorCode.invalid_request
        assert delete(None, stranger).error_code == ErrorCode.unknown_topic_id
        deleted = delete(None, by_name.topic_id)
        assert (deleted.error_code, deleted.name) == (ErrorCode.none, "by-id")
