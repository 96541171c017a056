"""The single node's cluster-metadata.json keeps the dynamic broker configs with the topics'."""

from __future__ import annotations

import uuid

from broker.metadata.image import MetadataImage
from broker.metadata.records import (
    ConfigRecord,
    ConfigResourceType,
    PartitionRecord,
    TopicRecord,
)
from broker.metadata.store import JsonMetadataStore

TOPIC, BROKER = ConfigResourceType.TOPIC, ConfigResourceType.BROKER


def test_topic_and_broker_configs_are_read_back_as_written(tmp_path) -> None:
    topic_id = uuid.UUID(int=7)
    image = MetadataImage().apply_all(
        [
            TopicRecord("tweets", topic_id),
            PartitionRecord(0, topic_id, (0,), (0,), 0),
            ConfigRecord(TOPIC, "tweets", "retention.ms", "1000"),
            ConfigRecord(BROKER, "", "log.retention.ms", "2000"),
            ConfigRecord(BROKER, "0", "log.segment.bytes", "300000"),
        ]
    )
    store = JsonMetadataStore(tmp_path, node_id=0)
    store.write(*store.take("cluster", image, {}))

    stored = JsonMetadataStore(tmp_path, node_id=0).read()
    assert MetadataImage().apply_all(stored.records).configs == image.configs
