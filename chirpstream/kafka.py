"""Kafka helpers every service shares: reaching the cluster and making sure topics exist."""

from __future__ import annotations

import time
from collections.abc import Mapping

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from chirpstream.logs import librdkafka_logging

RETRY_S = 0.5  # between attempts while a broker of the cluster is away


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
    """Create ``topic`` if it is missing; return its partition count. Asks again while a
    broker is away (killed or restarting) and raises Unreachable after ``timeout``.

    ``replication_factor`` -1 and no ``config`` leave both to the broker's defaults; a topic
    that already exists is kept as it is."""
    admin = AdminClient(
        librdkafka_logging({"bootstrap.servers": bootstrap, **(client_config or {})})
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            existing = admin.list_topics(timeout=max(deadline - time.monotonic(), 0.1)).topics
            if topic in existing and existing[topic].error is None:
                return len(existing[topic].partitions)
            new = NewTopic(topic, partitions, replication_factor, config=dict(config or {}))
            admin.create_topics([new])[topic].result(max(deadline - time.monotonic(), 0.1))
            return partitions
        except KafkaException as exc:
            error = exc.args[0]
            if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                return partitions
            # A broker killed or restarting meanwhile (its handle destroyed, a request timed
            # out, the controller moving) passes: ask again until the deadline.
            if _passing(error) and time.monotonic() < deadline:
                time.sleep(RETRY_S)
            elif _passing(error):
                raise Unreachable(bootstrap, error.str()) from None
            else:
                raise


def _passing(error: KafkaError) -> bool:
    return error.retriable() or error.code() in (
        KafkaError._DESTROY_BROKER,
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._TIMED_OUT,
        KafkaError.NOT_CONTROLLER,
    )
