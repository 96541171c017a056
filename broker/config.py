"""Broker settings under Kafka's own names (``server.properties`` style).

Settings come from an optional properties file and ``--config key=value`` overrides. Broker-level
log settings (``log.segment.bytes``, ``log.retention.ms`` ...) become the defaults of every
topic's ``LogConfig`` under the topic-level names Kafka uses (``segment.bytes``,
``retention.ms`` ...). Unknown keys and bad values raise ``ConfigError`` with one line that
says what to fix.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from broker.storage.config import LogConfig


class ConfigError(ValueError):
    """A setting the broker cannot use; the message says which and why."""


# Broker-level name -> (topic-level name, multiplier to milliseconds/bytes as Kafka applies).
_LOG_DEFAULTS: dict[str, tuple[str, int]] = {
    "log.segment.bytes": ("segment.bytes", 1),
    "log.roll.ms": ("segment.ms", 1),
    "log.roll.hours": ("segment.ms", 3_600_000),
    "log.retention.ms": ("retention.ms", 1),
    "log.retention.minutes": ("retention.ms", 60_000),
    "log.retention.hours": ("retention.ms", 3_600_000),
    "log.retention.bytes": ("retention.bytes", 1),
    "log.index.interval.bytes": ("index.interval.bytes", 1),
    "log.index.size.max.bytes": ("segment.index.bytes", 1),
    "log.flush.interval.messages": ("flush.messages", 1),
    "log.flush.interval.ms": ("flush.ms", 1),
    "message.max.bytes": ("max.message.bytes", 1),
    "log.message.timestamp.type": ("message.timestamp.type", 0),
    "log.cleanup.policy": ("cleanup.policy", 0),
    "min.insync.replicas": ("min.insync.replicas", 1),
}

# Broker-level name -> (attribute, type).
_BROKER_SETTINGS: dict[str, tuple[str, type]] = {
    "log.dirs": ("data_dir", Path),
    "log.dir": ("data_dir", Path),
    "node.id": ("node_id", int),
    "num.partitions": ("num_partitions", int),
    "default.replication.factor": ("default_replication_factor", int),
    "auto.create.topics.enable": ("auto_create_topics", bool),
    "delete.topic.enable": ("delete_topic_enable", bool),
    "socket.request.max.bytes": ("socket_request_max_bytes", int),
    "socket.request.read.timeout.ms": ("socket_request_read_timeout_ms", int),
    "message.max.decompressed.bytes": ("message_max_decompressed_bytes", int),
    "max.connections": ("max_connections", int),
    "connections.max.idle.ms": ("connections_max_idle_ms", int),
    "log.retention.check.interval.ms": ("retention_check_interval_ms", int),
    "log.flush.scheduler.interval.ms": ("flush_scheduler_interval_ms", int),
    "log.flush.offset.checkpoint.interval.ms": ("checkpoint_interval_ms", int),
    "offsets.topic.num.partitions": ("offsets_topic_num_partitions", int),
    "offset.metadata.max.bytes": ("offset_metadata_max_bytes", int),
    "group.initial.rebalance.delay.ms": ("group_initial_rebalance_delay_ms", int),
    "group.min.session.timeout.ms": ("group_min_session_timeout_ms", int),
    "group.max.session.timeout.ms": ("group_max_session_timeout_ms", int),
    "producer.id.expiration.ms": ("producer_id_expiration_ms", int),
}
_LISTENERS = ("listeners", "advertised.listeners")


@dataclass(frozen=True)
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int = 9092
    advertised_host: str = ""
    data_dir: Path = Path("data/broker")
    node_id: int = 0
    num_partitions: int = 1
    default_replication_factor: int = 1
    auto_create_topics: bool = True
    delete_topic_enable: bool = True
    socket_request_max_bytes: int = 104_857_600
    # Not Kafka settings (Kafka has neither): how long one request frame may take to arrive
    # once its first byte is in (slowloris), and how far a compressed batch may expand.
    socket_request_read_timeout_ms: int = 30_000
    message_max_decompressed_bytes: int = 64 << 20
    max_connections: int = 1000
    connections_max_idle_ms: int = 600_000
    retention_check_interval_ms: int = 300_000
    flush_scheduler_interval_ms: int = 200
    checkpoint_interval_ms: int = 60_000
    offsets_topic_num_partitions: int = 50
    offset_metadata_max_bytes: int = 4096
    # Kafka waits 3 s for more members of a new group; 300 ms keeps a classroom demo instant
    # while workers started together still share their first generation.
    group_initial_rebalance_delay_ms: int = 300
    group_min_session_timeout_ms: int = 6000
    group_max_session_timeout_ms: int = 1_800_000
    producer_id_expiration_ms: int = 86_400_000
    log_defaults: LogConfig = field(default_factory=LogConfig)

    @property
    def advertised(self) -> str:
        """The host clients are told to connect to (Metadata's broker list)."""
        if self.advertised_host:
            return self.advertised_host
        return "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host

    @property
    def message_max_bytes(self) -> int:
        return self.log_defaults.max_message_bytes

    def describe(self) -> dict[str, str]:
        """The effective settings under Kafka's broker-level names (DescribeConfigs)."""
        settings = {
            name: _format(getattr(self, attribute))
            for name, (attribute, _) in _BROKER_SETTINGS.items()
            if name != "log.dir"
        }
        settings["listeners"] = f"PLAINTEXT://{self.host}:{self.port}"
        log_settings = self.log_defaults.to_properties()
        for name, (topic_name, unit) in _LOG_DEFAULTS.items():
            if unit in (0, 1) and topic_name in log_settings:
                settings.setdefault(name, log_settings[topic_name])
        return dict(sorted(settings.items()))

    @classmethod
    def from_properties(cls, props: Mapping[str, str]) -> BrokerConfig:
        values: dict[str, object] = {}
        log_props: dict[str, str] = {}
        for key, raw in props.items():
            raw = raw.strip()
            if key in _LOG_DEFAULTS:
                topic_key, unit = _LOG_DEFAULTS[key]
                log_props[topic_key] = str(_int(key, raw) * unit) if unit else raw
            elif key in _BROKER_SETTINGS:
                attribute, kind = _BROKER_SETTINGS[key]
                values[attribute] = _parse(key, raw, kind)
            elif key == "listeners":
                values["host"], values["port"] = _listener(key, raw)
            elif key == "advertised.listeners":
                values["advertised_host"], _ = _listener(key, raw)
            else:
                known = ", ".join(sorted([*_BROKER_SETTINGS, *_LOG_DEFAULTS, *_LISTENERS]))
                raise ConfigError(f"unknown broker setting {key!r}; known settings: {known}")
        try:
            values["log_defaults"] = LogConfig.from_properties(log_props)
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        return cls(**values)  # type: ignore[arg-type]


def read_properties(path: Path) -> dict[str, str]:
    """Parse a Java-style properties file: ``key=value`` lines, ``#``/``!`` comments."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read properties file {path}: {exc.strerror}") from exc
    props: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfigError(f"{path}:{number}: expected key=value, got {line!r}")
        props[key.strip()] = value.strip()
    return props


def parse_assignment(text: str) -> tuple[str, str]:
    """``key=value`` from the command line."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--config expects key=value, got {text!r}")
    return key.strip(), value.strip()


def _listener(key: str, raw: str) -> tuple[str, int]:
    """``PLAINTEXT://host:port`` (one listener; only PLAINTEXT is served)."""
    scheme, sep, address = raw.partition("://")
    host, colon, port = address.rpartition(":")
    if not sep or scheme.upper() != "PLAINTEXT" or not colon or "," in raw:
        raise ConfigError(f"{key} must be one PLAINTEXT://host:port listener, got {raw!r}")
    return host.strip("[]"), _int(key, port)


def _format(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _int(key: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{key} must be a whole number, got {raw!r}") from None


def _parse(key: str, raw: str, kind: type) -> object:
    if kind is bool:
        if raw.lower() not in ("true", "false"):
            raise ConfigError(f"{key} must be true or false, got {raw!r}")
        return raw.lower() == "true"
    if kind is int:
        return _int(key, raw)
    return kind(raw)
