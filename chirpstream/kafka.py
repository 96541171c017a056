"""Kafka helpers every service shares: reaching the cluster and making sure topics exist."""

from __future__ import annotations

from collections.abc import Mapping

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from chirpstream.logs import librdkafka_logging


class Unreachable(Exception):
    """No Kafka broker answered at the bootstrap address; the message says what to do."""

    def __init__(self, bootstrap: str, detail: str) -> None:
        super().__init__(
            f"cannot reach Kafka at {bootstrap} ({detail}): start the bundled broker with "
            "`chirpstream broker`, or pass --bootstrap-servers HOST:PORT"
        )


def ensure_topic(
    bootstrap: str,
    topic: str,
    partitions: int,
    client_config: Mapping[str, str] | None = None,
    timeout: float = 10.0,
    *,
    replication_factor: int = -1,
    config: Mapping[str, str] | None = None,
) -> int:
    """Create ``topic`` if it is missing; return its partition count. Raises Unreachable.

    ``replication_factor`` -1 and no ``config`` leave both to the broker's defaults; a topic
    that already exists is kept as it is."""
    admin = AdminClient(
        librdkafka_logging({"bootstrap.servers": bootstrap, **(client_config or {})})
    )
    try:
        existing = admin.list_topics(timeout=timeout).topics
    except KafkaException as exc:
        raise Unreachable(bootstrap, exc.args[0].str()) from None
    if topic in existing and existing[topic].error is None:
        return len(existing[topic].partitions)
    new = NewTopic(topic, partitions, replication_factor, config=dict(config or {}))
    future = admin.create_topics([new])[topic]
    try:
        future.result(timeout)
    except KafkaException as exc:
        if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise
    return partitions
