import logging

import pytest

from broker.storage import LogConfig, OffsetOutOfRange
from tests.unit.storage.record_batches import make_batch, offsets_in, produce

BATCH_BYTES = len(make_batch(1, record_bytes=100))


def log_of_segments(new_log, stamps, **settings):
    """One single-record batch per timestamp, one batch to a segment."""
    log = new_log(LogConfig(segment_bytes=BATCH_BYTES, **settings))
    for stamp in stamps:
        produce(log, make_batch(1, record_bytes=100, timestamp=stamp), now_ms=stamp)
    assert log.segment_count == len(stamps)
    return log


def segment_names(log):
    return sorted(p.name for p in log.directory.glob("*.log"))


def test_retention_by_time_deletes_old_segments_and_moves_the_log_start(new_log, caplog):
    caplog.set_level(logging.INFO, logger="broker.storage")
    log = log_of_segments(new_log, [1_000, 2_000, 3_000, 4_000], retention_ms=1_500)
    assert log.delete_expired(now_ms=3_400) == 1  # 2_000 is not older than 1_500 ms yet
    assert log.log_start_offset == 1
    assert log.delete_expired(now_ms=3_600) == 1
    assert log.log_start_offset == 2
    assert segment_names(log) == ["00000000000000000002.log", "00000000000000000003.log"]
    assert log.size_bytes == 2 * BATCH_BYTES
    assert "tweets-0: deleted 1 segment(s) older than retention.ms" in caplog.text
    with pytest.raises(OffsetOutOfRange):
        log.read(1, 1000, 4)
    assert offsets_in(log.read(2, 1000, 4).read_bytes()) == [(2, 2)]


def test_retention_stops_at_the_first_segment_to_keep(new_log):
    # Kafka deletes a prefix: an old segment behind a young one stays
    log = log_of_segments(new_log, [1_000, 9_000, 1_000, 9_500], retention_ms=5_000)
    assert log.delete_expired(now_ms=10_000) == 1
    assert log.log_start_offset == 1


def test_an_expired_active_segment_is_rolled_and_deleted(new_log):
    log = log_of_segments(new_log, [1_000, 2_000], retention_ms=1_000)
    assert log.delete_expired(now_ms=10_000) == 2
    assert (log.log_start_offset, log.log_end_offset, log.size_bytes) == (2, 2, 0)
    assert segment_names(log) == ["00000000000000000002.log"]
    assert log.read(2, 1000, 2) is None
    assert produce(log, make_batch(1, timestamp=10_000), now_ms=10_000) == 2
    assert log.delete_expired(now_ms=10_000) == 0


def test_retention_by_bytes(new_log):
    log = log_of_segments(new_log, [1, 2, 3, 4, 5], retention_bytes=int(BATCH_BYTES * 2.5))
    # 5 segments, 2.5 allowed: deleting two leaves 3 > 2.5, but a third would leave 2 < 2.5
    assert log.delete_expired(now_ms=0) == 2
    assert log.log_start_offset == 2
    assert log.delete_expired(now_ms=0) == 0


def test_retention_bytes_zero_empties_the_log(new_log):
    log = log_of_segments(new_log, [1, 2], retention_bytes=0)
    assert log.delete_expired(now_ms=0) == 2
    assert (log.log_start_offset, log.log_end_offset) == (2, 2)


def test_retention_keeps_what_is_above_the_high_watermark(new_log):
    log = log_of_segments(new_log, [1_000, 2_000, 3_000], retention_ms=10)
    assert log.delete_expired(now_ms=99_000, high_watermark=2) == 2
    assert log.log_start_offset == 2
    assert log.delete_expired(now_ms=99_000, high_watermark=2) == 0


def test_infinite_retention_and_compact_policy_delete_nothing(new_log):
    forever = log_of_segments(new_log, [1, 2], retention_ms=-1)
    compacted = new_log(
        LogConfig(segment_bytes=BATCH_BYTES, retention_ms=1, cleanup_policy="compact"),
        topic="compacted",
    )
    produce(compacted, make_batch(1, record_bytes=100, timestamp=1))
    produce(compacted, make_batch(1, record_bytes=100, timestamp=2))
    assert forever.delete_expired(now_ms=10**12) == 0
    assert compacted.delete_expired(now_ms=10**12) == 0


def test_segments_below_an_advanced_log_start_are_deleted_at_once(new_log):
    """DeleteRecords: the segments wholly below the new log start leave the disk with it; the
    one holding it stays, and so does the active segment even when the start reaches its end."""
    log = log_of_segments(new_log, [1, 2, 3], retention_ms=-1)
    assert log.advance_log_start(2) == 2
    assert log.log_start_offset == 2
    assert segment_names(log) == ["00000000000000000002.log"]
    assert log.size_bytes == BATCH_BYTES
    assert log.delete_expired(now_ms=0) == 0
    assert log.advance_log_start(3) == 0  # the log end: the active segment stays, empty to readers
    assert log.log_start_offset == log.log_end_offset == 3
    assert log.read(3, 1000, 3) is None
    with pytest.raises(OffsetOutOfRange):
        log.advance_log_start(4)


def test_a_pending_slice_survives_the_deletion_of_its_segment(new_log):
    log = log_of_segments(new_log, [1_000, 2_000, 3_000], retention_ms=10)
    piece = log.read(0, 1000, 3)
    expected = make_batch(1, record_bytes=100, timestamp=1_000)
    assert log.delete_expired(now_ms=2_500) == 2
    assert not (log.directory / "00000000000000000000.log").exists()
    assert piece.read_bytes()[16:] == expected[16:]  # all but the stamped offset and epoch
    assert not piece.file.closed
