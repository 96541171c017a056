"""AlterConfigs, IncrementalAlterConfigs and DescribeConfigs through confluent-kafka (and
kafka-python, aiokafka) against a real single broker: changes are validated, described with
Kafka's sources, synonyms and documentation, take effect on the live partitions at once and
survive a restart; and `chirpstream configs` end to end."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource as AioResource
from aiokafka.admin.config_resource import ConfigResourceType as AioType
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewTopic,
    ResourceType,
)
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource as KpResource
from kafka.admin import ConfigResourceType as KpType
from kafka.admin import NewTopic as KpTopic

from tests.support.broker_process import ROOT
from tests.support.waiting import eventually
from tests.support.wire import WireClient

pytestmark = pytest.mark.compat

SET, APPEND = AlterConfigOpType.SET, AlterConfigOpType.APPEND


def topic(name: str, *ops: tuple[str, str | None, AlterConfigOpType]) -> ConfigResource:
    entries = [ConfigEntry(k, v, incremental_operation=op) for k, v, op in ops]
    return ConfigResource(ResourceType.TOPIC, name, incremental_configs=entries)


def incremental(admin: AdminClient, resource: ConfigResource, **options) -> None:
    admin.incremental_alter_configs([resource], **options)[resource].result(10)


def error_of(call) -> KafkaError:
    with pytest.raises(KafkaException) as refused:
        call()
    return refused.value.args[0]


def described(admin: AdminClient, resource_type: ResourceType, name: str) -> dict:
    resource = ConfigResource(resource_type, name)
    return admin.describe_configs([resource])[resource].result(10)


def test_incremental_changes_are_validated_described_and_survive_a_restart(broker_factory):
    broker = broker_factory()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("tweets", 1, 1)])["tweets"].result(10)

    incremental(admin, topic("tweets", ("retention.ms", "3600000", SET),
                             ("cleanup.policy", "compact", APPEND)))  # fmt: skip
    incremental(admin, topic("tweets", ("segment.bytes", "20000", SET)), validate_only=True)
    bad = error_of(lambda: incremental(admin, topic("tweets", ("retention.ms", "soon", SET))))
    assert bad.code() == KafkaError.INVALID_CONFIG
    assert "retention.ms must be an integer" in bad.str()
    missing = error_of(lambda: incremental(admin, topic("nope", ("retention.ms", "1", SET))))
    assert missing.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    # A broker's own dynamic config: every topic without an override inherits it.
    this_broker = ConfigResource(
        ResourceType.BROKER, "0",
        incremental_configs=[ConfigEntry("log.segment.bytes", "300000", incremental_operation=SET)],
    )  # fmt: skip
    incremental(admin, this_broker)
    static = ConfigResource(
        ResourceType.BROKER, "0",
        incremental_configs=[ConfigEntry("num.partitions", "3", incremental_operation=SET)],
    )  # fmt: skip
    refused = error_of(lambda: incremental(admin, static))
    assert refused.code() == KafkaError.INVALID_REQUEST
    assert "Cannot update these configs dynamically: num.partitions" in refused.str()

    def check() -> None:
        configs = described(admin, ResourceType.TOPIC, "tweets")
        assert configs["retention.ms"].value == "3600000"
        assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
        assert configs["cleanup.policy"].value == "delete,compact"
        assert configs["segment.bytes"].value == "300000"  # validate_only changed nothing
        assert configs["segment.bytes"].source == ConfigSource.DYNAMIC_BROKER_CONFIG.value
        synonyms = configs["segment.bytes"].synonyms
        assert synonyms["log.segment.bytes"].source == ConfigSource.DEFAULT_CONFIG.value
        assert configs["flush.ms"].source == ConfigSource.DEFAULT_CONFIG.value
        own = described(admin, ResourceType.BROKER, "0")["log.segment.bytes"]
        assert (own.value, own.source, own.is_read_only) == (
            "300000", ConfigSource.DYNAMIC_BROKER_CONFIG.value, False,
        )  # fmt: skip

    check()
    broker.restart(clean=True)
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    check()


@pytest.mark.filterwarnings("ignore:alter_configs has been deprecated")  # Kafka's tool uses it
def test_alter_configs_replaces_a_topics_whole_set(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    config = {"retention.ms": "3600000", "flush.ms": "500"}
    admin.create_topics([NewTopic("tweets", 1, 1, config=config)])["tweets"].result(10)
    replaced = ConfigResource(ResourceType.TOPIC, "tweets", set_config={"flush.ms": "250"})
    admin.alter_configs([replaced])[replaced].result(10)
    configs = described(admin, ResourceType.TOPIC, "tweets")
    assert configs["flush.ms"].value == "250"
    assert configs["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    bad = ConfigResource(ResourceType.TOPIC, "tweets", set_config={"flush.ms": "-3"})
    refused = error_of(lambda: admin.alter_configs([bad])[bad].result(10))
    assert refused.code() == KafkaError.INVALID_CONFIG and "flush.ms" in refused.str()


def test_lowered_retention_deletes_old_segments_and_lowered_max_message_bytes_refuses(
    broker_factory,
):
    broker = broker_factory({"log.retention.check.interval.ms": "200"})
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    config = {"segment.bytes": "1200"}
    admin.create_topics([NewTopic("tweets", 1, 1, config=config)])["tweets"].result(10)
    hour_ago = int(time.time() * 1000) - 3_600_000
    producer = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0})
    for stamp in [hour_ago] * 10 + [0] * 3:  # 0: now. One batch each, a segment per 1 or 2
        producer.produce("tweets", b"x" * 500, timestamp=stamp)
        assert producer.flush(10) == 0
    low = lambda: broker_low_watermark(broker.bootstrap)  # noqa: E731
    assert low() == 0  # an hour is well within the default 7 days

    incremental(admin, topic("tweets", ("retention.ms", "600000", SET)))
    # Every segment whose newest record is an hour old goes; the newer ones stay.
    assert eventually(lambda: low() == 10, "the hour-old segments deleted", timeout=20)

    incremental(admin, topic("tweets", ("max.message.bytes", "100", SET)))
    errors = []
    producer.produce("tweets", b"z" * 500, on_delivery=lambda err, _: errors.append(err))
    producer.flush(10)
    assert [e.code() for e in errors] == [KafkaError.MSG_SIZE_TOO_LARGE]


def broker_low_watermark(bootstrap: str) -> int:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "watermarks"})
    try:
        return consumer.get_watermark_offsets(TopicPartition("tweets", 0), timeout=10)[0]
    finally:
        consumer.close()


def chirpstream(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chirpstream", "configs", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_configs_verb_alters_and_describes_as_kafka_configs_does(broker):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("tweets", 1, 1)])["tweets"].result(10)
    server = ["--bootstrap-server", broker.bootstrap]
    tweets = [*server, "--entity-type", "topics", "--entity-name", "tweets"]

    done = chirpstream(*tweets, "--alter", "--add-config",
                       "retention.ms=3600000,cleanup.policy=[delete,compact]")  # fmt: skip
    assert (done.returncode, done.stdout) == (0, "Completed updating config for topic tweets.\n")
    shown = chirpstream(*tweets, "--describe")
    assert shown.stdout.splitlines() == [
        "Dynamic configs for topic tweets are:",
        "  cleanup.policy=delete,compact sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:"
        "cleanup.policy=delete,compact, DEFAULT_CONFIG:log.cleanup.policy=delete}",
        "  retention.ms=3600000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:"
        "retention.ms=3600000, DEFAULT_CONFIG:log.retention.hours=168}",
    ]
    assert chirpstream(*tweets, "--alter", "--delete-config", "retention.ms").returncode == 0
    again = chirpstream(*tweets, "--alter", "--delete-config", "retention.ms")
    assert (again.returncode, again.stderr) == (1, "error: Invalid config(s): retention.ms\n")
    bad = chirpstream(*tweets, "--alter", "--add-config", "retention.ms=soon")
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1
    assert "retention.ms must be an integer" in bad.stderr

    default = [*server, "--entity-type", "brokers", "--entity-default"]
    done = chirpstream(*default, "--alter", "--add-config", "log.retention.ms=7200000")
    assert done.stdout == "Completed updating default config for brokers in the cluster.\n"
    assert chirpstream(*default, "--describe").stdout.splitlines() == [
        "Default configs for brokers in the cluster are:",
        "  log.retention.ms=7200000 sensitive=false synonyms={DYNAMIC_DEFAULT_BROKER_CONFIG:"
        "log.retention.ms=7200000, DEFAULT_CONFIG:log.retention.ms=604800000}",
    ]
    retention = described(admin, ResourceType.TOPIC, "tweets")["retention.ms"]
    assert (retention.value, retention.source) == (
        "7200000", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value,
    )  # fmt: skip
    static = chirpstream(*default, "--alter", "--add-config", "num.partitions=4")
    assert (static.returncode, static.stderr) == (
        1, "error: Cannot update these configs dynamically: num.partitions\n",
    )  # fmt: skip
    no_action = chirpstream(*default)
    assert (no_action.returncode, no_action.stderr.count("\n")) == (1, 1)


def test_kafka_python_and_aiokafka_alter_and_describe_with_synonyms(broker):
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    admin.create_topics([KpTopic("tweets", 1, 1)])
    admin.alter_configs([KpResource(KpType.BROKER, "0", configs={"log.retention.ms": "4321"})])

    async def aiokafka_alter() -> None:
        client = AIOKafkaAdminClient(bootstrap_servers=broker.bootstrap)
        await client.start()
        try:
            resource = AioResource(AioType.TOPIC, "tweets", configs={"retention.ms": "1234"})
            (answer,) = await client.alter_configs([resource])
            assert [r[0] for r in answer.resources] == [0]
        finally:
            await client.close()

    asyncio.run(aiokafka_alter())
    wanted = [KpResource(KpType.TOPIC, "tweets", configs=["retention.ms"])]
    entry = admin.describe_configs(wanted, include_synonyms=True)["topic"]["tweets"]["retention.ms"]
    admin.close()
    assert (entry["value"], entry["config_source"]) == ("1234", "DYNAMIC_TOPIC_CONFIG")
    assert [(s["name"], s["value"], s["source"]) for s in entry["synonyms"]] == [
        ("retention.ms", "1234", "DYNAMIC_TOPIC_CONFIG"),
        ("log.retention.ms", "4321", "DYNAMIC_BROKER_CONFIG"),
        ("log.retention.hours", "168", "DEFAULT_CONFIG"),
    ]


def test_describe_configs_gives_documentation_when_asked_and_the_default_resources_entries(
    broker,
):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic("tweets", 1, 1)])["tweets"].result(10)

    def describe(resource_type: int, name: str, keys, docs: bool):
        with WireClient(broker.port) as wire:
            answer = wire.request(
                32, 4,
                {"resources": [{"resource_type": resource_type, "resource_name": name,
                                "configuration_keys": keys}],
                 "include_synonyms": False, "include_documentation": docs},
            )  # fmt: skip
        return answer.results[0]

    (documented,) = describe(2, "tweets", ["retention.ms"], docs=True).configs
    assert "older than this" in documented.documentation
    (plain,) = describe(2, "tweets", ["retention.ms"], docs=False).configs
    assert plain.documentation is None
    assert describe(4, "", None, docs=False).configs == ()  # no dynamic default set yet
    with WireClient(broker.port) as wire:
        wire.request(
            44, 1,
            {"resources": [{"resource_type": 4, "resource_name": "", "configs": [
                {"name": "log.flush.interval.ms", "config_operation": 0, "value": "500"}]}],
             "validate_only": False},
        )  # fmt: skip
    (flush,) = describe(4, "", None, docs=False).configs
    assert (flush.name, flush.value, flush.config_source, flush.read_only) == (
        "log.flush.interval.ms", "500", ConfigSource.DYNAMIC_DEFAULT_BROKER_CONFIG.value, False,
    )  # fmt: skip


def test_a_stored_dynamic_default_of_a_static_setting_is_not_described(broker):
    """auto.leader.rebalance.enable was a dynamic broker config for a while; a value stored
    then is ignored, as Kafka's brokers ignore a static setting among the dynamic ones."""
    broker.stop()
    stored = broker.data_dir / "cluster-metadata.json"
    metadata = json.loads(stored.read_text())
    metadata["broker_configs"] = {"": {"auto.leader.rebalance.enable": "false"}}
    stored.write_text(json.dumps(metadata))
    broker.start()
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    own = described(admin, ResourceType.BROKER, "0")["auto.leader.rebalance.enable"]
    assert (own.value, own.source, own.is_read_only) == (
        "true", ConfigSource.DEFAULT_CONFIG.value, True,
    )  # fmt: skip
    with WireClient(broker.port) as wire:  # confluent-kafka cannot name the default resource
        answer = wire.request(
            32, 4,
            {"resources": [{"resource_type": 4, "resource_name": "", "configuration_keys": None}],
             "include_synonyms": False, "include_documentation": False},
        )  # fmt: skip
    assert answer.results[0].configs == ()
