"""What a new image asks of one node: partitions to lead, to follow, and to delete.

Kafka's ``TopicsDelta.localChanges``: comparing two images, every partition whose
registration changed and that lists this node as a replica becomes a leader or follower
change; a partition of a removed topic, or one this node is no longer a replica of, is
deleted here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from broker.metadata.image import MetadataImage, PartitionRegistration, TopicImage

LocalPartition = tuple[TopicImage, int, PartitionRegistration]


@dataclass
class LocalChanges:
    leaders: list[LocalPartition] = field(default_factory=list)
    followers: list[LocalPartition] = field(default_factory=list)
    deletes: list[tuple[TopicImage, int]] = field(default_factory=list)


def local_changes(old: MetadataImage, new: MetadataImage, node_id: int) -> LocalChanges:
    changes = LocalChanges()
    for topic_id, topic in new.topics_by_id.items():
        before = old.topics_by_id.get(topic_id)
        if before is topic:  # images share what did not change
            continue
        for index, partition in topic.partitions.items():
            previous = before.partitions.get(index) if before is not None else None
            if previous == partition:
                continue
            if node_id in partition.replicas:
                target = changes.leaders if partition.leader == node_id else changes.followers
                target.append((topic, index, partition))
            elif previous is not None and node_id in previous.replicas:
                changes.deletes.append((topic, index))
    for topic_id, topic in old.topics_by_id.items():
        if topic_id not in new.topics_by_id:
            changes.deletes.extend(
                (topic, index)
                for index, partition in topic.partitions.items()
                if node_id in partition.replicas
            )
    return changes
