"""Incremental fetch sessions (KIP-227) with a real client: kafka-python 3.0 opens one with its
first fetch and then sends only the partitions whose position moved. (librdkafka fetches
sessionless, epoch -1, as before: every confluent-kafka and kcat test reads through it.)"""

from __future__ import annotations

import threading
import time

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from tests.support.messages import Delivered, assert_read_back_exactly, keyed_messages

pytestmark = pytest.mark.compat

PARTITIONS = 4
COUNT = 3000


def produce_slowly(bootstrap: str, delivered: list[Delivered], failed: list[BaseException]):
    """Produce COUNT keyed messages in small bursts, so the consumer reads while they come."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=2)
    try:
        messages = keyed_messages(COUNT)
        for start in range(0, COUNT, 100):
            sent = [(k, v, producer.send("fs", key=k, value=v)) for k, v in messages[start:][:100]]
            producer.flush(10)
            for key, value, future in sent:
                meta = future.get(timeout=10)
                delivered.append(Delivered(meta.partition, meta.offset, key, value))
            time.sleep(0.02)
    except BaseException as err:  # the test thread reports it
        failed.append(err)
    finally:
        producer.close()


def test_kafka_python_consumes_through_a_session_while_producing(broker) -> None:
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.create_topics([NewTopic("fs", num_partitions=PARTITIONS, replication_factor=1)])
    finally:
        admin.close()
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )
    consumer.assign([TopicPartition("fs", p) for p in range(PARTITIONS)])
    delivered: list[Delivered] = []
    failed: list[BaseException] = []
    producing = threading.Thread(target=produce_slowly, args=(broker.bootstrap, delivered, failed))
    producing.start()
    consumed: list[Delivered] = []
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline and (producing.is_alive() or len(consumed) < COUNT):
            for records in consumer.poll(timeout_ms=200).values():
                consumed += [Delivered(r.partition, r.offset, r.key, r.value) for r in records]
        # the session the broker opened, as kafka-python's own handler holds it
        (handler,) = consumer._fetcher._session_handlers.values()
        session = handler.next_metadata
    finally:
        producing.join()
        consumer.close()
    assert not failed
    assert_read_back_exactly(delivered, consumed)
    assert session.session_id != 0, "the broker opened no fetch session"
    assert session.epoch > 10, "the fetches did not go on incrementally in that session"
