"""A config change in the image reaches the live logs at once: a topic's own, and the dynamic
broker configs (this broker's over the cluster-wide default) of the topics without one."""

from __future__ import annotations

from broker.metadata.image import MetadataImage
from broker.metadata.records import ConfigRecord, ConfigResourceType
from broker.replica.manager import ReplicaManager
from broker.storage import LogConfig
from broker.storage.manager import LogManager
from tests.unit.replica.test_manager import ME, image_with_topic

TOPIC, BROKER = ConfigResourceType.TOPIC, ConfigResourceType.BROKER


def test_topic_and_dynamic_broker_configs_reach_the_live_logs(tmp_path) -> None:
    image = image_with_topic()
    manager = ReplicaManager(LogManager(tmp_path), ME, LogConfig(flush_ms=500))
    manager.load(image, frozenset())
    manager.apply(MetadataImage(), image)

    def config(index: int = 0) -> LogConfig:
        replica = manager.replica("t", index)
        assert replica is not None
        return replica.log.config

    steps = [
        (ConfigRecord(BROKER, "", "log.retention.ms", "1000"), (1000, 1048588, 500)),
        (ConfigRecord(BROKER, str(ME), "log.retention.ms", "2000"), (2000, 1048588, 500)),
        (ConfigRecord(BROKER, "7", "log.retention.ms", "9"), (2000, 1048588, 500)),  # not us
        (ConfigRecord(TOPIC, "t", "max.message.bytes", "100"), (2000, 100, 500)),
        (ConfigRecord(TOPIC, "t", "retention.ms", "3000"), (3000, 100, 500)),
        (ConfigRecord(BROKER, str(ME), "log.retention.ms", None), (3000, 100, 500)),
        (ConfigRecord(TOPIC, "t", "retention.ms", None), (1000, 100, 500)),
    ]
    for record, (retention_ms, max_message_bytes, flush_ms) in steps:
        old, image = image, image.apply(record)
        manager.apply(old, image)
        for index in (0, 1):
            got = config(index)
            assert (got.retention_ms, got.max_message_bytes, got.flush_ms) == (
                retention_ms, max_message_bytes, flush_ms,
            ), record  # fmt: skip
    manager.close()
