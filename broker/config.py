"""Broker settings under Kafka's own names (``server.properties`` style).

Settings come from an optional properties file and ``--config key=value`` overrides.
``BROKER_SETTINGS`` describes every numeric setting once, with the type and lower bound of
Kafka's own ``ConfigDef`` (the ``ConfigSpec`` the topic settings use, so a bad value reads the
same everywhere: ``num.partitions must be an integer from 1 to 2147483647, got '0'``).
Broker-level log settings (``log.segment.bytes``, ``log.retention.hours`` ...) become the
defaults of every topic's ``LogConfig`` under the topic-level names Kafka uses
(``segment.bytes``, ``retention.ms`` ...), with Kafka's precedence (``log.retention.ms`` over
``.minutes`` over ``.hours``). Unknown keys and bad values raise ``ConfigError`` with one line
that says what to fix. ``DYNAMIC_BROKER_CONFIGS`` are the ones AlterConfigs may change while
the brokers run (``broker.controller.configs``), cluster-wide or per broker, over these.

Cluster mode: with ``controller.quorum.voters`` set (``0@127.0.0.1:9192,...``) the node joins a
KRaft-style cluster: ``process.roles`` may then be ``broker``, ``controller`` or both, and
``listeners`` lists a ``PLAINTEXT`` listener for clients (broker role) and the listener named
by ``controller.listener.names`` for the quorum (controller role; it must be where the voters
list says this node is). Without it the node is a single combined node, as before.
``cluster.id`` names the cluster (a base64 UUID, as ``kafka-storage format --cluster-id``
writes into every node's ``meta.properties``); ``chirpstream cluster`` writes it into every
node's properties, and a node without it derives one from the voter ids.

Where a bundled default differs from Kafka's, the table says so and why. Values Kafka accepts
keep Kafka's meaning: ``connections.max.idle.ms`` below 0 never closes an idle connection,
``queued.max.request.bytes`` of 0 or below puts no bound on the bytes of queued requests.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from broker.raft.config import QuorumConfig
from broker.storage.cleaner import BYTES_PER_KEY
from broker.storage.config import SPECS_BY_NAME, ConfigSpec, LogConfig


class ConfigError(ValueError):
    """A setting the broker cannot use; the message says which and why."""


MiB = 1 << 20

# Every numeric broker setting: Kafka's name, the BrokerConfig attribute, Kafka's type, the
# default, and the minimum of Kafka's ConfigDef validator (None where Kafka has none).
BROKER_SETTINGS: tuple[ConfigSpec, ...] = (
    ConfigSpec(
        "node.id", "node_id", "INT", 0,
        "this broker's id; Kafka requires it set (>= 0) in KRaft mode, bundled default 0",
        minimum=0,
    ),
    ConfigSpec("num.partitions", "num_partitions", "INT", 1,
               "partitions of an auto-created topic", minimum=1),
    ConfigSpec("default.replication.factor", "default_replication_factor", "INT", 1,
               "replication factor of an auto-created topic"),
    ConfigSpec("socket.request.max.bytes", "socket_request_max_bytes", "INT", 100 * MiB,
               "largest request frame; a bigger one closes the connection", minimum=1),
    ConfigSpec(
        "socket.request.read.timeout.ms", "socket_request_read_timeout_ms", "INT", 30_000,
        "not a Kafka setting: how long a frame may take to arrive once its first byte is in "
        "(slowloris clients)",
        minimum=1,
    ),
    ConfigSpec(
        "message.max.decompressed.bytes", "message_max_decompressed_bytes", "INT", 64 * MiB,
        "not a Kafka setting: how far a compressed batch may expand (compression bombs)",
        minimum=1,
    ),
    ConfigSpec(
        "max.connections", "max_connections", "INT", 1000,
        "connections served at once; Kafka's default is 2147483647, 1000 keeps a laptop's "
        "file descriptors for the logs",
        minimum=0,
    ),
    ConfigSpec("connections.max.idle.ms", "connections_max_idle_ms", "LONG", 600_000,
               "close a connection idle this long; below 0 never"),
    ConfigSpec(
        "queued.max.request.bytes", "queued_max_request_bytes", "LONG", 256 * MiB,
        "bytes of requests read but not yet answered, across all connections; 0 or below is "
        "no bound (Kafka's default, -1); 256 MiB keeps 100 hostile connections from pinning "
        "gigabytes",
    ),
    ConfigSpec("log.retention.check.interval.ms", "retention_check_interval_ms", "LONG",
               300_000, "how often retention deletes old segments", minimum=1),
    ConfigSpec(
        "log.cleaner.backoff.ms", "log_cleaner_backoff_ms", "LONG", 1000,
        "how often the log cleaner looks for a compacted log to clean (and swaps in a finished "
        "pass); Kafka's default is 15000, 1000 lets a class watch a topic compact",
        minimum=0,
    ),
    ConfigSpec(
        "log.cleaner.dedupe.buffer.size", "log_cleaner_dedupe_buffer_size", "LONG", 16 * MiB,
        "the cleaner's offset map, counted as Kafka counts it (24 bytes a key: 16 MiB holds "
        "629,145 keys); Kafka's default is 134217728, 16 MiB bounds the cleaner process's "
        "memory on a laptop",
        minimum=BYTES_PER_KEY,
    ),
    ConfigSpec(
        "log.flush.scheduler.interval.ms", "flush_scheduler_interval_ms", "LONG", 200,
        "the least time between two checks of flush.ms (one runs when a log's flush.ms "
        "comes due, none while every log is flushed); Kafka's default never checks (it "
        "relies on replication), 200 makes flush.ms=1000 hold; 0 or below never checks",
    ),
    ConfigSpec(
        "log.flush.offset.checkpoint.interval.ms", "checkpoint_interval_ms", "INT", 60_000,
        "how often high watermarks are checkpointed; 0 only at a clean stop",
        minimum=0,
    ),
    ConfigSpec("offsets.topic.num.partitions", "offsets_topic_num_partitions", "INT", 50,
               "partitions of __consumer_offsets when it is created", minimum=1),
    ConfigSpec("offset.metadata.max.bytes", "offset_metadata_max_bytes", "INT", 4096,
               "largest metadata string of a committed offset"),
    ConfigSpec("offsets.commit.timeout.ms", "offsets_commit_timeout_ms", "INT", 5000,
               "a group's write to __consumer_offsets not committed by its ISR within this "
               "long is answered COORDINATOR_NOT_AVAILABLE", minimum=1),
    ConfigSpec(
        "group.initial.rebalance.delay.ms", "group_initial_rebalance_delay_ms", "INT", 300,
        "how long a new group waits for more members; Kafka waits 3000, 300 keeps a "
        "classroom demo instant while workers started together still share a generation",
    ),
    ConfigSpec("group.min.session.timeout.ms", "group_min_session_timeout_ms", "INT", 6000,
               "smallest session timeout a member may ask for"),
    ConfigSpec("group.max.session.timeout.ms", "group_max_session_timeout_ms", "INT",
               1_800_000, "largest session timeout a member may ask for"),
    ConfigSpec("producer.id.expiration.ms", "producer_id_expiration_ms", "INT", 86_400_000,
               "forget an idle producer id's sequence state after this long", minimum=1),
    ConfigSpec(
        "broker.heartbeat.interval.ms", "broker_heartbeat_interval_ms", "INT", 1000,
        "how often a broker heartbeats to the active controller; Kafka's default is 2000, "
        "1000 leaves three heartbeats in the bundled 3000 ms session",
        minimum=1,
    ),
    ConfigSpec(
        "broker.session.timeout.ms", "broker_session_timeout_ms", "INT", 3000,
        "a broker silent this long is fenced and loses its leaderships; Kafka's default is "
        "9000",
        minimum=1,
    ),
    ConfigSpec(
        "replica.lag.time.max.ms", "replica_lag_time_max_ms", "LONG", 5000,
        "a follower not caught up for this long leaves the ISR; Kafka's default is 30000",
        minimum=1,
    ),
    ConfigSpec(
        "max.incremental.fetch.session.cache.slots", "fetch_session_cache_slots", "INT", 1000,
        "how many incremental fetch sessions (KIP-227) this broker keeps; 0 turns them off",
        minimum=0,
    ),
    ConfigSpec(
        "offsets.topic.replication.factor", "offsets_topic_replication_factor", "INT", 3,
        "replicas of each __consumer_offsets partition (Kafka's default 3); a single node "
        "(no controller.quorum.voters) uses 1 unless set",
        minimum=1, maximum=32767,
    ),
    ConfigSpec(
        "metadata.log.max.record.bytes.between.snapshots", "metadata_snapshot_max_bytes",
        "LONG", 20 * MiB,
        "every cluster node snapshots its metadata once this many bytes of the log were applied "
        "since the last snapshot (Kafka's default)",
        minimum=1,
    ),
    ConfigSpec(
        "metadata.log.max.snapshot.interval.ms", "metadata_snapshot_interval_ms", "LONG",
        3_600_000,
        "every cluster node snapshots its metadata this long after the last snapshot if anything "
        "was applied since (Kafka's default); 0 turns this off",
        minimum=0,
    ),
    ConfigSpec(
        "leader.imbalance.check.interval.seconds", "leader_imbalance_check_interval_seconds",
        "LONG", 10,
        "how often the active controller checks whether leaders should go back to their "
        "preferred replicas (auto.leader.rebalance.enable); Kafka's default is 300",
        minimum=1,
    ),
    ConfigSpec(
        "leader.imbalance.per.broker.percentage", "leader_imbalance_per_broker_percentage",
        "INT", 10,
        "a broker's preferred partitions led elsewhere go back to it once their share is above "
        "this percentage (Kafka's default)",
        minimum=0, maximum=100,
    ),
    ConfigSpec(
        "controller.quorum.election.timeout.ms", "quorum_election_timeout_ms", "INT",
        QuorumConfig().election_timeout_ms,
        "an election not won in this time is tried again; Kafka's default is 1000",
        minimum=1,
    ),
    ConfigSpec(
        "controller.quorum.fetch.timeout.ms", "quorum_fetch_timeout_ms", "INT",
        QuorumConfig().fetch_timeout_ms,
        "a voter that has not heard from the leader this long starts an election; Kafka's "
        "default is 2000; above the 500 ms the leader holds an idle voter's fetch",
        minimum=QuorumConfig().fetch_max_wait_ms + 1,
    ),
)  # fmt: skip
_NUMBERS: dict[str, ConfigSpec] = {spec.name: spec for spec in BROKER_SETTINGS}
_DEFAULTS: dict[str, int] = {spec.attribute: int(spec.default) for spec in BROKER_SETTINGS}
_BOOLEANS: dict[str, str] = {
    "auto.create.topics.enable": "auto_create_topics",
    "delete.topic.enable": "delete_topic_enable",
    "unclean.leader.election.enable": "unclean_leader_election_enable",
    "auto.leader.rebalance.enable": "auto_leader_rebalance_enable",
    "log.cleaner.enable": "log_cleaner_enable",
}
SINGLE_NODE_OFFSETS_REPLICATION_FACTOR = 1  # the one broker there is
OFFSETS_RF = "offsets_topic_replication_factor"

# Broker-level name -> topic-level name, checked with the topic setting's own rules.
_LOG_SYNONYMS: dict[str, str] = {
    "log.segment.bytes": "segment.bytes",
    "log.roll.ms": "segment.ms",
    "log.retention.ms": "retention.ms",
    "log.retention.bytes": "retention.bytes",
    "log.index.interval.bytes": "index.interval.bytes",
    "log.index.size.max.bytes": "segment.index.bytes",
    "log.flush.interval.messages": "flush.messages",
    "log.flush.interval.ms": "flush.ms",
    "message.max.bytes": "max.message.bytes",
    "log.message.timestamp.type": "message.timestamp.type",
    "log.cleanup.policy": "cleanup.policy",
    "min.insync.replicas": "min.insync.replicas",
    "log.cleaner.delete.retention.ms": "delete.retention.ms",
    "log.cleaner.min.cleanable.ratio": "min.cleanable.dirty.ratio",
    "log.cleaner.min.compaction.lag.ms": "min.compaction.lag.ms",
    "log.cleaner.max.compaction.lag.ms": "max.compaction.lag.ms",
}
BROKER_LOG_SYNONYMS: Mapping[str, str] = _LOG_SYNONYMS
"""Each broker-level log setting and the topic setting it is the default of."""

TOPIC_SYNONYMS: dict[str, str] = {topic: name for name, topic in _LOG_SYNONYMS.items()}
"""Each topic setting with a broker-level default, and that default's broker name."""

DYNAMIC_BROKER_CONFIGS = frozenset([*_LOG_SYNONYMS, "unclean.leader.election.enable"])
"""The broker settings AlterConfigs may change while the brokers run (cluster-wide or per
broker), as Kafka's DynamicBrokerConfig allows them: the log settings every topic inherits
(DynamicLogConfig) and ``unclean.leader.election.enable``, whose cluster-wide value the
controller's elections read over its own static one. Every other setting, such as
``auto.leader.rebalance.enable``, is static: read from the properties at start."""


# Time settings in coarser units, in Kafka's order of precedence (the first one set wins).
_TIME_UNITS: dict[str, tuple[tuple[ConfigSpec, int], ...]] = {
    "segment.ms": (
        (ConfigSpec("log.roll.hours", "", "INT", 168, "", minimum=1), 3_600_000),
    ),
    "retention.ms": (
        (ConfigSpec("log.retention.minutes", "", "INT", 10080, ""), 60_000),
        (ConfigSpec("log.retention.hours", "", "INT", 168, ""), 3_600_000),
    ),
}  # fmt: skip
_UNIT_SPECS = {spec.name: spec for units in _TIME_UNITS.values() for spec, _ in units}
_PATHS = ("log.dirs", "log.dir")  # log.dirs wins, as in Kafka
_LISTENERS = ("listeners", "advertised.listeners")
_CLUSTER = ("process.roles", "controller.listener.names", "controller.quorum.voters", "cluster.id")
ROLES = ("broker", "controller")
CLIENT_LISTENER = "PLAINTEXT"
_KNOWN = sorted(
    [*_NUMBERS, *_BOOLEANS, *_LOG_SYNONYMS, *_UNIT_SPECS, *_PATHS, *_LISTENERS, *_CLUSTER]
)
PORTS = range(0, 65536)
CLUSTER_ID_CHARS = 22


@dataclass(frozen=True)
class Listener:
    """One entry of ``listeners``: ``NAME://host:port``."""

    name: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.name}://{self.host}:{self.port}"


@dataclass(frozen=True)
class BrokerConfig:
    host: str = "127.0.0.1"
    port: int | None = 9092  # the PLAINTEXT (client) listener; None on a controller-only node
    advertised_host: str = ""
    data_dir: Path = Path("data/broker")
    auto_create_topics: bool = True
    delete_topic_enable: bool = True
    node_id: int = _DEFAULTS["node_id"]
    process_roles: tuple[str, ...] = ROLES  # process.roles: a combined node
    # Cluster mode (controller.quorum.voters set): the voters by id, where their CONTROLLER
    # listeners are; this node's controller listener (controller role only); the listener
    # name the quorum speaks on (controller.listener.names, its first entry).
    quorum_voters: Mapping[int, tuple[str, int]] = field(default_factory=dict)
    controller_listener: Listener | None = None
    controller_listener_name: str = "CONTROLLER"
    cluster_id: str = ""  # cluster.id; "" derives one from the voter ids
    unclean_leader_election_enable: bool = False
    auto_leader_rebalance_enable: bool = True
    log_cleaner_enable: bool = True
    num_partitions: int = _DEFAULTS["num_partitions"]
    default_replication_factor: int = _DEFAULTS["default_replication_factor"]
    socket_request_max_bytes: int = _DEFAULTS["socket_request_max_bytes"]
    socket_request_read_timeout_ms: int = _DEFAULTS["socket_request_read_timeout_ms"]
    message_max_decompressed_bytes: int = _DEFAULTS["message_max_decompressed_bytes"]
    max_connections: int = _DEFAULTS["max_connections"]
    connections_max_idle_ms: int = _DEFAULTS["connections_max_idle_ms"]
    queued_max_request_bytes: int = _DEFAULTS["queued_max_request_bytes"]
    retention_check_interval_ms: int = _DEFAULTS["retention_check_interval_ms"]
    flush_scheduler_interval_ms: int = _DEFAULTS["flush_scheduler_interval_ms"]
    log_cleaner_backoff_ms: int = _DEFAULTS["log_cleaner_backoff_ms"]
    log_cleaner_dedupe_buffer_size: int = _DEFAULTS["log_cleaner_dedupe_buffer_size"]
    checkpoint_interval_ms: int = _DEFAULTS["checkpoint_interval_ms"]
    offsets_topic_num_partitions: int = _DEFAULTS["offsets_topic_num_partitions"]
    offset_metadata_max_bytes: int = _DEFAULTS["offset_metadata_max_bytes"]
    offsets_commit_timeout_ms: int = _DEFAULTS["offsets_commit_timeout_ms"]
    group_initial_rebalance_delay_ms: int = _DEFAULTS["group_initial_rebalance_delay_ms"]
    group_min_session_timeout_ms: int = _DEFAULTS["group_min_session_timeout_ms"]
    group_max_session_timeout_ms: int = _DEFAULTS["group_max_session_timeout_ms"]
    producer_id_expiration_ms: int = _DEFAULTS["producer_id_expiration_ms"]
    broker_heartbeat_interval_ms: int = _DEFAULTS["broker_heartbeat_interval_ms"]
    broker_session_timeout_ms: int = _DEFAULTS["broker_session_timeout_ms"]
    replica_lag_time_max_ms: int = _DEFAULTS["replica_lag_time_max_ms"]
    fetch_session_cache_slots: int = _DEFAULTS["fetch_session_cache_slots"]
    offsets_topic_replication_factor: int = SINGLE_NODE_OFFSETS_REPLICATION_FACTOR
    metadata_snapshot_max_bytes: int = _DEFAULTS["metadata_snapshot_max_bytes"]
    metadata_snapshot_interval_ms: int = _DEFAULTS["metadata_snapshot_interval_ms"]
    leader_imbalance_check_interval_seconds: int = _DEFAULTS[
        "leader_imbalance_check_interval_seconds"
    ]
    leader_imbalance_per_broker_percentage: int = _DEFAULTS[
        "leader_imbalance_per_broker_percentage"
    ]
    quorum_election_timeout_ms: int = _DEFAULTS["quorum_election_timeout_ms"]
    quorum_fetch_timeout_ms: int = _DEFAULTS["quorum_fetch_timeout_ms"]
    log_defaults: LogConfig = field(default_factory=LogConfig)

    def __post_init__(self) -> None:
        for spec in BROKER_SETTINGS:
            try:
                spec.check(getattr(self, spec.attribute))
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        unknown = [role for role in self.process_roles if role not in ROLES]
        if (
            unknown
            or not self.process_roles
            or len(set(self.process_roles)) != len(self.process_roles)
        ):
            raise ConfigError(
                f"process.roles must list broker, controller or both, once each, "
                f"got {','.join(self.process_roles)!r}"
            )
        if not self.quorum_voters and set(self.process_roles) != set(ROLES):
            raise ConfigError(
                f"process.roles={','.join(self.process_roles)}: a node with one role needs "
                "a controller quorum; set controller.quorum.voters (e.g. "
                "0@127.0.0.1:9192) or use process.roles=broker,controller (the default)"
            )
        if self.port is None:
            if self.is_broker:
                raise ConfigError(
                    f"process.roles includes broker: listeners must include a "
                    f"{CLIENT_LISTENER}://host:port listener for clients"
                )
        elif self.port not in PORTS:
            raise ConfigError(f"listeners port must be an integer from 0 to 65535, got {self.port}")
        elif not self.is_broker:
            raise ConfigError(
                f"listeners must not include {CLIENT_LISTENER} when process.roles is controller "
                "only (clients talk to brokers)"
            )
        if self.quorum_voters:
            self._check_cluster_mode()
        elif self.cluster_id:
            raise ConfigError(
                "cluster.id names a cluster with a controller quorum; set "
                "controller.quorum.voters too, or leave cluster.id out for a single node"
            )
        queued, largest = self.queued_max_request_bytes, self.socket_request_max_bytes
        if 0 < queued < largest:
            # Kafka's own rule: one request of the largest allowed size must always fit.
            raise ConfigError(
                f"queued.max.request.bytes must be -1 (no bound) or at least "
                f"socket.request.max.bytes={largest}, got {queued}"
            )

    def _check_cluster_mode(self) -> None:
        """The rules Kafka's KafkaConfig checks for a KRaft node's roles and listeners."""
        name = self.controller_listener_name
        voter = self.quorum_voters.get(self.node_id)
        if self.is_controller:
            if voter is None:
                raise ConfigError(
                    f"process.roles includes controller, so node.id={self.node_id} must be one "
                    f"of controller.quorum.voters ({_voters_text(self.quorum_voters)})"
                )
            if self.controller_listener is None:
                raise ConfigError(
                    f"process.roles includes controller: listeners must include a {name}:// "
                    f"listener (controller.listener.names), e.g. {name}://{voter[0]}:{voter[1]}"
                )
            listener = self.controller_listener
            if listener.port != voter[1]:
                raise ConfigError(
                    f"listeners has {listener}, but controller.quorum.voters says node "
                    f"{self.node_id} is at {voter[0]}:{voter[1]}; make the ports agree"
                )
        else:
            if voter is not None:
                raise ConfigError(
                    f"node.id={self.node_id} is in controller.quorum.voters, so process.roles "
                    "must include controller"
                )
            if self.controller_listener is not None:
                raise ConfigError(
                    f"listeners must not include the {name} listener when process.roles is "
                    "broker only (a broker dials the controllers, it does not listen for them)"
                )

    @property
    def cluster_mode(self) -> bool:
        """Whether this node is part of a cluster with a controller quorum (voters set)."""
        return bool(self.quorum_voters)

    @property
    def is_broker(self) -> bool:
        return "broker" in self.process_roles

    @property
    def is_controller(self) -> bool:
        return "controller" in self.process_roles

    @property
    def quorum(self) -> QuorumConfig:
        """The Raft timeouts under their Kafka names (the rest keep the bundled defaults)."""
        return QuorumConfig(
            election_timeout_ms=self.quorum_election_timeout_ms,
            fetch_timeout_ms=self.quorum_fetch_timeout_ms,
        )

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
        settings = {spec.name: str(getattr(self, spec.attribute)) for spec in BROKER_SETTINGS}
        for name, attribute in _BOOLEANS.items():
            settings[name] = str(getattr(self, attribute)).lower()
        settings["log.dirs"] = str(self.data_dir)
        listeners = [f"{CLIENT_LISTENER}://{self.host}:{self.port}"] if self.is_broker else []
        if self.controller_listener is not None:
            listeners.append(str(self.controller_listener))
        settings["listeners"] = ",".join(listeners)
        settings["process.roles"] = ",".join(self.process_roles)
        settings["controller.listener.names"] = self.controller_listener_name
        settings["controller.quorum.voters"] = _voters_text(self.quorum_voters)
        if self.cluster_id:
            settings["cluster.id"] = self.cluster_id
        log_settings = self.log_defaults.to_properties()
        for name, topic_name in _LOG_SYNONYMS.items():
            if topic_name in log_settings:
                settings[name] = log_settings[topic_name]
        return dict(sorted(settings.items()))

    @classmethod
    def from_properties(cls, props: Mapping[str, str]) -> BrokerConfig:
        values: dict[str, object] = {}
        log_props: dict[str, str] = {}
        for key, raw in props.items():
            raw = raw.strip()
            if key in _NUMBERS:
                values[_NUMBERS[key].attribute] = _checked(_NUMBERS[key], raw)
            elif key in _BOOLEANS:
                values[_BOOLEANS[key]] = _boolean(key, raw)
            elif key in _LOG_SYNONYMS:
                topic_key = _LOG_SYNONYMS[key]
                log_props[topic_key] = str(
                    _checked(replace(SPECS_BY_NAME[topic_key], name=key), raw)
                )
            elif key in _PATHS:
                if key == "log.dirs" or "log.dirs" not in props:
                    values["data_dir"] = _one_directory(key, raw)
            elif key == "process.roles":
                values["process_roles"] = tuple(role.strip() for role in raw.split(","))
            elif key == "controller.quorum.voters":
                values["quorum_voters"] = _voters(raw)
            elif key == "controller.listener.names":
                values["controller_listener_name"] = _controller_listener_name(raw)
            elif key == "cluster.id":
                values["cluster_id"] = _cluster_id(raw)
            elif key not in _LISTENERS and key not in _UNIT_SPECS:
                raise ConfigError(
                    f"unknown broker setting {key!r}; known settings: {', '.join(_KNOWN)}"
                )
        for topic_key, units in _TIME_UNITS.items():
            for spec, unit in units:
                if spec.name in props:
                    millis = int(_checked(spec, props[spec.name])) * unit
                    # The finer unit wins; any negative time means "forever" (-1), as in Kafka.
                    log_props.setdefault(topic_key, str(max(millis, -1)))
        controller_name = str(values.get("controller_listener_name", "CONTROLLER"))
        if "listeners" in props:
            for listener in _listeners("listeners", props["listeners"], controller_name):
                if listener.name == CLIENT_LISTENER:
                    values["host"], values["port"] = listener.host, listener.port
                else:
                    values["controller_listener"] = listener
            if CLIENT_LISTENER not in _names(props["listeners"]):
                values["port"] = None  # no client listener (a controller-only node)
        if "advertised.listeners" in props:
            for listener in _listeners("advertised.listeners", props["advertised.listeners"], ""):
                values["advertised_host"] = listener.host
        if values.get("quorum_voters"):
            values.setdefault("offsets_topic_replication_factor", _DEFAULTS[OFFSETS_RF])
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


def check_port(option: str, port: int) -> int:
    """A TCP port to listen on (0 = any free one), or ``ConfigError`` naming ``option``."""
    if port not in PORTS:
        raise ConfigError(f"{option} must be an integer from 0 to 65535, got {port}")
    return port


def _checked(spec: ConfigSpec, raw: str) -> int | str:
    try:
        return spec.parse(raw)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _boolean(key: str, raw: str) -> bool:
    if raw.lower() not in ("true", "false"):
        raise ConfigError(f"{key} must be true or false, got {raw!r}")
    return raw.lower() == "true"


def _one_directory(key: str, raw: str) -> Path:
    if not raw or "," in raw:
        raise ConfigError(f"{key} must be one directory (this broker has one log dir), got {raw!r}")
    return Path(raw)


def _names(raw: str) -> list[str]:
    return [entry.partition("://")[0].strip().upper() for entry in raw.split(",")]


def _listeners(key: str, raw: str, controller_name: str) -> list[Listener]:
    """``NAME://host:port,...``: at most one PLAINTEXT listener (clients) and, for
    ``listeners``, one named by controller.listener.names (the quorum)."""
    allowed = (CLIENT_LISTENER, controller_name) if controller_name else (CLIENT_LISTENER,)
    found: list[Listener] = []
    for entry in raw.split(","):
        scheme, sep, address = entry.strip().partition("://")
        host, colon, port = address.rpartition(":")
        name = scheme.upper()
        if not sep or name not in allowed or not colon:
            raise ConfigError(
                f"{key} must be {' and '.join(f'{n}://host:port' for n in allowed)} "
                f"(comma-separated, one of each at most), got {raw!r}"
            )
        if not port.isdigit() or int(port) not in PORTS:
            raise ConfigError(f"{key} port must be an integer from 0 to 65535, got {raw!r}")
        if any(listener.name == name for listener in found):
            raise ConfigError(f"{key} names the {name} listener twice, got {raw!r}")
        found.append(Listener(name, host.strip("[]"), int(port)))
    return found


def _voters(raw: str) -> dict[int, tuple[str, int]]:
    """``controller.quorum.voters``: ``id@host:port,...`` (Kafka's format)."""
    voters: dict[int, tuple[str, int]] = {}
    for entry in raw.split(","):
        node, at, address = entry.strip().partition("@")
        host, colon, port = address.rpartition(":")
        if not at or not node.isdigit() or not colon or not host or not port.isdigit():
            raise ConfigError(
                "controller.quorum.voters must be id@host:port entries separated by commas, "
                f"e.g. 0@127.0.0.1:9192, got {raw!r}"
            )
        if int(port) not in range(1, 65536):
            raise ConfigError(
                f"controller.quorum.voters port must be an integer from 1 to 65535, got {raw!r}"
            )
        if int(node) in voters:
            raise ConfigError(f"controller.quorum.voters lists node {node} twice, got {raw!r}")
        voters[int(node)] = (host.strip("[]"), int(port))
    return voters


def _cluster_id(raw: str) -> str:
    """``cluster.id``: a UUID in Kafka's text form, 22 characters of url-safe base64."""
    try:
        decoded = base64.urlsafe_b64decode(raw + "==")
    except (binascii.Error, ValueError):
        decoded = b""
    if len(raw) != CLUSTER_ID_CHARS or len(decoded) != 16:
        raise ConfigError(
            f"cluster.id must be a UUID as Kafka writes it (22 characters of url-safe "
            f"base64, e.g. from `kafka-storage random-uuid`), got {raw!r}"
        )
    return raw


def derived_cluster_id(seed: str) -> str:
    """A cluster id in Kafka's form (url-safe base64 of a UUID, 22 characters) that is the
    same for the same ``seed``."""
    digest = uuid.uuid5(uuid.NAMESPACE_URL, f"chirpstream-cluster:{seed}")
    return base64.urlsafe_b64encode(digest.bytes).rstrip(b"=").decode()


def _voters_text(voters: Mapping[int, tuple[str, int]]) -> str:
    return ",".join(f"{node}@{host}:{port}" for node, (host, port) in sorted(voters.items()))


def _controller_listener_name(raw: str) -> str:
    names = [name.strip().upper() for name in raw.split(",") if name.strip()]
    if len(names) != 1 or names[0] == CLIENT_LISTENER:
        raise ConfigError(
            "controller.listener.names must name one listener other than PLAINTEXT "
            f"(e.g. CONTROLLER), got {raw!r}"
        )
    return names[0]


def check_dynamic_broker_configs(props: Mapping[str, str]) -> None:
    """Raise ConfigError unless every setting in ``props`` may be changed dynamically and
    holds a valid value (Kafka's DynamicBrokerConfig.validate)."""
    unknown = sorted(name for name in props if name not in _KNOWN)
    if unknown:
        raise ConfigError(
            f"unknown broker config(s): {', '.join(unknown)}; dynamic broker configs are: "
            f"{', '.join(sorted(DYNAMIC_BROKER_CONFIGS))}"
        )
    static = sorted(name for name in props if name not in DYNAMIC_BROKER_CONFIGS)
    if static:
        raise ConfigError(f"Cannot update these configs dynamically: {', '.join(static)}")
    for name, raw in props.items():
        if name in _LOG_SYNONYMS:
            _checked(replace(SPECS_BY_NAME[_LOG_SYNONYMS[name]], name=name), raw.strip())
        else:
            _boolean(name, raw.strip())


def dynamic_log_defaults(static: LogConfig, *layers: Mapping[str, str]) -> LogConfig:
    """``static`` with the log settings of dynamic broker ``layers`` (broker-level names,
    the weakest first: the cluster-wide default, then this broker's own) applied over it."""
    props: dict[str, str] = {}
    for layer in layers:
        props.update(
            {_LOG_SYNONYMS[name]: value for name, value in layer.items() if name in _LOG_SYNONYMS}
        )
    return LogConfig.from_properties(props, base=static) if props else static


def default_synonym(topic_name: str) -> tuple[str, str] | None:
    """The broker setting Kafka names as a topic setting's DEFAULT_CONFIG synonym, with its
    default: the coarsest time unit where there are several (``log.retention.hours=168``,
    as the finer ones have no default), else the one broker-level name. None: no synonym."""
    units = _TIME_UNITS.get(topic_name)
    if units:
        spec, _ = units[-1]
        return spec.name, spec.format(spec.default)
    name = TOPIC_SYNONYMS.get(topic_name)
    if name is None:
        return None
    spec = SPECS_BY_NAME[topic_name]
    return name, spec.format(spec.default)
