import os
import socket
import struct
import time

import pytest

from broker.protocol.batch import validate_produced
from broker.storage import LogConfig, OffsetOutOfRange, PartitionLog, StorageError
from tests.unit.storage.record_batches import at, make_batch, offsets_in, produce, read_all


def test_create_lays_out_kafkas_files(new_log, tmp_path, topic_id):
    log = new_log(topic="tweet-stats", partition=3)
    assert log.directory == tmp_path / "tweet-stats-3"
    names = sorted(p.name for p in log.directory.iterdir())
    assert names == [
        "00000000000000000000.index",
        "00000000000000000000.log",
        "00000000000000000000.timeindex",
        "partition.metadata",
    ]
    # Kafka writes the topic id as url-safe base64 without padding
    assert (log.directory / "partition.metadata").read_text() == (
        "version: 0\ntopic_id: a6e4EJ2tEdGAtADAT9QwyA\n"
    )
    assert (log.topic, log.partition, log.topic_id) == ("tweet-stats", 3, topic_id)
    assert (log.log_start_offset, log.log_end_offset, log.size_bytes) == (0, 0, 0)


def test_create_refuses_bad_names_and_existing_logs(new_log, tmp_path):
    new_log()
    with pytest.raises(StorageError, match="already exists"):
        new_log()
    for topic in ("../etc", "a/b", "", ".."):
        with pytest.raises(ValueError, match="illegal topic"):
            new_log(topic=topic)


def test_append_stamps_offsets_and_epoch_and_keeps_the_rest(new_log):
    log = new_log()
    first = make_batch(3, fill=b"a")
    second = make_batch(2, fill=b"b")
    assert produce(log, first, epoch=7) == 0
    assert produce(log, second, make_batch(1), epoch=7) == 3
    assert log.log_end_offset == 6
    data = read_all(log)
    assert offsets_in(data) == [(0, 2), (3, 4), (5, 5)]
    epochs = [struct.unpack_from(">i", data, pos + 12)[0] for pos in (0, len(first))]
    assert epochs == [7, 7]
    # only baseOffset and the epoch changed: everything from the magic byte on is as produced
    assert data[16 : len(first)] == first[16:]
    validate_produced(data)  # CRCs still hold
    assert (
        log.size_bytes == len(data) == os.path.getsize(log.directory / "00000000000000000000.log")
    )


def test_read_from_inside_a_batch_starts_at_that_batch(new_log):
    log = new_log()
    produce(log, make_batch(5))
    produce(log, make_batch(5))
    produce(log, make_batch(5))
    for offset, first_base in [(0, 0), (4, 0), (5, 5), (7, 5), (14, 10)]:
        piece = log.read(offset, 1 << 20, log.log_end_offset)
        assert offsets_in(piece.read_bytes())[0][0] == first_base


def test_read_stops_before_max_offset(new_log):
    log = new_log()
    for _ in range(4):
        produce(log, make_batch(5))
    assert offsets_in(log.read(0, 1 << 20, 10).read_bytes()) == [(0, 4), (5, 9)]
    # a batch that straddles the high watermark is not served
    assert offsets_in(log.read(0, 1 << 20, 12).read_bytes()) == [(0, 4), (5, 9)]
    assert log.read(10, 1 << 20, 12) is None
    assert log.read(10, 1 << 20, 10) is None
    assert log.read(20, 1 << 20, 20) is None
    # max_offset beyond the log end is clamped
    assert offsets_in(log.read(15, 1 << 20, 99).read_bytes()) == [(15, 19)]


def test_read_respects_max_bytes_but_returns_one_whole_batch(new_log):
    log = new_log()
    for _ in range(4):
        produce(log, make_batch(2, record_bytes=50))
    size = len(make_batch(2, record_bytes=50))
    assert offsets_in(log.read(0, 1, 8).read_bytes()) == [(0, 1)]
    assert offsets_in(log.read(0, size * 2 - 1, 8).read_bytes()) == [(0, 1)]
    assert offsets_in(log.read(0, size * 2, 8).read_bytes()) == [(0, 1), (2, 3)]
    assert log.read(2, size * 3, 8).length == size * 3


def test_read_out_of_range(new_log):
    log = new_log()
    produce(log, make_batch(5))
    with pytest.raises(OffsetOutOfRange) as caught:
        log.read(6, 100, 5)
    assert (caught.value.log_start_offset, caught.value.log_end_offset) == (0, 5)
    log.advance_log_start(3)
    with pytest.raises(OffsetOutOfRange):
        log.read(2, 100, 5)
    assert log.read(3, 100, 5) is not None


def test_file_slice_can_be_sendfiled(new_log):
    log = new_log()
    produce(log, make_batch(3), make_batch(4))
    produce(log, make_batch(2))
    piece = log.read(3, 1 << 20, log.log_end_offset)
    sender, receiver = socket.socketpair()
    with sender, receiver:
        sent = os.sendfile(sender.fileno(), piece.file.fileno(), piece.position, piece.length)
        assert sent == piece.length
        assert receiver.recv(1 << 16) == piece.read_bytes()
    assert offsets_in(piece.read_bytes()) == [(3, 6), (7, 8)]


def test_roll_by_segment_bytes(new_log):
    batch = make_batch(1, record_bytes=100)
    log = new_log(LogConfig(segment_bytes=len(batch) * 3))
    for _ in range(7):
        produce(log, batch)
    logs = sorted(p.name for p in log.directory.glob("*.log"))
    assert logs == [
        "00000000000000000000.log",
        "00000000000000000003.log",
        "00000000000000000006.log",
    ]
    assert [os.path.getsize(log.directory / name) for name in logs] == [len(batch) * 3] * 2 + [
        len(batch)
    ]
    assert offsets_in(read_all(log)) == [(i, i) for i in range(7)]
    # rolling fsyncs the old segment: everything before the new one is durable
    assert log.recovery_point == 6


def test_a_batch_larger_than_segment_bytes_gets_a_segment_of_its_own(new_log):
    log = new_log(LogConfig(segment_bytes=100))
    produce(log, make_batch(1, record_bytes=500))
    produce(log, make_batch(1, record_bytes=500))
    assert log.segment_count == 2


def test_roll_by_segment_ms_uses_the_first_batch_timestamp(new_log):
    log = new_log(LogConfig(segment_ms=1_000))
    produce(log, make_batch(1, timestamp=10_000), now_ms=10_000)
    produce(log, make_batch(1, timestamp=10_500), now_ms=11_000)
    assert log.segment_count == 1
    produce(log, make_batch(1, timestamp=11_001), now_ms=11_001)
    assert log.segment_count == 2
    assert sorted(p.name for p in log.directory.glob("*.log"))[-1] == "00000000000000000002.log"


@pytest.mark.parametrize(
    ("rising_timestamps", "next_segment", "index_sizes"),
    [
        (False, "00000000000000000004.log", (24, 12)),  # the offset index (3 entries) fills
        (True, "00000000000000000003.log", (16, 24)),  # the time index (2 entries) fills
    ],
)
def test_roll_when_an_index_is_full(new_log, rising_timestamps, next_segment, index_sizes):
    # 24 bytes hold 3 offset entries or 2 time entries; with index.interval.bytes=0 every
    # batch but the first gets an offset entry, and a time entry if its timestamp is new
    log = new_log(LogConfig(index_interval_bytes=0, segment_index_bytes=24))
    for i in range(6):
        produce(log, make_batch(1, timestamp=1_000 + i * rising_timestamps))
    assert sorted(p.name for p in log.directory.glob("*.log")) == [
        "00000000000000000000.log",
        next_segment,
    ]
    stem = log.directory / "00000000000000000000"
    assert (os.path.getsize(f"{stem}.index"), os.path.getsize(f"{stem}.timeindex")) == index_sizes


def test_roll_before_relative_offsets_overflow_int32(new_log):
    log = new_log()
    huge = make_batch(1, compression=1, last_offset_delta=2**31 - 2)
    produce(log, huge)  # offsets 0 .. 2**31 - 2
    produce(log, make_batch(1))  # offset 2**31 - 1: still fits
    assert log.segment_count == 1
    produce(log, make_batch(1))  # offset 2**31 would not
    assert log.segment_count == 2
    assert log.log_end_offset == 2**31 + 1


def test_offset_index_entries_follow_index_interval_bytes(new_log):
    batch = make_batch(2, record_bytes=100)  # 261 bytes
    log = new_log(LogConfig(index_interval_bytes=500))
    for _ in range(6):
        produce(log, batch)
    raw = (log.directory / "00000000000000000000.index").read_bytes()
    entries = [struct.unpack_from(">ii", raw, i) for i in range(0, len(raw), 8)]
    # Kafka's rule: a batch gets an entry when more than 500 bytes precede it since the last
    assert entries == [(4, 2 * len(batch)), (8, 4 * len(batch))]


def test_offset_for_timestamp_and_max_timestamp(new_log):
    log = new_log(LogConfig(segment_bytes=300, index_interval_bytes=0))
    stamps = [100, 300, 200, 500, 400, 500, 900]
    for stamp in stamps:
        produce(log, make_batch(2, timestamp=stamp - 50, max_timestamp=stamp, record_bytes=50))
    assert log.segment_count > 2
    assert at(log.offset_for_timestamp(0)) == (0, 100)
    assert at(log.offset_for_timestamp(100)) == (0, 100)
    assert at(log.offset_for_timestamp(101)) == (2, 300)
    assert at(log.offset_for_timestamp(350)) == (6, 500)
    assert at(log.offset_for_timestamp(900)) == (12, 900)
    assert at(log.offset_for_timestamp(901)) is None
    assert at(log.max_timestamp()) == (12, 900)
    log.truncate_to(12)
    assert at(log.max_timestamp()) == (6, 500)  # the first batch to reach 500
    log.advance_log_start(9)
    assert at(log.offset_for_timestamp(0)) == (9, 400)


def test_max_timestamp_of_an_empty_log(new_log):
    assert new_log().max_timestamp() is None
    assert new_log(topic="other").offset_for_timestamp(0) is None


def test_flush_messages_one_fsyncs_every_append(new_log):
    log = new_log(LogConfig(flush_messages=1))
    produce(log, make_batch(3))
    assert log.recovery_point == 3
    produce(log, make_batch(2))
    assert log.recovery_point == 5


def test_flush_ms_flushes_once_the_oldest_write_is_due(new_log):
    log = new_log(LogConfig(flush_ms=1_000))
    assert not log.needs_flush(10**12)
    produce(log, make_batch(3), now_ms=5_000)
    produce(log, make_batch(3), now_ms=5_500)
    assert log.recovery_point == 0
    assert not log.needs_flush(5_999)
    assert log.needs_flush(6_000)
    produce(log, make_batch(1), now_ms=6_000)  # the append itself applies the policy
    assert log.recovery_point == 7
    assert not log.needs_flush(7_000)
    produce(log, make_batch(1), now_ms=7_000)
    log.flush()
    assert log.recovery_point == 8
    assert not log.needs_flush(99_000)


def test_append_records_leader_epochs(new_log):
    log = new_log()
    produce(log, make_batch(2), epoch=0)
    produce(log, make_batch(2), epoch=0)
    produce(log, make_batch(2), epoch=3)
    assert log.leader_epochs == [(0, 0), (3, 4)]
    assert (log.directory / "leader-epoch-checkpoint").read_text() == "0\n2\n0 0\n3 4\n"


def test_truncate_to_cuts_whole_batches_and_appends_continue(new_log):
    log = new_log(LogConfig(segment_bytes=200, index_interval_bytes=0))
    for epoch in range(6):
        produce(log, make_batch(3, record_bytes=20), epoch=epoch)
    assert log.segment_count > 2
    log.truncate_to(8)  # inside the batch 6..8: it goes too
    assert log.log_end_offset == 6
    assert log.leader_epochs[-1] == (1, 3)
    assert produce(log, make_batch(1), epoch=9) == 6
    assert offsets_in(read_all(log)) == [(0, 2), (3, 5), (6, 6)]
    reopened = PartitionLog.open(log.directory, log.config, recovery_point=0)
    assert reopened.log_end_offset == 7
    reopened.close()


def test_update_config_applies_to_the_next_append(new_log):
    log = new_log()
    produce(log, make_batch(1, record_bytes=100))
    log.update_config(LogConfig(segment_bytes=100))
    produce(log, make_batch(1, record_bytes=100))
    assert log.segment_count == 2


def test_delete_removes_the_directory(new_log, tmp_path):
    log = new_log()
    produce(log, make_batch(1))
    log.delete()
    assert list(tmp_path.iterdir()) == []


def test_old_timestamps_fill_one_segment_instead_of_rolling_per_batch(new_log):
    # Kafka's timeWaitedForRoll: the batch's max timestamp less the segment's first batch's,
    # not the wall clock; 30-day-old records are as old as each other.
    log = new_log()  # segment.ms: 7 days
    now = 1_800_000_000_000
    month_ago = now - 30 * 24 * 3600 * 1000
    for i in range(400):
        produce(log, make_batch(1, timestamp=month_ago + i), now_ms=now + i)
    assert log.segment_count == 1


def test_a_segment_whose_first_batch_has_no_timestamp_ages_from_its_creation(new_log):
    log = new_log(LogConfig(segment_ms=60_000))
    created = time.time_ns() // 1_000_000
    produce(log, make_batch(1, timestamp=-1), now_ms=created)
    produce(log, make_batch(1, timestamp=-1), now_ms=created + 1_000)
    assert log.segment_count == 1
    produce(log, make_batch(1, timestamp=-1), now_ms=created + 120_000)
    assert log.segment_count == 2
