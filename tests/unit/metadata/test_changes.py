"""The changes one node derives from two images: lead, follow, delete."""

from __future__ import annotations

import uuid

from broker.metadata.changes import local_changes
from broker.metadata.image import MetadataImage
from broker.metadata.records import (
    PartitionChangeRecord,
    PartitionRecord,
    RemoveTopicRecord,
    TopicRecord,
)

ME = 1
TOPIC_ID = uuid.UUID(int=3)
OTHER_ID = uuid.UUID(int=4)


def names(entries) -> list[tuple[str, int]]:
    return sorted((entry[0].name, entry[1]) for entry in entries)


def start() -> MetadataImage:
    return MetadataImage().apply_all(
        [
            TopicRecord("t", TOPIC_ID),
            PartitionRecord(0, TOPIC_ID, replicas=(1, 2), isr=(1, 2), leader=1),
            PartitionRecord(1, TOPIC_ID, replicas=(1, 2), isr=(1, 2), leader=2),
            PartitionRecord(2, TOPIC_ID, replicas=(2, 3), isr=(2, 3), leader=2),
        ]
    )


def test_a_new_topic_makes_this_node_lead_or_follow_its_own_replicas_only() -> None:
    changes = local_changes(MetadataImage(), start(), ME)
    assert names(changes.leaders) == [("t", 0)]
    assert names(changes.followers) == [("t", 1)]
    assert changes.deletes == []


def test_only_changed_partitions_are_reported() -> None:
    before = start()
    assert local_changes(before, before, ME).leaders == []
    after = before.apply(PartitionChangeRecord(0, TOPIC_ID, leader=2))
    changes = local_changes(before, after, ME)
    assert names(changes.followers) == [("t", 0)] and changes.leaders == []
    (_, _, partition) = changes.followers[0]
    assert partition.leader_epoch == 1


def test_a_replica_moved_away_or_a_removed_topic_is_deleted_here() -> None:
    before = start().apply_all(
        [TopicRecord("u", OTHER_ID), PartitionRecord(0, OTHER_ID, (1,), (1,), 1)]
    )
    moved = before.apply(PartitionChangeRecord(1, TOPIC_ID, replicas=(2, 3), isr=(2, 3)))
    changes = local_changes(before, moved, ME)
    assert names(changes.deletes) == [("t", 1)] and changes.leaders == changes.followers == []
    removed = moved.apply(RemoveTopicRecord(TOPIC_ID))
    assert names(local_changes(moved, removed, ME).deletes) == [("t", 0)]
    assert names(local_changes(before, removed, ME).deletes) == [("t", 0), ("t", 1)]
