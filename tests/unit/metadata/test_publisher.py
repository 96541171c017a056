"""The metadata publisher: committed entries become images, one decision at a time."""

from __future__ import annotations

import asyncio
import logging
import uuid

from broker.metadata.codec import encode
from broker.metadata.image import MetadataImage
from broker.metadata.publisher import MetadataPublisher
from broker.metadata.records import PartitionRecord, TopicRecord
from broker.metadata.snapshot import encode_snapshot
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
