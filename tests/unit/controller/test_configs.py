"""AlterConfigs and IncrementalAlterConfigs as the controller decides them: the ConfigRecords
written and each resource's answer."""

from __future__ import annotations

from kio.schema.errors import ErrorCode

from broker.controller.configs import ConfigChange, ConfigOp, OpType, alter_configs
from broker.metadata.records import ConfigResourceType
from broker.metadata.topics import broker_log_defaults
from broker.storage.config import LogConfig
from tests.unit.controller.harness import Harness
from tests.unit.controller.test_quorum import Cluster, run

TOPIC, BROKER = ConfigResourceType.TOPIC, ConfigResourceType.BROKER


def change(resource_type, name, *ops, replace=False) -> ConfigChange:
    return ConfigChange(resource_type, name, tuple(ConfigOp(*op) for op in ops), replace)


def started() -> Harness:
    h = Harness()
    h.start(1)
    h.create("tweets", configs={"retention.ms": "5000", "segment.bytes": "100000"})
    return h


def test_set_delete_append_and_subtract_change_a_topics_overrides() -> None:
    h = started()
    answers = h.commit(
        alter_configs(
            h.image,
            [
                change(
                    TOPIC,
                    "tweets",
                    ("retention.ms", OpType.SET, "1000"),
                    ("segment.bytes", OpType.DELETE, None),
                    ("cleanup.policy", OpType.APPEND, "compact"),
                )
            ],
        )
    )
    assert [a.error_code for a in answers] == [ErrorCode.none]
    # APPEND starts from Kafka's default (delete), as Kafka's controller does.
    assert h.image.topic_config("tweets") == {
        "retention.ms": "1000",
        "cleanup.policy": "delete,compact",
    }
    h.commit(alter_configs(h.image, [change(TOPIC, "tweets", ("cleanup.policy", 3, "delete"))]))
    assert h.image.topic_config("tweets")["cleanup.policy"] == "compact"


def test_alter_configs_replaces_the_whole_set() -> None:
    h = started()
    h.commit(
        alter_configs(
            h.image, [change(TOPIC, "tweets", ("flush.ms", OpType.SET, "10"), replace=True)]
        )
    )
    assert h.image.topic_config("tweets") == {"flush.ms": "10"}


def test_refusals_carry_kafkas_codes_and_the_reason() -> None:
    h = started()
    before = h.image
    cases = [
        (change(TOPIC, "tweets", ("retention.ms", 0, "soon")), ErrorCode.invalid_config,
         "retention.ms must be an integer"),
        (change(TOPIC, "tweets", ("retention.msx", 0, "1")), ErrorCode.invalid_config,
         "unknown topic config 'retention.msx'"),
        (change(TOPIC, "tweets", ("retention.ms", OpType.APPEND, "1")), ErrorCode.invalid_config,
         "Can't APPEND to key retention.ms because its type is not LIST."),
        (change(TOPIC, "nope", ("retention.ms", 0, "1")), ErrorCode.unknown_topic_or_partition,
         "The topic 'nope' does not exist."),
        (change(TOPIC, "", ("retention.ms", 0, "1")), ErrorCode.invalid_request,
         "Default topic resources are not allowed."),
        (change(TOPIC, "tweets", ("flush.ms", 0, "1"), ("flush.ms", 0, "2")),
         ErrorCode.invalid_request, "duplicate config keys"),
        (change(TOPIC, "tweets", ("flush.ms", 0, None)), ErrorCode.invalid_request,
         "Null value not supported"),
        (change(TOPIC, "tweets", ("flush.ms", 9, "1")), ErrorCode.invalid_request,
         "Unknown operations type 9"),
        (change(BROKER, "", ("num.partitions", 0, "3")), ErrorCode.invalid_request,
         "Cannot update these configs dynamically: num.partitions"),
        (change(BROKER, "", ("log.retention.ms", 0, "-5")), ErrorCode.invalid_request,
         "log.retention.ms must be an integer from -1"),
        (change(BROKER, "", ("no.such.setting", 0, "1")), ErrorCode.invalid_request,
         "unknown broker config(s): no.such.setting"),
        (change(BROKER, "x", ("log.retention.ms", 0, "1")), ErrorCode.invalid_request,
         "Unable to parse broker name"),
        (change(3, "g", ("a", 0, "1")), ErrorCode.invalid_request, "Unknown resource type 3"),
    ]  # fmt: skip
    for wanted, code, reason in cases:
        result = alter_configs(h.image, [wanted])
        assert result.records == (), wanted
        (answer,) = result.answer
        assert (answer.error_code, reason in (answer.message or "")) == (code, True), answer
    assert h.image is before


def test_each_resource_is_answered_on_its_own_and_a_repeated_one_is_refused() -> None:
    h = started()
    twice = change(TOPIC, "tweets", ("flush.ms", 0, "1"))
    answers = h.commit(
        alter_configs(
            h.image,
            [
                twice,
                change(BROKER, "0", ("log.segment.bytes", 0, "200000")),
                change(TOPIC, "nope", ("flush.ms", 0, "1")),
                twice,
            ],
        )
    )
    assert [a.error_code for a in answers] == [
        ErrorCode.invalid_request,
        ErrorCode.none,
        ErrorCode.unknown_topic_or_partition,
        ErrorCode.invalid_request,
    ]
    assert "flush.ms" not in h.image.topic_config("tweets")
    assert h.image.configs[(BROKER, "0")] == {"log.segment.bytes": "200000"}


def test_dynamic_broker_configs_set_every_topics_defaults_per_broker_over_cluster_wide() -> None:
    h = started()
    h.commit(
        alter_configs(
            h.image,
            [
                change(
                    BROKER, "", ("log.retention.ms", 0, "1000"), ("min.insync.replicas", 0, "2")
                ),
                change(BROKER, "0", ("log.retention.ms", 0, "2000")),
            ],
        )
    )
    static = LogConfig(retention_ms=9, flush_ms=7)
    on_0 = broker_log_defaults(h.image, 0, static)
    on_1 = broker_log_defaults(h.image, 1, static)
    assert (on_0.retention_ms, on_0.min_insync_replicas, on_0.flush_ms) == (2000, 2, 7)
    assert (on_1.retention_ms, on_1.min_insync_replicas, on_1.flush_ms) == (1000, 2, 7)
    # A broker's replace that leaves out a setting removes it; the cluster's stays.
    h.commit(alter_configs(h.image, [change(BROKER, "0", replace=True)]))
    assert (BROKER, "0") not in h.image.configs
    assert broker_log_defaults(h.image, 0, static).retention_ms == 1000


@run
async def test_the_quorum_controller_writes_config_changes_to_the_log_unless_validate_only():
    c = Cluster()
    await c.start(1)
    await c.create("t", 1, 1)
    retention = [change(TOPIC, "t", ("retention.ms", 0, "1000"))]
    entries = c.log.committed
    (checked,) = await c.controller.alter_configs(retention, validate_only=True)
    assert checked.error_code == ErrorCode.none
    assert c.log.committed == entries and c.controller.image.topic_config("t") == {}

    (done,) = await c.controller.alter_configs(retention)
    assert done.error_code == ErrorCode.none
    assert c.controller.image.topic_config("t") == {"retention.ms": "1000"}
    # Another controller that replicated the log has the change.
    other = Cluster(node_id=1)
    other.log.entries.extend(c.log.entries)
    other.log.commit()
    assert other.controller.image.topic_config("t") == {"retention.ms": "1000"}
