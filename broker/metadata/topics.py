"""Rules about topics that every part agrees on: legal names, internal topics, effective
configs (a topic's overrides over the dynamic broker configs over the static ones), and the
error a refused topic change carries."""

from __future__ import annotations

import re
from collections.abc import Mapping

from kio.schema.errors import ErrorCode

from broker.config import dynamic_log_defaults
from broker.metadata.image import MetadataImage
from broker.metadata.records import ConfigResourceType
from broker.storage.config import LogConfig

OFFSETS_TOPIC = "__consumer_offsets"
INTERNAL_TOPICS = frozenset({OFFSETS_TOPIC})
_LEGAL_TOPIC = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


class TopicError(Exception):
    """A topic operation refused with a Kafka error code (``code``) and a message."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


def is_internal(name: str) -> bool:
    """Kafka's own bookkeeping (committed offsets): clients may read it, not write it."""
    return name in INTERNAL_TOPICS


def collision_key(name: str) -> str:
    """Kafka's metric names turn '.' into '_': two topics equal after that collide."""
    return name.replace(".", "_")


def validate_topic_name(name: str) -> None:
    if name in (".", "..") or not _LEGAL_TOPIC.match(name):
        raise TopicError(
            ErrorCode.invalid_topic_exception,
            f"topic name {name!r} is illegal: use 1-249 of the characters a-z A-Z 0-9 . _ -",
        )


def log_config(overrides: Mapping[str, str], defaults: LogConfig) -> LogConfig:
    """A topic's effective settings: its overrides over the broker's defaults. Raises
    ValueError for a bad value."""
    return LogConfig.from_properties(overrides, base=defaults)


def broker_log_defaults(image: MetadataImage, node_id: int, static: LogConfig) -> LogConfig:
    """The defaults of every topic on broker ``node_id``: its static log settings, under the
    cluster-wide dynamic broker configs, under its own (Kafka's precedence)."""
    return dynamic_log_defaults(
        static,
        image.configs.get((ConfigResourceType.BROKER, ""), {}),
        image.configs.get((ConfigResourceType.BROKER, str(node_id)), {}),
    )
