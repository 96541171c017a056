"""Config changes on a real 3-node cluster: made through a broker that is not the
controller (forwarded, written to the metadata log), seen by DescribeConfigs on every broker,
acted on at once (min.insync.replicas refuses acks=all), kept across a restart of the
controller's node from a metadata snapshot, and the same through `chirpstream configs`;
validate_only changes nothing and a bad value gets INVALID_CONFIG with the reason."""

from __future__ import annotations

import subprocess
import sys

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)
from kio.schema.errors import ErrorCode

from tests.support.broker_process import ROOT
from tests.support.waiting import eventually
from tests.support.wire import WireClient

pytestmark = pytest.mark.cluster

TOPIC, BROKER = 2, 4
DYNAMIC_TOPIC_CONFIG, DYNAMIC_DEFAULT_BROKER_CONFIG, STATIC_BROKER_CONFIG = 1, 3, 4


def alter(bootstrap: str, name: str, key: str, value: str, *, validate_only=False) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    entry = ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)
    resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=[entry])
    admin.incremental_alter_configs([resource], validate_only=validate_only)[resource].result(30)


def config_on(node, resource_type: int, name: str, key: str) -> tuple[str, int]:
    """(value, source) of one config, as that node's own DescribeConfigs answers."""
    with WireClient(node.port) as wire:
        answer = wire.request(
            32, 4,
            {"resources": [{"resource_type": resource_type, "resource_name": name,
                            "configuration_keys": [key]}],
             "include_synonyms": False, "include_documentation": False},
        )  # fmt: skip
    (entry,) = answer.results[0].configs
    return entry.value, entry.config_source


def everywhere(cluster, resource_type: int, name: str, key: str, wanted: tuple[str, int]):
    eventually(
        lambda: all(
            config_on(node, resource_type, name, key) == wanted for node in cluster.brokers
        ),
        f"every broker describes {key}={wanted}",
    )


def produce_all_acks(bootstrap: str) -> KafkaError | None:
    errors = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "retries": 0})
    producer.produce("tweets", b"hello", on_delivery=lambda err, _: errors.append(err))
    producer.flush(30)
    return errors[0]


def snapshots(cluster, node_id: int) -> list[str]:
    folder = cluster.node(node_id).layout.folder
    return sorted(p.name for p in folder.rglob("__cluster_metadata-0/*.checkpoint"))


def chirpstream(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chirpstream", "configs", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_a_config_change_through_one_broker_reaches_every_broker_and_the_log(cluster_factory):
    cluster = cluster_factory(
        brokers=3, controllers=1,
        config={"metadata.log.max.record.bytes.between.snapshots": "2048"},
    )  # fmt: skip
    cluster.create_topic("tweets", replication=3)
    through = cluster.node(2).bootstrap  # not the controller: the change is forwarded

    alter(through, "tweets", "min.insync.replicas", "4", validate_only=True)
    assert config_on(cluster.node(2), TOPIC, "tweets", "min.insync.replicas")[0] == "1"
    with pytest.raises(KafkaException) as bad:
        alter(through, "tweets", "min.insync.replicas", "none")
    assert bad.value.args[0].code() == KafkaError.INVALID_CONFIG
    assert "min.insync.replicas must be an integer" in bad.value.args[0].str()

    alter(through, "tweets", "min.insync.replicas", "4")  # more than the 3 replicas
    everywhere(cluster, TOPIC, "tweets", "min.insync.replicas", ("4", DYNAMIC_TOPIC_CONFIG))
    assert produce_all_acks(cluster.bootstrap).code() == KafkaError.NOT_ENOUGH_REPLICAS

    default = ["--bootstrap-server", through, "--entity-type", "brokers", "--entity-default"]
    done = chirpstream(*default, "--alter", "--add-config", "log.retention.ms=3600000")
    assert done.stdout == "Completed updating default config for brokers in the cluster.\n"
    inherited = ("3600000", DYNAMIC_DEFAULT_BROKER_CONFIG)
    everywhere(cluster, TOPIC, "tweets", "retention.ms", inherited)
    # The tool sends a broker's own configs to that broker, whichever it bootstraps from.
    broker_1 = ["--bootstrap-server", cluster.node(0).bootstrap, "--entity-type", "brokers",
                "--entity-name", "1"]  # fmt: skip
    done = chirpstream(*broker_1, "--alter", "--add-config", "log.segment.bytes=500000")
    assert done.stdout == "Completed updating config for broker 1.\n", done.stderr
    assert chirpstream(*broker_1, "--describe").stdout.splitlines() == [
        "Dynamic configs for broker 1 are:",
        "  log.segment.bytes=500000 sensitive=false synonyms={DYNAMIC_BROKER_CONFIG:"
        "log.segment.bytes=500000, DEFAULT_CONFIG:log.segment.bytes=1073741824}",
    ]
    assert config_on(cluster.node(1), TOPIC, "tweets", "segment.bytes") == ("500000", 2)
    assert config_on(cluster.node(2), TOPIC, "tweets", "segment.bytes")[1] == 5
    # A broker's own resource is answered by that broker alone, as Kafka's are.
    with WireClient(cluster.node(0).port) as wire:
        answer = wire.request(
            44, 1,
            {"resources": [{"resource_type": BROKER, "resource_name": "1", "configs": [
                {"name": "log.retention.ms", "config_operation": 0, "value": "1"}]}],
             "validate_only": False},
        )  # fmt: skip
    (refused,) = answer.responses
    assert refused.error_code == ErrorCode.invalid_request
    assert refused.error_message == "Unexpected broker id, expected 0, but received 1"

    # The only controller restarts from a metadata snapshot taken after every change above.
    taken = snapshots(cluster, 0)
    for index in range(3):
        cluster.create_topic(f"pad{index}", partitions=3, replication=3)
    eventually(lambda: snapshots(cluster, 0) != taken, "node 0 snapshots its metadata again")
    cluster.restart(0)
    assert "loading snapshot" in cluster.node(0).read_log()
    everywhere(cluster, TOPIC, "tweets", "min.insync.replicas", ("4", DYNAMIC_TOPIC_CONFIG))
    everywhere(cluster, TOPIC, "tweets", "retention.ms", inherited)
    alter(cluster.node(1).bootstrap, "tweets", "min.insync.replicas", "2")
    everywhere(cluster, TOPIC, "tweets", "min.insync.replicas", ("2", DYNAMIC_TOPIC_CONFIG))
    assert eventually(lambda: produce_all_acks(cluster.bootstrap) is None, "acks=all accepted")


def broker_configs(node, name: str) -> dict[str, tuple[str, int, bool]]:
    """Every entry of a broker resource as ``node`` describes it: (value, source, read_only)."""
    with WireClient(node.port) as wire:
        answer = wire.request(
            32, 4,
            {"resources": [{"resource_type": BROKER, "resource_name": name,
                            "configuration_keys": None}],
             "include_synonyms": False, "include_documentation": False},
        )  # fmt: skip
    return {e.name: (e.value, e.config_source, e.read_only) for e in answer.results[0].configs}


def test_the_controllers_static_election_settings_stay_static(cluster_factory):
    """A controller's own unclean.leader.election.enable and auto.leader.rebalance.enable
    are never written into the metadata: a fresh cluster has no dynamic default nobody set,
    and the brokers describe both as their properties set them."""
    static = {"unclean.leader.election.enable": "true", "auto.leader.rebalance.enable": "false"}
    cluster = cluster_factory(brokers=1, controllers=1, config=static)
    # Once the topic is seen, anything the controller wrote on becoming active is too.
    cluster.create_topic("tweets", replication=1)
    node = cluster.node(0)
    assert broker_configs(node, "") == {}
    described = broker_configs(node, "0")
    assert described["unclean.leader.election.enable"] == ("true", STATIC_BROKER_CONFIG, False)
    assert described["auto.leader.rebalance.enable"] == ("false", STATIC_BROKER_CONFIG, True)
