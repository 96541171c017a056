"""Typing a tweet on the Produce page: build its v2 envelope and send it like ingest does."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from confluent_kafka import KafkaException

from chirpstream.settings import TWEETS_TOPIC
from dashboard import clients

_HASHTAG = re.compile(r"#(\w+)")
_MENTION = re.compile(r"@(\w+)")


def typed_tweet(author: str, text: str, now_ms: int | None = None) -> tuple[bytes, bytes]:
    """(key, value): a v2 stream envelope for ``text`` by ``author``; the key is the author id
    (the author's name, as typed), so the typed tweet lands where that author's tweets go."""
    now_ms = now_ms or time.time_ns() // 1_000_000
    created = datetime.fromtimestamp(now_ms / 1000, UTC).isoformat(timespec="milliseconds")
    tweet = {
        "id": str(now_ms),
        "text": text,
        "author_id": author,
        "created_at": created.replace("+00:00", "Z"),
        "lang": "en",
        "entities": {
            "hashtags": [
                {"start": m.start(), "end": m.end(), "tag": m.group(1)}
                for m in _HASHTAG.finditer(text)
            ],
            "mentions": [
                {"start": m.start(), "end": m.end(), "username": m.group(1)}
                for m in _MENTION.finditer(text)
            ],
        },
    }
    envelope = {
        "data": tweet,
        "includes": {"users": [{"id": author, "username": author, "name": author}]},
        "matching_rules": [{"id": "dashboard", "tag": "typed in the dashboard"}],
    }
    return author.encode(), json.dumps(envelope, separators=(",", ":")).encode()


def send(
    bootstrap: str,
    author: str,
    text: str,
    timeout: float = 10.0,
    client_config: Mapping[str, str] | None = None,
) -> tuple[int, int]:
    """Produce one typed tweet with the pipeline's partitioner; returns (partition, offset)."""
    key, value = typed_tweet(author, text)
    producer = clients.producer(
        {
            **(client_config or {}),
            "bootstrap.servers": bootstrap,
            "acks": "all",
            "partitioner": "murmur2_random",
            "message.timeout.ms": int(timeout * 1000),
        }
    )
    placed: list = []
    producer.produce(
        TWEETS_TOPIC, value, key, on_delivery=lambda err, msg: placed.append((err, msg))
    )
    producer.flush(timeout)
    if not placed:
        raise KafkaException("the broker did not acknowledge the tweet in time")
    error, message = placed[0]
    if error is not None:
        raise KafkaException(error)
    return message.partition(), message.offset()
