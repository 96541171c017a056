"""The replica manager follows the image: lead, follow, delete; checkpoints its high
watermarks in Kafka's replication-offset-checkpoint and seeds them from it at start."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from kio.schema.errors import ErrorCode

from broker.metadata.image import MetadataImage
from broker.metadata.records import (
    PartitionChangeRecord,
    PartitionRecord,
    RemoveTopicRecord,
    TopicRecord,
)
from broker.protocol.batch import validate_produced
from broker.replica.manager import ReplicaManager
from broker.storage import LogConfig
from broker.storage.checkpoint import read_offsets, write_offsets
from broker.storage.manager import LogManager
from tests.support.batches import make_batch

ME = 0
TOPIC_ID = uuid.UUID(int=11)
NOW_MS = 1_700_000_000_000


def image_with_topic(partitions: int = 2) -> MetadataImage:
    return MetadataImage().apply_all(
        [
            TopicRecord("t", TOPIC_ID),
            *(PartitionRecord(i, TOPIC_ID, (ME,), (ME,), ME) for i in range(partitions)),
        ]
    )


def started(root: Path, image: MetadataImage) -> ReplicaManager:
    """A manager over ``root`` holding ``image``'s partitions, as a node's start makes it."""
    manager = ReplicaManager(LogManager(root), ME, LogConfig())
    manager.load(image, frozenset())
    manager.apply(MetadataImage(), image)
    return manager


def produce(manager: ReplicaManager, index: int, count: int) -> None:
    replica = manager.replica("t", index)
    assert replica is not None
    for _ in range(count):
        batch = make_batch([b"v"])
        replica.append(batch, validate_produced(batch), NOW_MS)


def test_high_watermarks_are_checkpointed_and_seed_the_next_start(tmp_path) -> None:
    image = image_with_topic()
    manager = started(tmp_path, image)
    produce(manager, 0, 3)
    produce(manager, 1, 1)
    manager.checkpoint()
    assert read_offsets(tmp_path / "replication-offset-checkpoint") == {("t", 0): 3, ("t", 1): 1}
    manager.close()

    # As if the last checkpoint was taken before the last write, and a follower joined the
    # ISR: until it reports, the high watermark is what the checkpoint says.
    write_offsets(tmp_path / "replication-offset-checkpoint", {("t", 0): 2, ("t", 1): 1})
    widened = image.apply(PartitionChangeRecord(0, TOPIC_ID, replicas=(ME, 1), isr=(ME, 1)))
    again = started(tmp_path, widened)
    assert again.high_watermarks() == {("t", 0): 2, ("t", 1): 1}
    again.replica("t", 0).update_follower(1, 3)
    assert again.high_watermarks()[("t", 0)] == 3
    again.close()


def test_image_changes_make_replicas_lead_follow_and_go(tmp_path) -> None:
    image = image_with_topic()
    manager = started(tmp_path, image)
    assert manager.replica("t", 0).check_leader(0) is None

    moved = image.apply(PartitionChangeRecord(0, TOPIC_ID, replicas=(ME, 1), isr=(ME, 1), leader=1))
    manager.apply(image, moved)
    follower = manager.replica("t", 0)
    assert follower.check_leader(-1) == ErrorCode.not_leader_or_follower
    assert follower.leader_epoch == 1
    assert manager.replica("t", 1).check_leader(0) is None  # untouched

    back = moved.apply(PartitionChangeRecord(0, TOPIC_ID, leader=ME))
    manager.apply(moved, back)
    assert manager.replica("t", 0).check_leader(2) is None

    removed = back.apply(RemoveTopicRecord(TOPIC_ID))
    manager.apply(back, removed)
    assert manager.replica("t", 0) is None and manager.replica("t", 1) is None
    assert (tmp_path / "t-0").is_dir()  # on disk until the controller's save is durable
    asyncio.run(manager.remove(back.topics["t"]))
    assert not (tmp_path / "t-0").exists() and not (tmp_path / "t-1").exists()
    manager.close()


def test_a_start_opens_only_this_nodes_replicas_and_sets_other_directories_aside(tmp_path):
    # Partition 0 is this node's, partition 1 another broker's (a cluster image).
    mine_and_theirs = MetadataImage().apply_all(
        [
            TopicRecord("t", TOPIC_ID),
            PartitionRecord(0, TOPIC_ID, (ME, 1), (ME, 1), 1),
            PartitionRecord(1, TOPIC_ID, (1, 2), (1, 2), 1),
        ]
    )
    everything = image_with_topic(partitions=2)  # a directory left for both partitions
    started(tmp_path, everything).close()
    manager = started(tmp_path, mine_and_theirs)
    assert manager.replica("t", 0) is not None and manager.replica("t", 1) is None
    assert sorted(p.name for p in tmp_path.glob("t-1*")) != ["t-1"]  # set aside, not served
    manager.close()
    fresh = tmp_path / "fresh"
    started(fresh, mine_and_theirs).close()
    assert not (fresh / "t-1").exists()  # never made for another broker


def test_taking_over_a_leadership_answers_the_followers_held_fetches(tmp_path) -> None:
    """A follower's Fetch held here names only the partitions it followed from this node
    before: when this node takes over another partition that follower replicates, the held
    Fetch is answered at once so the next one names it, and an acks=all produce to the new
    leader does not wait out the follower's long poll. A change that keeps this node leading,
    or a fetcher that replicates none of it, is not woken."""

    async def scenario() -> None:
        image = MetadataImage().apply_all(
            [TopicRecord("t", TOPIC_ID), PartitionRecord(0, TOPIC_ID, (ME, 1, 2), (ME, 1, 2), 2)]
        )
        manager = started(tmp_path, image)
        loop = asyncio.get_running_loop()
        follower, other = loop.create_future(), loop.create_future()
        from_follower, from_other = manager.hold(1, follower), manager.hold(3, other)

        took_over = image.apply(PartitionChangeRecord(0, TOPIC_ID, isr=(ME, 1), leader=ME))
        manager.apply(image, took_over)
        assert follower.done() and from_follower.new_partition
        assert not other.done() and not from_other.new_partition
        manager.release(1, from_follower)

        again = loop.create_future()
        held_again = manager.hold(1, again)
        widened = took_over.apply(PartitionChangeRecord(0, TOPIC_ID, isr=(ME, 1, 2)))
        manager.apply(took_over, widened)
        assert not again.done() and not held_again.new_partition
        manager.release(1, held_again)
        manager.release(3, from_other)
        manager.close()

    asyncio.run(scenario())
