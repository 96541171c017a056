"""Where the single node keeps its metadata: ``cluster-metadata.json``, rewritten atomically.

Holds the cluster id, the next free producer id, each topic's id, config overrides and the
leader epoch of each partition, the dynamic broker configs (cluster-wide under "", and this
broker's under its id), and the ids of topics being created or deleted ("doomed": their
directories are removed at the next start, see ``LocalController``). Reading it yields
the records that rebuild the image. Only single-node mode (no ``controller.quorum.voters``)
keeps it; a cluster node keeps the ``__cluster_metadata`` log instead. Nothing but
:class:`LocalController` knows it exists.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from broker.metadata.image import MetadataImage
from broker.metadata.records import (
    ConfigRecord,
    ConfigResourceType,
    MetadataRecord,
    PartitionRecord,
    ProducerIdsRecord,
    TopicRecord,
)
from broker.storage.checkpoint import write_atomically

IMAGE_FILE = "cluster-metadata.json"


@dataclass(frozen=True)
class StoredMetadata:
    cluster_id: str | None
    records: list[MetadataRecord]
    doomed: frozenset[uuid.UUID]


class JsonMetadataStore:
    """``cluster-metadata.json`` in the data directory; every partition led by ``node_id``."""

    def __init__(self, data_dir: Path, node_id: int) -> None:
        self.path = data_dir / IMAGE_FILE
        self._node_id = node_id
        self._generation = 0  # of the last text taken
        self._written = 0  # the generation on disk
        self._writing = threading.Lock()

    def read(self) -> StoredMetadata:
        stored = json.loads(self.path.read_text()) if self.path.exists() else {}
        node = self._node_id
        records: list[MetadataRecord] = []
        for name, entry in stored.get("topics", {}).items():
            topic_id = uuid.UUID(entry["id"])
            records.append(TopicRecord(name, topic_id))
            records.extend(
                ConfigRecord(ConfigResourceType.TOPIC, name, key, value)
                for key, value in entry["configs"].items()
            )
            records.extend(
                PartitionRecord(index, topic_id, (node,), (node,), node, leader_epoch=epoch)
                for index, epoch in enumerate(entry["leader_epochs"])
            )
        records.extend(
            ConfigRecord(ConfigResourceType.BROKER, resource, key, value)
            for resource, values in stored.get("broker_configs", {}).items()
            for key, value in values.items()
        )
        records.append(ProducerIdsRecord(node, 0, stored.get("next_producer_id", 0)))
        doomed = frozenset(uuid.UUID(topic_id) for topic_id in stored.get("doomed", {}).values())
        return StoredMetadata(stored.get("cluster_id"), records, doomed)

    def take(
        self, cluster_id: str, image: MetadataImage, doomed: Mapping[str, uuid.UUID]
    ) -> tuple[int, str]:
        """The file's text for this state, with the generation that orders it."""
        self._generation += 1
        text = {
            "cluster_id": cluster_id,
            "next_producer_id": image.next_producer_id,
            "doomed": {name: str(topic_id) for name, topic_id in doomed.items()},
            "broker_configs": {
                resource: dict(values)
                for (resource_type, resource), values in image.configs.items()
                if resource_type == ConfigResourceType.BROKER
            },
            "topics": {
                topic.name: {
                    "id": str(topic.topic_id),
                    "configs": dict(image.topic_config(topic.name)),
                    "leader_epochs": [
                        topic.partitions[index].leader_epoch for index in sorted(topic.partitions)
                    ],
                }
                for topic in image.topics.values()
            },
        }
        return self._generation, json.dumps(text, indent=1, sort_keys=True)

    def write(self, generation: int, text: str) -> None:
        """Write one text, never over a newer one: a later generation holds every change an
        earlier one did, so an earlier one still waiting is done already. Thread-safe."""
        with self._writing:
            if generation > self._written:
                write_atomically(self.path, text)
                self._written = generation
