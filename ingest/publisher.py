"""Publishes envelopes to Kafka with confluent-kafka, keyed so each author stays in order.

acks=all with idempotence (a batch whose leader dies is retried until its successor takes it,
with one log line per leader change), and librdkafka's ``murmur2_random`` partitioner, which
places a key exactly where Kafka's Java client (and the broker's own tools) would.

Tweets are batched for ``LINGER_MS`` (``-X linger.ms=N`` overrides it). librdkafka's default,
5 ms, sends a batch per partition every 5 ms; when a cluster takes longer than that to
acknowledge acks=all, more requests are ready than ``max.in.flight`` (5 with idempotence)
lets out, and librdkafka's broker threads then spend more CPU waiting for room than the
simulation spends making the tweets (``bench.pipeline`` on 3 nodes: ingest 188 us of CPU per
tweet with 5 ms, 60-86 us with 100 ms). 100 ms keeps a tweet's wait well inside the pipeline's
one-second latency budget.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Literal

from confluent_kafka import KafkaError, Producer

from chirpstream.logs import leader_changes, librdkafka_logging
from chirpstream.tweets import Envelope

KeyChoice = Literal["author", "hashtag", "none"]
LINGER_MS = 100


def key_function(choice: KeyChoice) -> Callable[[Envelope], bytes | None]:
    if choice == "author":
        return lambda envelope: envelope.author_id.encode()
    if choice == "hashtag":
        return lambda envelope: envelope.hashtags[0].lower().encode() if envelope.hashtags else None
    return lambda envelope: None


def producer_config(bootstrap: str, client_config: Mapping[str, str]) -> dict[str, object]:
    """Ingest's producer settings; the user's ``client_config`` (``-X``, ``--command-config``)
    wins over every one of them."""
    return {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": True,
        "partitioner": "murmur2_random",
        "linger.ms": LINGER_MS,
        **client_config,
    }


class Publisher:
    """Produces envelopes to one topic and counts what was sent, delivered and failed."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        key: KeyChoice = "author",
        client_config: Mapping[str, str] | None = None,
    ) -> None:
        self.topic = topic
        self._key = key_function(key)
        config = producer_config(bootstrap, client_config or {})
        self._producer = Producer(leader_changes(librdkafka_logging(config), "ingest"))
        self._lock = threading.Lock()
        self.sent = 0
        self.delivered = 0
        self.errors = 0
        self.last_error: str | None = None

    def _on_delivery(self, error: KafkaError | None, _message: object) -> None:
        with self._lock:
            if error is None:
                self.delivered += 1
            else:
                self.errors += 1
                self.last_error = error.str()

    def publish(self, envelope: Envelope) -> None:
        while True:
            try:
                # The record timestamp is the produce time (Kafka's default), not the tweet's:
                # replayed old tweets must not look expired to retention.ms.
                self._producer.produce(
                    self.topic, envelope.raw, self._key(envelope), on_delivery=self._on_delivery
                )
                break
            except BufferError:  # the local queue is full: let deliveries drain
                self._producer.poll(0.05)
        self.sent += 1
        self._producer.poll(0)

    def poll(self, timeout: float = 0.0) -> None:
        self._producer.poll(timeout)

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for everything in flight; returns how many messages are still undelivered."""
        return self._producer.flush(timeout)
