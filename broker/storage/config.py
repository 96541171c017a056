"""Topic-level log settings, with Kafka's names, meanings and defaults.

``TOPIC_CONFIGS`` describes every setting once; parsing, validation and the DescribeConfigs
listing all derive from it, and ``LogConfig``'s fields take their defaults from it.

Flush policy. Every append is handed to the operating system with one ``write`` before the
append returns, so a crash of the broker process (even SIGKILL) loses no acknowledged write:
the page cache survives. Segments are fsynced when they roll and on a clean shutdown. In
addition a partition is fsynced once ``flush.messages`` messages are unflushed, and once its
oldest unflushed write is ``flush.ms`` milliseconds old. The defaults are ``flush.messages``
= 9223372036854775807 (off) and ``flush.ms`` = 1000, so a power loss loses at most about a
second of acknowledged writes; ``flush.messages=1`` fsyncs every append. (Kafka's own
defaults never fsync and rely on replication instead.)

Stored but not acted on by this layer: ``max.message.bytes`` and ``min.insync.replicas``
(the produce path enforces them), ``cleanup.policy=compact`` (no compaction; a policy without
``delete`` only turns time and size retention off), and ``message.timestamp.type``
(batches keep their CreateTime timestamps in this version, even with LogAppendTime).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import NamedTuple

INT_MAX = 2**31 - 1
LONG_MAX = 2**63 - 1

_RANGES = {"INT": (-(2**31), INT_MAX), "LONG": (-(2**63), LONG_MAX)}


@dataclass(frozen=True, slots=True)
class ConfigSpec:
    """One topic setting: its Kafka name, the ``LogConfig`` attribute, type and rules."""

    name: str
    attribute: str
    kafka_type: str  # INT, LONG, STRING or LIST, as DescribeConfigs reports it
    default: int | str
    doc: str
    minimum: int | None = None
    choices: tuple[str, ...] = ()

    @property
    def type(self) -> type:
        return int if self.kafka_type in _RANGES else str

    def parse(self, text: str) -> int | str:
        """Turn a property string into a checked value; ``ValueError`` names the setting."""
        text = text.strip()
        if self.type is str:
            return self.check(text)
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{self.name} must be {self._allowed()}, got {text!r}") from None
        return self.check(value)

    def check(self, value: object) -> int | str:
        """Return ``value`` in its normal form, or raise ``ValueError`` saying what is allowed."""
        if self.type is int:
            low, high = _RANGES[self.kafka_type]
            if self.minimum is not None:
                low = self.minimum
            if type(value) is not int or not low <= value <= high:
                raise ValueError(f"{self.name} must be {self._allowed()}, got {value!r}")
            return value
        if not isinstance(value, str):
            raise ValueError(f"{self.name} must be {self._allowed()}, got {value!r}")
        if self.kafka_type == "LIST":
            items = [item.strip() for item in value.split(",")]
            if not all(item in self.choices for item in items):
                raise ValueError(f"{self.name} must be {self._allowed()}, got {value!r}")
            return ",".join(dict.fromkeys(items))
        if value not in self.choices:
            raise ValueError(f"{self.name} must be {self._allowed()}, got {value!r}")
        return value

    def _allowed(self) -> str:
        if self.kafka_type == "LIST":
            return "a comma-separated list of " + ", ".join(self.choices)
        if self.type is str:
            return "one of " + ", ".join(self.choices)
        low, high = _RANGES[self.kafka_type]
        low = low if self.minimum is None else self.minimum
        return f"an integer from {low} to {high}"


TOPIC_CONFIGS: tuple[ConfigSpec, ...] = (
    ConfigSpec(
        "cleanup.policy", "cleanup_policy", "LIST", "delete",
        "delete: drop old segments by time and size; compact is stored but not implemented",
        choices=("delete", "compact"),
    ),
    ConfigSpec(
        "flush.messages", "flush_messages", "LONG", LONG_MAX,
        "fsync once this many messages are unflushed (1 = every append)",
        minimum=1,
    ),
    ConfigSpec(
        "flush.ms", "flush_ms", "LONG", 1000,
        "fsync once the oldest unflushed write is this many milliseconds old",
        minimum=0,
    ),
    ConfigSpec(
        "index.interval.bytes", "index_interval_bytes", "INT", 4096,
        "bytes of log between two offset index entries",
        minimum=0,
    ),
    ConfigSpec(
        "max.message.bytes", "max_message_bytes", "INT", 1048588,
        "largest record batch the produce path accepts",
        minimum=0,
    ),
    ConfigSpec(
        "message.timestamp.type", "message_timestamp_type", "STRING", "CreateTime",
        "CreateTime or LogAppendTime (stored; batches keep CreateTime in this version)",
        choices=("CreateTime", "LogAppendTime"),
    ),
    ConfigSpec(
        "min.insync.replicas", "min_insync_replicas", "INT", 1,
        "replicas that must hold a write before acks=all succeeds",
        minimum=1,
    ),
    ConfigSpec(
        "retention.bytes", "retention_bytes", "LONG", -1,
        "delete old segments while the partition is larger than this (-1 = no limit)",
        minimum=-1,
    ),
    ConfigSpec(
        "retention.ms", "retention_ms", "LONG", 7 * 24 * 3600 * 1000,
        "delete segments whose newest timestamp is older than this (-1 = forever)",
        minimum=-1,
    ),
    ConfigSpec(
        "segment.bytes", "segment_bytes", "INT", 1 << 30,
        "roll to a new segment before the active one would exceed this size",
        minimum=14,
    ),
    ConfigSpec(
        "segment.index.bytes", "segment_index_bytes", "INT", 10 << 20,
        "largest offset or time index of a segment; a full index forces a roll",
        minimum=4,
    ),
    ConfigSpec(
        "segment.ms", "segment_ms", "LONG", 7 * 24 * 3600 * 1000,
        "roll once the active segment's first timestamp is this many milliseconds old",
        minimum=1,
    ),
)  # fmt: skip

SPECS_BY_NAME: dict[str, ConfigSpec] = {spec.name: spec for spec in TOPIC_CONFIGS}
_DEFAULTS: dict[str, int | str] = {spec.attribute: spec.default for spec in TOPIC_CONFIGS}


class ConfigEntry(NamedTuple):
    """One row of a DescribeConfigs answer."""

    spec: ConfigSpec
    value: str
    is_default: bool


@dataclass(frozen=True)
class LogConfig:
    """The settings of one topic's partition logs. Construct with keywords or from properties."""

    cleanup_policy: str = _DEFAULTS["cleanup_policy"]
    flush_messages: int = _DEFAULTS["flush_messages"]
    flush_ms: int = _DEFAULTS["flush_ms"]
    index_interval_bytes: int = _DEFAULTS["index_interval_bytes"]
    max_message_bytes: int = _DEFAULTS["max_message_bytes"]
    message_timestamp_type: str = _DEFAULTS["message_timestamp_type"]
    min_insync_replicas: int = _DEFAULTS["min_insync_replicas"]
    retention_bytes: int = _DEFAULTS["retention_bytes"]
    retention_ms: int = _DEFAULTS["retention_ms"]
    segment_bytes: int = _DEFAULTS["segment_bytes"]
    segment_index_bytes: int = _DEFAULTS["segment_index_bytes"]
    segment_ms: int = _DEFAULTS["segment_ms"]

    def __post_init__(self) -> None:
        for spec in TOPIC_CONFIGS:
            value = spec.check(getattr(self, spec.attribute))
            object.__setattr__(self, spec.attribute, value)

    @classmethod
    def from_properties(cls, props: Mapping[str, str], base: LogConfig | None = None) -> LogConfig:
        """Apply Kafka topic properties over ``base`` (Kafka's defaults when ``None``)."""
        values: dict[str, int | str] = {}
        for name, text in props.items():
            spec = SPECS_BY_NAME.get(name)
            if spec is None:
                known = ", ".join(sorted(SPECS_BY_NAME))
                raise ValueError(f"unknown topic config {name!r}; known configs are: {known}")
            values[spec.attribute] = spec.parse(text)
        return replace(base or cls(), **values)

    def to_properties(self) -> dict[str, str]:
        return {spec.name: str(getattr(self, spec.attribute)) for spec in TOPIC_CONFIGS}

    def describe(self) -> list[ConfigEntry]:
        """Every setting with its current value, in Kafka's name order."""
        return [
            ConfigEntry(spec, str(value), value == spec.default)
            for spec in TOPIC_CONFIGS
            for value in (getattr(self, spec.attribute),)
        ]

    @property
    def deletes_old_segments(self) -> bool:
        """Whether time and size retention apply (``delete`` is in cleanup.policy)."""
        return "delete" in self.cleanup_policy.split(",")
