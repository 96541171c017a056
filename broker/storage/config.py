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

Every topic setting Kafka documents (``TopicConfig``, Kafka 3.9, with its types, ranges and
defaults) is accepted, stored and described. Acted on: retention, segments, flush, indexes,
``max.message.bytes`` (the produce path), ``min.insync.replicas`` (``broker.replica`` refuses
acks=all while the ISR is smaller), ``compression.type``,
its ``compression.*.level`` and ``message.timestamp.type`` (``broker.protocol.conform``
rewrites produced batches), ``cleanup.policy=compact`` with ``delete.retention.ms``,
``min.cleanable.dirty.ratio``, ``min.compaction.lag.ms`` and ``max.compaction.lag.ms`` (the log
cleaner, ``broker.storage.cleaner``; a policy without ``delete`` also turns time and size
retention off). Stored but not acted on: the tiered-storage, replication-throttle,
timestamp-bound, preallocation and down-conversion settings, which this broker has no use
for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import NamedTuple

INT_MAX = 2**31 - 1
LONG_MAX = 2**63 - 1

_RANGES = {"INT": (-(2**31), INT_MAX), "LONG": (-(2**63), LONG_MAX)}
_PYTHON_TYPES: dict[str, type] = {"INT": int, "LONG": int, "DOUBLE": float, "BOOLEAN": bool}
Value = int | float | bool | str


@dataclass(frozen=True, slots=True)
class ConfigSpec:
    """One topic setting: its Kafka name, the ``LogConfig`` attribute, type and rules."""

    name: str
    attribute: str
    kafka_type: str  # INT, LONG, DOUBLE, BOOLEAN, STRING or LIST, as DescribeConfigs reports it
    default: Value
    doc: str
    minimum: int | float | None = None
    maximum: int | float | None = None
    choices: tuple[str, ...] = ()  # STRING: one of; LIST: items from (empty: any)
    also: tuple[int, ...] = ()  # values allowed outside [minimum, maximum] (gzip's -1)

    @property
    def type(self) -> type:
        return _PYTHON_TYPES.get(self.kafka_type, str)

    def parse(self, text: str) -> Value:
        """Turn a property string into a checked value; ``ValueError`` names the setting."""
        text = text.strip()
        if self.type is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError(f"{self.name} must be {self._allowed()}, got {text!r}")
            return text.lower() == "true"
        if self.type is str:
            return self.check(text)
        try:
            value = self.type(text)
        except ValueError:
            raise ValueError(f"{self.name} must be {self._allowed()}, got {text!r}") from None
        return self.check(value)

    def check(self, value: object) -> Value:
        """Return ``value`` in its normal form, or raise ``ValueError`` saying what is allowed."""
        if self.type in (int, float):
            number_types = (int,) if self.type is int else (int, float)
            low, high = _RANGES.get(self.kafka_type, (float("-inf"), float("inf")))
            low = low if self.minimum is None else self.minimum
            high = high if self.maximum is None else self.maximum
            if (
                type(value) not in number_types
                or value != value  # NaN
                or not (low <= value <= high or value in self.also)
            ):
                raise ValueError(f"{self.name} must be {self._allowed()}, got {value!r}")
            return self.type(value)
        if self.type is bool:
            if type(value) is not bool:
                raise ValueError(f"{self.name} must be {self._allowed()}, got {value!r}")
            return value
        if not isinstance(value, str):
            raise ValueError(f"{self.name} must be {self._allowed()}, got {value!r}")
        if self.kafka_type == "LIST":
            items = [item.strip() for item in value.split(",") if item.strip()]
            if self.choices and not (items and all(item in self.choices for item in items)):
                raise ValueError(f"{self.name} must be {self._allowed()}, got {value!r}")
            return ",".join(dict.fromkeys(items))
        if (self.choices and value not in self.choices) or not value:
            raise ValueError(f"{self.name} must be {self._allowed()}, got {value!r}")
        return value

    def format(self, value: Value) -> str:
        """The value as Kafka writes it (``true``/``false`` for booleans)."""
        return str(value).lower() if isinstance(value, bool) else str(value)

    def _allowed(self) -> str:
        if self.type is bool:
            return "true or false"
        if self.kafka_type == "LIST":
            return "a comma-separated list of " + ", ".join(self.choices)
        if self.type is str:
            return "one of " + ", ".join(self.choices) if self.choices else "a non-empty string"
        low, high = _RANGES.get(self.kafka_type, (None, None))
        low = low if self.minimum is None else self.minimum
        high = high if self.maximum is None else self.maximum
        kind = "an integer" if self.type is int else "a number"
        extra = "".join(f" or {value}" for value in self.also)
        return f"{kind} from {low} to {high}{extra}"


DAY_MS = 24 * 3600 * 1000
CODECS = ("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer")

TOPIC_CONFIGS: tuple[ConfigSpec, ...] = (
    ConfigSpec(
        "cleanup.policy", "cleanup_policy", "LIST", "delete",
        "delete: drop old segments by time and size; compact: keep the latest record of each "
        "key (records need a key)",
        choices=("delete", "compact"),
    ),
    ConfigSpec(
        "compression.gzip.level", "compression_gzip_level", "INT", -1,
        "gzip level when compression.type=gzip (-1: zlib's default)",
        minimum=1, maximum=9, also=(-1,),
    ),
    ConfigSpec(
        "compression.lz4.level", "compression_lz4_level", "INT", 9,
        "lz4 level when compression.type=lz4",
        minimum=1, maximum=17,
    ),
    ConfigSpec(
        "compression.type", "compression_type", "STRING", "producer",
        "producer keeps each batch as sent; a codec (or uncompressed) makes the broker "
        "recompress batches sent with another",
        choices=CODECS,
    ),
    ConfigSpec(
        "compression.zstd.level", "compression_zstd_level", "INT", 3,
        "zstd level when compression.type=zstd",
        minimum=-131072, maximum=22,
    ),
    ConfigSpec(
        "delete.retention.ms", "delete_retention_ms", "LONG", DAY_MS,
        "how long compaction keeps a tombstone after the cleaning pass that first saw it",
        minimum=0,
    ),
    ConfigSpec(
        "file.delete.delay.ms", "file_delete_delay_ms", "LONG", 60000,
        "wait before deleting a file from disk (stored; files are deleted at once)",
        minimum=0,
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
        "follower.replication.throttled.replicas", "follower_replication_throttled_replicas",
        "LIST", "", "replicas throttled on followers (stored; one broker has no followers)",
    ),
    ConfigSpec(
        "index.interval.bytes", "index_interval_bytes", "INT", 4096,
        "bytes of log between two offset index entries",
        minimum=0,
    ),
    ConfigSpec(
        "leader.replication.throttled.replicas", "leader_replication_throttled_replicas",
        "LIST", "", "replicas throttled on the leader (stored; one broker has no followers)",
    ),
    ConfigSpec(
        "local.retention.bytes", "local_retention_bytes", "LONG", -2,
        "local bytes kept with tiered storage (stored; no tiered storage)",
        minimum=-2,
    ),
    ConfigSpec(
        "local.retention.ms", "local_retention_ms", "LONG", -2,
        "local time kept with tiered storage (stored; no tiered storage)",
        minimum=-2,
    ),
    ConfigSpec(
        "max.compaction.lag.ms", "max_compaction_lag_ms", "LONG", LONG_MAX,
        "longest a record stays uncompacted: the log is cleaned then whatever its dirty ratio, "
        "and its active segment rolls by then",
        minimum=1,
    ),
    ConfigSpec(
        "max.message.bytes", "max_message_bytes", "INT", 1048588,
        "largest record batch the produce path accepts",
        minimum=0,
    ),
    ConfigSpec(
        "message.downconversion.enable", "message_downconversion_enable", "BOOLEAN", True,
        "down-convert for old fetch versions (stored; only v2 batches are served)",
    ),
    ConfigSpec(
        "message.format.version", "message_format_version", "STRING", "3.0-IV1",
        "message format of old brokers (stored; batches are always v2)",
    ),
    ConfigSpec(
        "message.timestamp.after.max.ms", "message_timestamp_after_max_ms", "LONG", LONG_MAX,
        "how far a CreateTime may be ahead of the broker's clock (stored, not enforced)",
        minimum=0,
    ),
    ConfigSpec(
        "message.timestamp.before.max.ms", "message_timestamp_before_max_ms", "LONG", LONG_MAX,
        "how far a CreateTime may be behind the broker's clock (stored, not enforced)",
        minimum=0,
    ),
    ConfigSpec(
        "message.timestamp.difference.max.ms", "message_timestamp_difference_max_ms", "LONG",
        LONG_MAX, "deprecated bound on CreateTime skew (stored, not enforced)",
        minimum=0,
    ),
    ConfigSpec(
        "message.timestamp.type", "message_timestamp_type", "STRING", "CreateTime",
        "CreateTime keeps the producer's timestamps; LogAppendTime stamps each batch with "
        "the broker's clock when it is appended",
        choices=("CreateTime", "LogAppendTime"),
    ),
    ConfigSpec(
        "min.cleanable.dirty.ratio", "min_cleanable_dirty_ratio", "DOUBLE", 0.5,
        "share of a compacted log's bytes not yet cleaned before the cleaner takes it",
        minimum=0, maximum=1,
    ),
    ConfigSpec(
        "min.compaction.lag.ms", "min_compaction_lag_ms", "LONG", 0,
        "shortest a record stays uncompacted (segments holding newer records wait)",
        minimum=0,
    ),
    ConfigSpec(
        "min.insync.replicas", "min_insync_replicas", "INT", 1,
        "replicas that must hold a write before acks=all succeeds",
        minimum=1,
    ),
    ConfigSpec(
        "preallocate", "preallocate", "BOOLEAN", False,
        "preallocate segment files (stored; segments grow as written)",
    ),
    ConfigSpec(
        "remote.log.copy.disable", "remote_log_copy_disable", "BOOLEAN", False,
        "stop copying to tiered storage (stored; no tiered storage)",
    ),
    ConfigSpec(
        "remote.log.delete.on.disable", "remote_log_delete_on_disable", "BOOLEAN", False,
        "delete tiered data when it is turned off (stored; no tiered storage)",
    ),
    ConfigSpec(
        "remote.storage.enable", "remote_storage_enable", "BOOLEAN", False,
        "tiered storage for the topic (stored; no tiered storage)",
    ),
    ConfigSpec(
        "retention.bytes", "retention_bytes", "LONG", -1,
        "delete old segments while the partition is larger than this (-1 = no limit)",
        minimum=-1,
    ),
    ConfigSpec(
        "retention.ms", "retention_ms", "LONG", 7 * DAY_MS,
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
        "segment.jitter.ms", "segment_jitter_ms", "LONG", 0,
        "random jitter subtracted from segment.ms (stored; segments roll without jitter)",
        minimum=0,
    ),
    ConfigSpec(
        "segment.ms", "segment_ms", "LONG", 7 * DAY_MS,
        "roll once the active segment's first timestamp is this many milliseconds old",
        minimum=1,
    ),
    ConfigSpec(
        "unclean.leader.election.enable", "unclean_leader_election_enable", "BOOLEAN", False,
        "elect an out-of-sync replica as leader (stored; one broker is always the leader)",
    ),
)  # fmt: skip

SPECS_BY_NAME: dict[str, ConfigSpec] = {spec.name: spec for spec in TOPIC_CONFIGS}
_DEFAULTS: dict[str, Value] = {spec.attribute: spec.default for spec in TOPIC_CONFIGS}


class ConfigEntry(NamedTuple):
    """One row of a DescribeConfigs answer."""

    spec: ConfigSpec
    value: str
    is_default: bool


@dataclass(frozen=True)
class LogConfig:
    """The settings of one topic's partition logs. Construct with keywords or from properties."""

    cleanup_policy: str = _DEFAULTS["cleanup_policy"]
    compression_gzip_level: int = _DEFAULTS["compression_gzip_level"]
    compression_lz4_level: int = _DEFAULTS["compression_lz4_level"]
    compression_type: str = _DEFAULTS["compression_type"]
    compression_zstd_level: int = _DEFAULTS["compression_zstd_level"]
    delete_retention_ms: int = _DEFAULTS["delete_retention_ms"]
    file_delete_delay_ms: int = _DEFAULTS["file_delete_delay_ms"]
    flush_messages: int = _DEFAULTS["flush_messages"]
    flush_ms: int = _DEFAULTS["flush_ms"]
    follower_replication_throttled_replicas: str = _DEFAULTS[
        "follower_replication_throttled_replicas"
    ]
    index_interval_bytes: int = _DEFAULTS["index_interval_bytes"]
    leader_replication_throttled_replicas: str = _DEFAULTS["leader_replication_throttled_replicas"]
    local_retention_bytes: int = _DEFAULTS["local_retention_bytes"]
    local_retention_ms: int = _DEFAULTS["local_retention_ms"]
    max_compaction_lag_ms: int = _DEFAULTS["max_compaction_lag_ms"]
    max_message_bytes: int = _DEFAULTS["max_message_bytes"]
    message_downconversion_enable: bool = _DEFAULTS["message_downconversion_enable"]
    message_format_version: str = _DEFAULTS["message_format_version"]
    message_timestamp_after_max_ms: int = _DEFAULTS["message_timestamp_after_max_ms"]
    message_timestamp_before_max_ms: int = _DEFAULTS["message_timestamp_before_max_ms"]
    message_timestamp_difference_max_ms: int = _DEFAULTS["message_timestamp_difference_max_ms"]
    message_timestamp_type: str = _DEFAULTS["message_timestamp_type"]
    min_cleanable_dirty_ratio: float = _DEFAULTS["min_cleanable_dirty_ratio"]
    min_compaction_lag_ms: int = _DEFAULTS["min_compaction_lag_ms"]
    min_insync_replicas: int = _DEFAULTS["min_insync_replicas"]
    preallocate: bool = _DEFAULTS["preallocate"]
    remote_log_copy_disable: bool = _DEFAULTS["remote_log_copy_disable"]
    remote_log_delete_on_disable: bool = _DEFAULTS["remote_log_delete_on_disable"]
    remote_storage_enable: bool = _DEFAULTS["remote_storage_enable"]
    retention_bytes: int = _DEFAULTS["retention_bytes"]
    retention_ms: int = _DEFAULTS["retention_ms"]
    segment_bytes: int = _DEFAULTS["segment_bytes"]
    segment_index_bytes: int = _DEFAULTS["segment_index_bytes"]
    segment_jitter_ms: int = _DEFAULTS["segment_jitter_ms"]
    segment_ms: int = _DEFAULTS["segment_ms"]
    unclean_leader_election_enable: bool = _DEFAULTS["unclean_leader_election_enable"]

    def __post_init__(self) -> None:
        for spec in TOPIC_CONFIGS:
            value = spec.check(getattr(self, spec.attribute))
            object.__setattr__(self, spec.attribute, value)

    @classmethod
    def from_properties(cls, props: Mapping[str, str], base: LogConfig | None = None) -> LogConfig:
        """Apply Kafka topic properties over ``base`` (Kafka's defaults when ``None``)."""
        values: dict[str, Value] = {}
        for name, text in props.items():
            spec = SPECS_BY_NAME.get(name)
            if spec is None:
                known = ", ".join(sorted(SPECS_BY_NAME))
                raise ValueError(f"unknown topic config {name!r}; known configs are: {known}")
            values[spec.attribute] = spec.parse(text)
        return replace(base or cls(), **values)

    def to_properties(self) -> dict[str, str]:
        return {spec.name: spec.format(getattr(self, spec.attribute)) for spec in TOPIC_CONFIGS}

    def describe(self) -> list[ConfigEntry]:
        """Every setting with its current value, in Kafka's name order."""
        return [
            ConfigEntry(spec, spec.format(value), value == spec.default)
            for spec in TOPIC_CONFIGS
            for value in (getattr(self, spec.attribute),)
        ]

    @property
    def compression_level(self) -> int | None:
        """The level of the codec compression.type names (None: that codec has no level)."""
        return {
            "gzip": self.compression_gzip_level,
            "lz4": self.compression_lz4_level,
            "zstd": self.compression_zstd_level,
        }.get(self.compression_type)

    @property
    def compacts(self) -> bool:
        """Whether ``compact`` is in cleanup.policy: the log cleaner keeps the latest record
        of each key (see ``cleaner``)."""
        return "compact" in self.cleanup_policy.split(",")

    @property
    def max_segment_ms(self) -> int:
        """When the active segment rolls by time: segment.ms, or max.compaction.lag.ms if that
        is sooner on a compacted log, so that no record waits longer to be cleanable
        (Kafka's ``LogConfig.maxSegmentMs``)."""
        if self.compacts:
            return min(self.segment_ms, self.max_compaction_lag_ms)
        return self.segment_ms

    @property
    def deletes_old_segments(self) -> bool:
        """Whether time and size retention apply (``delete`` is in cleanup.policy)."""
        return "delete" in self.cleanup_policy.split(",")
