"""Metadata snapshots: an image written as records and loaded back is the same image, in
bounded batches, a snapshot cut short is refused; the snapshotter takes one when Kafka's
byte or time trigger says so."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest

from broker.clock import ManualClock
from broker.metadata.codec import decode, encode
from broker.metadata.image import MetadataImage
from broker.metadata.records import (
    ConfigRecord,
    ConfigResourceType,
    Endpoint,
    FenceBrokerRecord,
    MetadataRecord,
    PartitionChangeRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    RemoveTopicRecord,
    TopicRecord,
    UnfenceBrokerRecord,
)
from broker.metadata.snapshot import (
    MetadataSnapshotter,
    SnapshotError,
    SnapshotSettings,
    decode_snapshot,
    encode_snapshot,
    image_records,
    snapshot_batches,
)

T1, T2, T3 = (uuid.UUID(int=i) for i in (1, 2, 3))


def history() -> list[MetadataRecord]:
    """A log's worth of changes: registrations, fencing, topics created, changed and
    deleted, configs set and removed, producer id blocks."""
    return [
        RegisterBrokerRecord(0, uuid.UUID(int=100), 1, (Endpoint("PLAINTEXT", "127.0.0.1", 9092),)),
        RegisterBrokerRecord(1, uuid.UUID(int=101), 2, rack="r1"),
        UnfenceBrokerRecord(0, 1),
        UnfenceBrokerRecord(1, 2),
        RegisterBrokerRecord(2, uuid.UUID(int=102), 5, in_controlled_shutdown=True, fenced=False),
        TopicRecord("a", T1),
        PartitionRecord(0, T1, (0, 1), (0, 1), 0),
        PartitionRecord(1, T1, (1, 0), (1, 0), 1),
        ConfigRecord(ConfigResourceType.TOPIC, "a", "retention.ms", "1000"),
        ConfigRecord(ConfigResourceType.TOPIC, "a", "cleanup.policy", "compact"),
        ConfigRecord(ConfigResourceType.TOPIC, "a", "retention.ms", None),
        TopicRecord("b", T2),
        PartitionRecord(0, T2, (0,), (0,), 0),
        ConfigRecord(ConfigResourceType.TOPIC, "b", "segment.bytes", "1024"),
        FenceBrokerRecord(1, 2),
        PartitionChangeRecord(1, T1, isr=(0,), leader=0),
        PartitionChangeRecord(0, T1, isr=(0,)),
        RemoveTopicRecord(T2),
        TopicRecord("c", T3),
        PartitionRecord(0, T3, (1,), (1,), -1, leader_epoch=4, partition_epoch=9),
        ConfigRecord(ConfigResourceType.BROKER, "", "unclean.leader.election.enable", "false"),
        ProducerIdsRecord(0, 1, 2000),
    ]


def test_an_image_loaded_from_its_snapshot_is_the_same_image():
    image = MetadataImage().apply_all(history())
    loaded = decode_snapshot(encode_snapshot(image))
    assert loaded == image
    assert loaded.partition("a", 1).leader_epoch == 1  # as left by the change, not reset
    assert loaded.partition("c", 0).partition_epoch == 9
    assert "b" not in loaded.topics and loaded.topic_config("b") == {}
    assert loaded.brokers[2].in_controlled_shutdown and loaded.brokers[1].fenced
    assert loaded.next_producer_id == 2000


def test_a_snapshot_then_the_entries_after_it_give_what_the_whole_log_gives():
    records = history()
    for cut in range(len(records) + 1):
        at_cut = MetadataImage().apply_all(records[:cut])
        resumed = decode_snapshot(encode_snapshot(at_cut)).apply_all(records[cut:])
        assert resumed == MetadataImage().apply_all(records), cut


def test_an_empty_image_has_an_empty_snapshot():
    assert list(image_records(MetadataImage())) == []
    assert decode_snapshot(encode_snapshot(MetadataImage())) == MetadataImage()


def test_batches_are_bounded_and_each_is_an_entry_the_codec_reads_alone():
    image = MetadataImage().apply_all(history())
    batches = list(snapshot_batches(image, max_batch_bytes=300))
    assert len(batches) > 3
    biggest_record = max(len(encode([r])) for r in image_records(image))
    assert all(len(b) <= max(300, biggest_record) for b in batches)
    assert [r for b in batches for r in decode(b)] == list(image_records(image))
    assert decode_snapshot(encode_snapshot(image, max_batch_bytes=300)) == image


def test_a_snapshot_cut_short_or_with_bytes_after_its_end_is_refused():
    data = encode_snapshot(MetadataImage().apply_all(history()), max_batch_bytes=300)
    for cut in range(len(data)):
        with pytest.raises(SnapshotError):
            decode_snapshot(data[:cut])
    with pytest.raises(SnapshotError, match="after the end"):
        decode_snapshot(data + b"\x00")
    with pytest.raises(SnapshotError, match="version"):
        decode_snapshot(b"\x07" + data[1:])


def test_a_snapshot_whose_records_do_not_fit_is_refused():
    bad = encode([PartitionRecord(0, T1, (0,), (0,), 0)])  # a partition of no topic
    data = b"\x00" + bytes([len(bad)]) + bad + b"\x00"
    with pytest.raises(SnapshotError, match="not a metadata snapshot"):
        decode_snapshot(data)


# -- the snapshotter --------------------------------------------------------------------------


class SnapshotsTaken:
    """The Raft runtime's side as the snapshotter sees it: snapshots taken, in order."""

    def __init__(self) -> None:
        self.taken: list[tuple[int, bytes]] = []
        self.refuse = False

    async def take_snapshot(self, end_offset: int, data: bytes) -> None:
        if self.refuse:
            raise ValueError("the log starts after it already")
        self.taken.append((end_offset, data))


class Replay:
    """Entries of ``size`` bytes applied one by one, each a topic more in the image."""

    def __init__(self, snapshotter: MetadataSnapshotter) -> None:
        self.snapshotter = snapshotter
        self.image = MetadataImage()
        self.offset = -1

    async def apply(self, count: int, size: int) -> None:
        for _ in range(count):
            self.offset += 1
            topic_id = uuid.UUID(int=1000 + self.offset)
            self.image = self.image.apply(TopicRecord(f"t{self.offset}", topic_id))
            self.snapshotter.applied(self.offset, size, lambda image=self.image: image)
            await self.snapshotter.stop()  # let a snapshot begun be taken


def run(test):
    def sync() -> None:
        asyncio.run(test())

    sync.__name__ = test.__name__
    return sync


@run
async def test_a_snapshot_is_taken_once_the_entries_since_the_last_hold_the_byte_limit():
    clock, log = ManualClock(0), SnapshotsTaken()
    settings = SnapshotSettings(max_bytes_between_snapshots=1000, max_interval_ms=0)
    replay = Replay(MetadataSnapshotter(log, clock, settings))

    await replay.apply(9, 100)
    assert log.taken == []
    await replay.apply(1, 100)  # the tenth entry reaches 1000 bytes
    ((end_offset, data),) = log.taken
    assert end_offset == 10
    assert decode_snapshot(data).topics.keys() == {f"t{i}" for i in range(10)}

    await replay.apply(9, 100)
    assert len(log.taken) == 1  # counting starts again from the snapshot
    await replay.apply(1, 100)
    assert [end for end, _ in log.taken] == [10, 20]


@run
async def test_a_snapshot_is_taken_once_the_interval_passed_and_an_entry_was_applied():
    clock, log = ManualClock(0), SnapshotsTaken()
    settings = SnapshotSettings(max_bytes_between_snapshots=10**9, max_interval_ms=60_000)
    replay = Replay(MetadataSnapshotter(log, clock, settings))

    await replay.apply(3, 10)
    clock.advance(59_999)
    await replay.apply(1, 10)
    assert log.taken == []
    clock.advance(1)
    assert log.taken == []  # time alone takes none: only an applied entry does
    await replay.apply(1, 10)
    assert [end for end, _ in log.taken] == [5]


@run
async def test_a_refused_snapshot_is_tried_again_at_the_next_entry_and_a_loaded_one_resets():
    clock, log = ManualClock(0), SnapshotsTaken()
    settings = SnapshotSettings(max_bytes_between_snapshots=100, max_interval_ms=0)
    snapshotter = MetadataSnapshotter(log, clock, settings)
    replay = Replay(snapshotter)

    log.refuse = True
    await replay.apply(1, 100)
    log.refuse = False
    assert log.taken == []
    await replay.apply(1, 10)
    assert [end for end, _ in log.taken] == [2]

    await replay.apply(1, 90)
    snapshotter.loaded(50)  # the leader's snapshot replaced the image
    await replay.apply(1, 50)
    assert [end for end, _ in log.taken] == [2]
    assert snapshotter.last_end_offset == 50


def test_settings_out_of_range_are_refused_with_kafkas_names():
    too_few = re.escape("metadata.log.max.record.bytes.between.snapshots")
    with pytest.raises(ValueError, match=too_few):
        SnapshotSettings(max_bytes_between_snapshots=0)
    with pytest.raises(ValueError, match=re.escape("metadata.log.max.snapshot.interval.ms")):
        SnapshotSettings(max_interval_ms=-1)
