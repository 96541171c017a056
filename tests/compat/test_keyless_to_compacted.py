"""A record without a key to a compacted topic: INVALID_RECORD with KIP-467's record_errors
naming each such record of the batch, nothing of the batch appended, as Kafka answers."""

from __future__ import annotations

from confluent_kafka import KafkaError, Producer
from kio.schema.errors import ErrorCode

from broker.protocol.records import build_batch
from tests.support.wire import WireClient
from tests.support.workload import create_topic

WHY = "Compacted topic cannot accept message without key in topic partition latest-0."


def test_the_answer_names_every_keyless_record_and_nothing_is_appended(broker):
    create_topic(broker.bootstrap, "latest", 1, **{"cleanup.policy": "compact"})
    mixed = build_batch([(b"a", b"1"), (None, b"2"), (b"b", b"3"), (None, b"4")], 1_000)
    with WireClient(broker.port) as client:
        answer = client.produce("latest", mixed)
        assert answer.error_code == ErrorCode.invalid_record
        errors = [(e.batch_index, e.batch_index_error_message) for e in answer.record_errors]
        assert errors == [(1, WHY), (3, WHY)]
        assert answer.error_message.startswith(
            "One or more records have been rejected due to 2 record errors in total"
        )
        assert client.latest_offset("latest") == 0, "part of a rejected batch was appended"
        keyed = client.produce("latest", build_batch([(b"a", b"1")], 1_000))
        assert keyed.error_code == ErrorCode.none and keyed.base_offset == 0


def test_confluent_kafka_reports_invalid_record_for_a_keyless_message(broker):
    create_topic(broker.bootstrap, "latest", 1, **{"cleanup.policy": "compact,delete"})
    create_topic(broker.bootstrap, "plain", 1)
    reports: dict[str, KafkaError | None] = {}
    producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all"})
    for topic in ("latest", "plain"):
        producer.produce(
            topic, b"no key", on_delivery=lambda err, msg: reports.__setitem__(msg.topic(), err)
        )
    assert producer.flush(30) == 0
    assert reports["latest"] is not None and reports["latest"].code() == KafkaError.INVALID_RECORD
    assert reports["plain"] is None  # only compacted topics need keys
