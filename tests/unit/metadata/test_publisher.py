"""The metadata publisher: committed entries become images, one decision at a time, each
batch the runtime hands over published as one change; it snapshots its image when due."""

from __future__ import annotations

import asyncio
import logging
import uuid

from broker.clock import ManualClock
from broker.metadata.codec import encode
from broker.metadata.image import MetadataImage
from broker.metadata.publisher import MetadataPublisher
from broker.metadata.records import PartitionRecord, TopicRecord
from broker.metadata.snapshot import (
    MetadataSnapshotter,
    SnapshotSettings,
    decode_snapshot,
    encode_snapshot,
)
from broker.raft.messages import Entry

TOPIC_ID = uuid.UUID(int=5)
TOPIC = [TopicRecord("t", TOPIC_ID), PartitionRecord(0, TOPIC_ID, (0, 1), (0, 1), 0)]


def test_each_entry_is_applied_whole_and_leader_changes_only_move_the_offset():
    publisher = MetadataPublisher()
    seen: list[tuple[MetadataImage, MetadataImage]] = []
    publisher.subscribe(lambda old, new: seen.append((old, new)))
    publisher.on_commit(0, Entry(1, b"", leader_change=True))
    assert (publisher.offset, seen) == (0, [])
    publisher.on_commit(1, Entry(1, encode(TOPIC)))
    assert publisher.offset == 1 and len(seen) == 1
    old, new = seen[0]
    assert "t" not in old.topics and new.topics["t"].partitions[0].replicas == (0, 1)
    assert publisher.image is new
    publisher.on_commit(1, Entry(1, encode(TOPIC)))  # replayed again: already applied
    assert len(seen) == 1


def test_an_entry_that_does_not_fit_is_logged_and_the_image_kept(caplog):
    publisher = MetadataPublisher()
    publisher.on_commit(0, Entry(1, encode(TOPIC)))
    kept = publisher.image
    with caplog.at_level(logging.ERROR, logger="broker.metadata"):
        publisher.on_commit(1, Entry(1, encode(TOPIC)))  # the topic exists already
        publisher.on_commit(2, Entry(1, b"\x07garbage"))
        assert publisher.image == kept and publisher.offset == 2
    assert sorted(r.message.split(":")[0] for r in caplog.records) == [
        "metadata entry at offset 1 not applied",
        "metadata entry at offset 2 not applied",
    ]


def test_a_log_replayed_before_anyone_subscribes_builds_one_image():
    publisher = MetadataPublisher()
    for offset in range(100):
        topic_id = uuid.UUID(int=offset + 1)
        records = [TopicRecord(f"t{offset}", topic_id), PartitionRecord(0, topic_id, (0,), (0,), 0)]
        publisher.on_commit(offset, Entry(1, encode(records)))
    assert len(publisher.image.topics) == 100 and publisher.offset == 99


def test_waiters_wake_when_what_they_wait_for_is_committed():
    async def scenario() -> tuple[bool, bool]:
        publisher = MetadataPublisher()
        waiting = asyncio.ensure_future(publisher.wait_for(lambda p: "t" in p.image.topics, 5))
        await asyncio.sleep(0)
        publisher.on_commit(0, Entry(1, encode(TOPIC)))
        shown = await waiting
        never = await publisher.wait_for(lambda p: p.offset > 10, 0.05)
        return shown, never

    assert asyncio.run(scenario()) == (True, False)


def test_a_snapshot_replaces_the_image_whole_and_replay_goes_on_after_it():
    publisher = MetadataPublisher()
    publisher.on_commit(0, Entry(1, encode(TOPIC)))
    seen: list[tuple[MetadataImage, MetadataImage]] = []
    publisher.subscribe(lambda old, new: seen.append((old, new)))
    other_id = uuid.UUID(int=6)
    state = MetadataImage().apply_all(
        [TopicRecord("u", other_id), PartitionRecord(0, other_id, (1,), (1,), 1)]
    )
    publisher.load_snapshot(10, encode_snapshot(state))
    assert publisher.offset == 9
    assert set(publisher.image.topics) == {"u"}  # "t" is gone: the snapshot is the state
    ((old, new),) = seen
    assert set(old.topics) == {"t"} and new is publisher.image
    publisher.on_commit(9, Entry(1, encode(TOPIC)))  # covered by the snapshot
    assert set(publisher.image.topics) == {"u"}
    publisher.on_commit(10, Entry(1, encode(TOPIC)))
    assert set(publisher.image.topics) == {"t", "u"}


def topic(name: str, number: int) -> bytes:
    topic_id = uuid.UUID(int=number)
    return encode([TopicRecord(name, topic_id), PartitionRecord(0, topic_id, (0,), (0,), 0)])


def test_entries_committed_together_are_published_as_one_change_after_the_runtime_hands_them_over():
    async def scenario() -> None:
        publisher = MetadataPublisher()
        seen: list[tuple[MetadataImage, MetadataImage]] = []
        publisher.subscribe(lambda old, new: seen.append((old, new)))
        publisher.on_commit(0, Entry(1, b"", leader_change=True))
        for offset in range(1, 101):
            publisher.on_commit(offset, Entry(1, topic(f"t{offset}", offset)))
        publisher.on_commit(101, Entry(1, topic("t1", 1)))  # does not fit: skipped whole
        assert seen == []  # still handing over
        await asyncio.sleep(0)
        ((old, new),) = seen
        assert old.topics == {} and len(new.topics) == 100 and new is publisher.image
        assert publisher.offset == 101

        # Whoever reads the image or the offset before the loop turns sees every entry.
        publisher.on_commit(102, Entry(1, topic("late", 500)))
        assert "late" in publisher.image.topics and len(seen) == 2
        publisher.on_commit(103, Entry(1, b"", leader_change=True))
        assert publisher.offset == 103
        await asyncio.sleep(0)
        assert len(seen) == 2  # published once, not again

    asyncio.run(scenario())


class SnapshotsTaken:
    """The Raft runtime's side of a snapshot: the snapshots taken, in order."""

    def __init__(self) -> None:
        self.taken: list[tuple[int, bytes]] = []

    async def take_snapshot(self, end_offset: int, data: bytes) -> None:
        self.taken.append((end_offset, data))


def test_the_publisher_snapshots_its_image_when_due_and_counts_from_a_loaded_snapshot():
    async def scenario() -> None:
        raft = SnapshotsTaken()
        entry = len(topic("t0", 1000))
        settings = SnapshotSettings(max_bytes_between_snapshots=10 * entry, max_interval_ms=0)
        snapshotter = MetadataSnapshotter(raft, ManualClock(0), settings)
        publisher = MetadataPublisher(snapshotter)
        for offset in range(10):
            publisher.on_commit(offset, Entry(1, topic(f"t{offset}", 1000 + offset)))
        await snapshotter.stop()
        ((end_offset, data),) = raft.taken
        assert end_offset == 10
        assert decode_snapshot(data) == publisher.image  # every entry below 10, no more

        publisher.load_snapshot(30, data)  # the leader's, covering entries not seen here
        for offset in range(30, 39):
            publisher.on_commit(offset, Entry(1, topic(f"u{offset}", 2000 + offset)))
        await snapshotter.stop()
        assert [end for end, _ in raft.taken] == [10]  # counting began again at the load
        publisher.on_commit(39, Entry(1, topic("u39", 2039)))
        await snapshotter.stop()
        assert [end for end, _ in raft.taken] == [10, 40]

    asyncio.run(scenario())
