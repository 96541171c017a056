"""Broker settings: Kafka's names from a properties file and --config, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.cluster_node import cluster_id_of
from broker.config import (
    BROKER_SETTINGS,
    BrokerConfig,
    ConfigError,
    check_port,
    parse_assignment,
    read_properties,
)


def test_properties_file_and_log_defaults(tmp_path):
    path = tmp_path / "server.properties"
    path.write_text(
        "# a comment\n! another\nlisteners=PLAINTEXT://0.0.0.0:9093\nnum.partitions = 6\n"
        "log.retention.hours=2\nlog.segment.bytes=1048576\nauto.create.topics.enable=false\n"
        "log.dirs=/tmp/k\n"
    )
    config = BrokerConfig.from_properties(read_properties(path))
    assert (config.host, config.port, config.advertised) == ("0.0.0.0", 9093, "127.0.0.1")
    assert config.num_partitions == 6
    assert config.auto_create_topics is False
    assert config.data_dir == Path("/tmp/k")
    assert config.log_defaults.retention_ms == 2 * 3_600_000
    assert config.log_defaults.segment_bytes == 1_048_576
    described = config.describe()
    assert described["log.retention.ms"] == str(2 * 3_600_000)
    assert described["auto.create.topics.enable"] == "false"


@pytest.mark.parametrize(
    ("props", "names"),
    [
        ({"no.such": "1"}, "no.such"),
        ({"num.partitions": "six"}, "num.partitions"),
        ({"auto.create.topics.enable": "yes"}, "auto.create.topics.enable"),
        ({"listeners": "SSL://h:1"}, "listeners"),
        ({"log.retention.bytes": "-5"}, "retention.bytes"),
    ],
)
def test_bad_settings_name_themselves(props, names):
    with pytest.raises(ConfigError, match=names.replace(".", r"\.")):
        BrokerConfig.from_properties(props)


def test_assignment_and_unreadable_file(tmp_path):
    assert parse_assignment("a.b = c=d") == ("a.b", "c=d")
    with pytest.raises(ConfigError):
        parse_assignment("novalue")
    with pytest.raises(ConfigError, match="cannot read"):
        read_properties(tmp_path / "missing.properties")
    bad = tmp_path / "bad.properties"
    bad.write_text("just words\n")
    with pytest.raises(ConfigError, match=r"bad\.properties:1"):
        read_properties(bad)


# Kafka's ConfigDef lower bounds (KafkaConfig, SocketServerConfigs, ServerLogConfigs,
# GroupCoordinatorConfig, TransactionLogConfig); None where Kafka has no validator.
KAFKA_MINIMUMS = {
    "num.partitions": 1,
    "default.replication.factor": None,
    "socket.request.max.bytes": 1,
    "max.connections": 0,
    "connections.max.idle.ms": None,
    "queued.max.request.bytes": None,
    "log.retention.check.interval.ms": 1,
    "log.flush.scheduler.interval.ms": None,
    "log.flush.offset.checkpoint.interval.ms": 0,
    "offsets.topic.num.partitions": 1,
    "offset.metadata.max.bytes": None,
    "offsets.commit.timeout.ms": 1,
    "group.initial.rebalance.delay.ms": None,
    "group.min.session.timeout.ms": None,
    "group.max.session.timeout.ms": None,
    "producer.id.expiration.ms": 1,
}


def test_the_schema_carries_kafkas_bounds_and_its_defaults_pass_them():
    specs = {spec.name: spec for spec in BROKER_SETTINGS}
    for name, minimum in KAFKA_MINIMUMS.items():
        assert specs[name].minimum == minimum, name
    for spec in BROKER_SETTINGS:
        assert spec.check(spec.default) == spec.default
    assert BrokerConfig().describe()["queued.max.request.bytes"] == str(256 << 20)


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("log.retention.check.interval.ms", "0", "from 1 to 9223372036854775807"),
        ("max.connections", "-5", "from 0 to 2147483647"),
        ("socket.request.max.bytes", "0", "from 1 to 2147483647"),
        ("offsets.topic.num.partitions", "0", "from 1 to 2147483647"),
        ("max.connections", "2147483648", "from 0 to 2147483647"),
        ("connections.max.idle.ms", "never", "from -9223372036854775808 to"),
        ("log.roll.hours", "0", "from 1 to 2147483647"),
        ("log.segment.bytes", "3", "from 14 to 2147483647"),
        ("log.retention.minutes", "1.5", "an integer"),
    ],
)
def test_a_value_out_of_range_names_the_setting_and_its_range(name, value, allowed):
    with pytest.raises(ConfigError) as error:
        BrokerConfig.from_properties({name: value})
    message = str(error.value)
    assert message.startswith(f"{name} must be an integer ") and allowed in message
    assert message.rstrip("'").endswith(value) and "\n" not in message


def test_kafkas_special_values_keep_their_meaning():
    config = BrokerConfig.from_properties(
        {"connections.max.idle.ms": "-1", "queued.max.request.bytes": "-1"}
    )
    assert config.connections_max_idle_ms == -1 and config.queued_max_request_bytes == -1
    assert BrokerConfig.from_properties({"queued.max.request.bytes": "0"})
    assert BrokerConfig.from_properties({"log.flush.offset.checkpoint.interval.ms": "0"})


def test_queued_max_request_bytes_must_hold_the_largest_request():
    with pytest.raises(ConfigError, match=r"queued\.max\.request\.bytes.*socket\.request"):
        BrokerConfig.from_properties({"queued.max.request.bytes": "1000"})
    config = BrokerConfig.from_properties(
        {"queued.max.request.bytes": "1000", "socket.request.max.bytes": "1000"}
    )
    assert config.queued_max_request_bytes == 1000


def test_retention_and_roll_units_follow_kafkas_precedence():
    hours = BrokerConfig.from_properties({"log.retention.hours": "2", "log.roll.hours": "3"})
    assert hours.log_defaults.retention_ms == 2 * 3_600_000
    assert hours.log_defaults.segment_ms == 3 * 3_600_000
    finer = BrokerConfig.from_properties(
        {"log.retention.hours": "2", "log.retention.minutes": "5", "log.roll.ms": "7"}
    )
    assert finer.log_defaults.retention_ms == 5 * 60_000
    assert finer.log_defaults.segment_ms == 7
    both = BrokerConfig.from_properties({"log.retention.ms": "9", "log.retention.hours": "2"})
    assert both.log_defaults.retention_ms == 9
    forever = BrokerConfig.from_properties({"log.retention.hours": "-1"})
    assert forever.log_defaults.retention_ms == -1


@pytest.mark.parametrize(
    "listener", ["PLAINTEXT://127.0.0.1:99999", "PLAINTEXT://127.0.0.1:-1", "PLAINTEXT://h:x"]
)
def test_a_listener_port_outside_0_to_65535_is_refused(listener):
    with pytest.raises(ConfigError, match=r"^listeners port must be an integer from 0 to 65535"):
        BrokerConfig.from_properties({"listeners": listener})


def test_port_flag_and_log_dirs():
    assert check_port("--port", 0) == 0
    with pytest.raises(ConfigError, match=r"^--port must be an integer from 0 to 65535, got 99999"):
        check_port("--port", 99999)
    with pytest.raises(ConfigError, match="one directory"):
        BrokerConfig.from_properties({"log.dirs": "/a,/b"})
    config = BrokerConfig.from_properties({"log.dirs": "/a", "log.dir": "/b"})
    assert config.data_dir == Path("/a")


def test_process_roles_accepts_the_combined_node_and_says_what_to_do_otherwise():
    assert BrokerConfig().process_roles == ("broker", "controller")
    assert (
        BrokerConfig.from_properties({"process.roles": "controller, broker"}).describe()[
            "process.roles"
        ]
        == "controller,broker"
    )
    with pytest.raises(ConfigError, match=r"use process\.roles=broker,controller"):
        BrokerConfig.from_properties({"process.roles": "broker"})
    with pytest.raises(ConfigError, match="must list broker, controller or both"):
        BrokerConfig.from_properties({"process.roles": "broker,zookeeper"})


VOTERS = "0@127.0.0.1:9192,1@127.0.0.1:9193,2@127.0.0.1:9194"


def test_single_node_mode_keeps_its_defaults():
    config = BrokerConfig.from_properties({})
    assert not config.cluster_mode and config.quorum_voters == {}
    assert config.offsets_topic_replication_factor == 1
    assert (config.broker_heartbeat_interval_ms, config.broker_session_timeout_ms) == (1000, 3000)
    assert config.replica_lag_time_max_ms == 5000
    assert config.unclean_leader_election_enable is False
    assert config.auto_leader_rebalance_enable is True
    described = config.describe()
    assert described["listeners"] == "PLAINTEXT://127.0.0.1:9092"
    assert described["controller.quorum.voters"] == ""


def test_a_combined_cluster_node_from_kafkas_names():
    config = BrokerConfig.from_properties(
        {
            "node.id": "1",
            "process.roles": "broker,controller",
            "controller.quorum.voters": VOTERS,
            "listeners": "PLAINTEXT://127.0.0.1:9093,CONTROLLER://127.0.0.1:9193",
            "controller.listener.names": "CONTROLLER",
            "advertised.listeners": "PLAINTEXT://localhost:9093",
            "broker.session.timeout.ms": "9000",
            "unclean.leader.election.enable": "true",
            "controller.quorum.election.timeout.ms": "1000",
            "controller.quorum.fetch.timeout.ms": "2000",
        }
    )
    assert config.cluster_mode and config.is_broker and config.is_controller
    assert config.quorum_voters[2] == ("127.0.0.1", 9194)
    assert (config.host, config.port, config.advertised) == ("127.0.0.1", 9093, "localhost")
    assert str(config.controller_listener) == "CONTROLLER://127.0.0.1:9193"
    assert config.offsets_topic_replication_factor == 3  # Kafka's default in a cluster
    assert config.broker_session_timeout_ms == 9000 and config.unclean_leader_election_enable
    assert (config.quorum.election_timeout_ms, config.quorum.fetch_timeout_ms) == (1000, 2000)
    described = config.describe()
    assert described["listeners"] == "PLAINTEXT://127.0.0.1:9093,CONTROLLER://127.0.0.1:9193"
    assert described["controller.quorum.voters"] == VOTERS
    assert described["broker.heartbeat.interval.ms"] == "1000"
    assert described["offsets.topic.replication.factor"] == "3"


def test_every_node_of_a_cluster_names_it_alike_whatever_address_it_reaches_voters_at():
    """Behind proxies each node has other addresses for the other voters; the derived id
    comes from the voter ids alone, and cluster.id (as kafka-storage format gives every
    node) wins over it."""

    def node(voters: str, **more: str) -> BrokerConfig:
        props = {"node.id": "3", "process.roles": "broker", "controller.quorum.voters": voters}
        return BrokerConfig.from_properties({**props, **more})

    proxied = node("0@127.0.0.1:40001,1@127.0.0.1:40002,2@127.0.0.1:40003")
    assert cluster_id_of(node(VOTERS)) == cluster_id_of(proxied)
    assert cluster_id_of(node(VOTERS)) != cluster_id_of(node("0@127.0.0.1:9192"))
    chosen = node(VOTERS, **{"cluster.id": "MkU3OEVBNTcwNTJENDM2Qk"})
    assert cluster_id_of(chosen) == "MkU3OEVBNTcwNTJENDM2Qk"
    assert chosen.describe()["cluster.id"] == "MkU3OEVBNTcwNTJENDM2Qk"


def test_one_role_nodes_in_a_cluster():
    broker = BrokerConfig.from_properties(
        {"node.id": "3", "process.roles": "broker", "controller.quorum.voters": VOTERS,
         "offsets.topic.replication.factor": "2"}
    )  # fmt: skip
    assert broker.is_broker and not broker.is_controller and broker.controller_listener is None
    assert broker.offsets_topic_replication_factor == 2
    controller = BrokerConfig.from_properties(
        {"node.id": "0", "process.roles": "controller", "controller.quorum.voters": VOTERS,
         "listeners": "CONTROLLER://127.0.0.1:9192"}
    )  # fmt: skip
    assert controller.port is None and controller.describe()["listeners"] == (
        "CONTROLLER://127.0.0.1:9192"
    )


@pytest.mark.parametrize(
    ("props", "says"),
    [
        ({"controller.quorum.voters": "0@127.0.0.1"}, r"id@host:port entries"),
        ({"controller.quorum.voters": "x@127.0.0.1:9192"}, r"id@host:port entries"),
        ({"controller.quorum.voters": "0@h:1,0@h:2"}, r"lists node 0 twice"),
        ({"controller.quorum.voters": "0@h:70000"}, r"port must be an integer from 1 to 65535"),
        ({"controller.quorum.voters": VOTERS}, r"listeners must include a CONTROLLER://"),
        (
            {"controller.quorum.voters": VOTERS, "node.id": "5"},
            r"node\.id=5 must be one of controller\.quorum\.voters",
        ),
        (
            {"controller.quorum.voters": VOTERS, "process.roles": "broker"},
            r"node\.id=0 is in controller\.quorum\.voters, so process\.roles must include",
        ),
        (
            {"controller.quorum.voters": VOTERS,
             "listeners": "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9999"},
            r"make the ports agree",
        ),
        (
            {"controller.quorum.voters": VOTERS, "node.id": "4", "process.roles": "broker",
             "listeners": "PLAINTEXT://127.0.0.1:9096,CONTROLLER://127.0.0.1:9196"},
            r"must not include the CONTROLLER listener",
        ),
        (
            {"controller.quorum.voters": VOTERS, "process.roles": "controller"},
            r"must not include PLAINTEXT when process\.roles is controller only",
        ),
        (
            {"controller.quorum.voters": VOTERS, "process.roles": "broker", "node.id": "4",
             "listeners": "CONTROLLER://127.0.0.1:9196"},
            r"process\.roles includes broker: listeners must include a PLAINTEXT",
        ),
        ({"listeners": "PLAINTEXT://h:1,PLAINTEXT://h:2"}, r"names the PLAINTEXT listener twice"),
        ({"listeners": "INTERNAL://h:1"}, r"PLAINTEXT://host:port and CONTROLLER://host:port"),
        ({"advertised.listeners": "CONTROLLER://h:1"}, r"must be PLAINTEXT://host:port"),
        ({"controller.listener.names": "PLAINTEXT"}, r"one listener other than PLAINTEXT"),
        ({"broker.session.timeout.ms": "0"}, r"broker\.session\.timeout\.ms must be an integer"),
        ({"offsets.topic.replication.factor": "0"}, r"from 1 to 32767"),
        (
            {"leader.imbalance.per.broker.percentage": "101"},
            r"leader\.imbalance\.per\.broker\.percentage must be an integer from 0 to 100",
        ),
        (
            {"leader.imbalance.check.interval.seconds": "0"},
            r"leader\.imbalance\.check\.interval\.seconds must be an integer from 1",
        ),
        ({"unclean.leader.election.enable": "maybe"}, r"must be true or false"),
        (
            {"controller.quorum.fetch.timeout.ms": "500"},
            r"controller\.quorum\.fetch\.timeout\.ms must be an integer from 501",
        ),
        ({"controller.quorum.voters": VOTERS, "cluster.id": "abc"}, r"cluster\.id must be a UUID"),
        ({"cluster.id": "MkU3OEVBNTcwNTJENDM2Qk"}, r"set controller\.quorum\.voters too"),
    ],
)  # fmt: skip
def test_bad_cluster_settings_say_what_to_do_in_one_line(props, says):
    with pytest.raises(ConfigError, match=says) as error:
        BrokerConfig.from_properties(props)
    assert "\n" not in str(error.value)


def test_the_port_flag_replaces_only_the_client_listener():
    from broker.main import build_parser, config_from_args

    args = build_parser().parse_args(
        ["--port", "9300", "--config", f"controller.quorum.voters={VOTERS}",
         "--config", "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9192"]
    )  # fmt: skip
    config = config_from_args(args)
    assert config.port == 9300 and str(config.controller_listener) == "CONTROLLER://127.0.0.1:9192"
