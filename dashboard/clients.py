"""Every Kafka client the dashboard makes is built here, so their shared settings live in one
place: librdkafka's log goes through Python logging, one line per broker state change
(``chirpstream.logs.librdkafka_logging``), instead of a line per retry on the terminal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

from chirpstream.logs import librdkafka_logging

READER_GROUP = "chirpstream-dashboard"  # required by librdkafka; never joined, never committed


def admin(config: Mapping[str, Any]) -> AdminClient:
    return AdminClient(librdkafka_logging(config))


def reader(config: Mapping[str, Any]) -> Consumer:
    """A consumer that is only ever assigned partitions: it never joins a group nor commits.
    Its prefetch is kept small, so a burst cannot fill memory ahead of a bounded read."""
    return Consumer(
        {
            **librdkafka_logging(config),
            "group.id": READER_GROUP,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "queued.max.messages.kbytes": 2048,
        }
    )


def producer(config: Mapping[str, Any]) -> Producer:
    return Producer(librdkafka_logging(config))
