"""min.insync.replicas is enforced for acks=all even on one node, with a real client: an ISR
of one below the topic's (or the broker's) minimum refuses acks=all with NOT_ENOUGH_REPLICAS
and stores nothing, while acks=1 is accepted."""

from __future__ import annotations

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def produce_one(bootstrap: str, topic: str, acks: str) -> KafkaError | None:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": acks, "retries": 0, "message.timeout.ms": 10000}
    )
    outcome: list[KafkaError | None] = []
    producer.produce(topic, b"value", on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(20)
    assert len(outcome) == 1, "no delivery report"
    return outcome[0]


def log_end(bootstrap: str, topic: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        return high
    finally:
        consumer.close()


def test_a_topic_needing_two_in_sync_replicas_refuses_acks_all_and_accepts_acks_1(broker):
    bootstrap = broker.bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    created = admin.create_topics([NewTopic("guarded", 1, 1, config={"min.insync.replicas": "2"})])
    created["guarded"].result(timeout=30)

    refused = produce_one(bootstrap, "guarded", "all")
    assert refused is not None and refused.code() == KafkaError.NOT_ENOUGH_REPLICAS
    assert log_end(bootstrap, "guarded") == 0  # refused before appending

    assert produce_one(bootstrap, "guarded", "1") is None
    assert log_end(bootstrap, "guarded") == 1


def test_the_broker_default_applies_to_topics_without_an_override(broker_factory):
    broker = broker_factory({"min.insync.replicas": "2"})
    refused = produce_one(broker.bootstrap, "auto-created", "all")
    assert refused is not None and refused.code() == KafkaError.NOT_ENOUGH_REPLICAS
    assert produce_one(broker.bootstrap, "auto-created", "1") is None
