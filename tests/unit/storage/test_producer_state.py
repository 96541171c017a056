"""Idempotent producers: Kafka's deduplication, sequence and epoch rules, and their state
surviving restarts, crashes, torn snapshots and truncation."""

import itertools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from pathlib import Path
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from broker.protocol.batch import HEADER
from broker.protocol.records import seal_batch
from broker.storage import (
    DuplicateBatch,
    InvalidProducerEpoch,
    LogConfig,
    LogManager,
    OutOfOrderSequence,
    PartitionLog,
    ProducerStateError,
)
from broker.storage.log import SNAPSHOT_INTERVAL_OFFSETS
from broker.storage.producer_state import BatchMetadata
from tests.support.examples import examples
from tests.unit.storage.record_batches import make_batch, produce, read_all

WRAP = 2**31
HERE = Path(__file__).parent
REPO = HERE.parents[2]


def idem(pid: int, seq: int, records: int = 1, *, epoch: int = 0, timestamp: int = 1_000):
    """A batch of ``records`` filler records from producer ``pid``, starting at ``seq``."""
    return seal_batch(
        b"r" * (10 * records),
        count=records,
        timestamp=timestamp,
        producer_id=pid,
        producer_epoch=epoch,
        base_sequence=seq,
    )


def stored(log: PartitionLog) -> list[tuple[int, int, int, int, int]]:
    """``(base offset, last offset, producer id, epoch, base sequence)`` of every batch."""
    data = read_all(log)
    out = []
    position = 0
    while position < len(data):
        fields = HEADER.unpack_from(data, position)
        out.append((fields[0], fields[0] + fields[6], fields[9], fields[10], fields[11]))
        position += 12 + fields[1]
    return out


def unchanged_by(log: PartitionLog, batches: list[bytes], error: type[Exception]):
    """Produce ``batches`` as one request, expect ``error``, check nothing was written."""
    before = (log.log_end_offset, log.size_bytes, read_all(log), dict(log.producer_state.producers))
    with pytest.raises(error) as caught:
        produce(log, *batches)
    after = (log.log_end_offset, log.size_bytes, read_all(log), dict(log.producer_state.producers))
    assert after == before
    return caught.value


def state_of(log: PartitionLog) -> dict:
    producers = log.producer_state.producers
    return {pid: (e.epoch, list(e.batches), e.last_timestamp) for pid, e in producers.items()}


# ---- deduplication --------------------------------------------------------------------------


def test_each_of_the_last_five_batches_is_deduplicated_with_its_original_offsets(new_log):
    log = new_log()
    produce(log, make_batch(2))  # a non-idempotent batch first: offsets do not start at 0
    sizes = [1, 3, 2, 4, 1, 2]
    batches, spans, seq = [], [], 0
    for n in sizes:
        batch = idem(7, seq, n)
        base = produce(log, batch)
        batches.append(batch)
        spans.append((base, base + n - 1))
        seq += n
    assert spans == [(2, 2), (3, 5), (6, 7), (8, 11), (12, 12), (13, 14)]
    for batch, span in list(zip(batches, spans, strict=True))[1:]:
        duplicate = unchanged_by(log, [batch], DuplicateBatch)
        assert (duplicate.base_offset, duplicate.last_offset) == span
        assert "duplicate of the batch already stored at offsets" in str(duplicate)
    # the sixth-newest batch is no longer remembered: it is out of order, as in Kafka
    error = unchanged_by(log, [batches[0]], OutOfOrderSequence)
    assert (error.producer_id, error.sequence, error.expected_sequence) == (7, 0, 13)
    assert error.error_code == 45
    assert produce(log, idem(7, 13)) == 15


def test_a_duplicate_must_match_the_whole_sequence_range(new_log):
    log = new_log()
    produce(log, idem(1, 0, 3))
    produce(log, idem(1, 3, 3))
    # same first sequence, different length: not a duplicate, and not in sequence either
    unchanged_by(log, [idem(1, 3, 2)], OutOfOrderSequence)
    unchanged_by(log, [idem(1, 4, 2)], OutOfOrderSequence)
    # same range, other epoch: not a duplicate (older epoch is refused outright)
    produce(log, idem(1, 0, 1, epoch=1))
    unchanged_by(log, [idem(1, 3, 3, epoch=0)], InvalidProducerEpoch)


def test_a_resent_request_of_several_batches_gets_the_first_ones_offsets(new_log):
    log = new_log()
    request = [idem(1, 0, 2), idem(2, 0, 3), idem(1, 2, 1)]
    assert produce(log, *request) == 0
    assert stored(log) == [(0, 1, 1, 0, 0), (2, 4, 2, 0, 0), (5, 5, 1, 0, 2)]
    duplicate = unchanged_by(log, request, DuplicateBatch)
    assert (duplicate.base_offset, duplicate.last_offset) == (0, 1)


def test_a_request_mixing_duplicates_and_new_batches_is_answered_as_kafka_does(new_log):
    """Kafka's ``analyzeAndValidateProducerState``: the first duplicate makes the whole request
    a duplicate (nothing is written); the batches before it are still validated."""
    log = new_log()
    produce(log, idem(1, 0, 2))
    produce(log, idem(2, 0, 1))
    duplicate = unchanged_by(log, [idem(1, 0, 2), idem(1, 2, 1)], DuplicateBatch)
    assert (duplicate.base_offset, duplicate.last_offset) == (0, 1)
    duplicate = unchanged_by(log, [idem(1, 2, 1), idem(2, 0, 1)], DuplicateBatch)
    assert (duplicate.base_offset, duplicate.last_offset) == (2, 2)
    # a bad batch before the duplicate is refused
    unchanged_by(log, [idem(1, 9, 1), idem(2, 0, 1)], OutOfOrderSequence)
    # a non-idempotent batch does not change that
    duplicate = unchanged_by(log, [make_batch(1), idem(2, 0, 1)], DuplicateBatch)
    assert duplicate.base_offset == 2


# ---- sequences and epochs -------------------------------------------------------------------


def test_gaps_and_repeats_are_out_of_order(new_log):
    log = new_log()
    produce(log, idem(1, 0, 3))
    for seq in (4, 2, 1, 100, WRAP - 1):
        error = unchanged_by(log, [idem(1, seq)], OutOfOrderSequence)
        assert (error.sequence, error.expected_sequence) == (seq, 3)
    assert "producer 1 epoch 0 sent sequence 4, expected 3" in str(
        unchanged_by(log, [idem(1, 4)], OutOfOrderSequence)
    )
    assert produce(log, idem(1, 3)) == 3


def test_an_older_epoch_is_refused(new_log):
    log = new_log()
    produce(log, idem(1, 0, epoch=5))
    for epoch in (4, 0, -1):
        error = unchanged_by(log, [idem(1, 1, epoch=epoch)], InvalidProducerEpoch)
        assert (error.producer_id, error.producer_epoch, error.current_epoch) == (1, epoch, 5)
        assert error.error_code == 47
        assert isinstance(error, ProducerStateError)
    produce(log, idem(1, 1, epoch=5))


def test_a_bumped_epoch_starts_at_sequence_zero(new_log):
    log = new_log()
    produce(log, idem(1, 0, 4, epoch=0))
    error = unchanged_by(log, [idem(1, 4, epoch=1)], OutOfOrderSequence)
    assert (error.producer_epoch, error.sequence, error.expected_sequence) == (1, 4, 0)
    assert produce(log, idem(1, 0, 2, epoch=1)) == 4
    assert produce(log, idem(1, 2, epoch=1)) == 6
    entry = log.producer_state.entry(1)
    assert entry.epoch == 1
    # the old epoch's batches are forgotten, as Kafka clears them on a bump
    assert [(b.first_seq, b.last_seq) for b in entry.batches] == [(0, 1), (2, 2)]
    unchanged_by(log, [idem(1, 0, 4, epoch=0)], InvalidProducerEpoch)
    # jumping several epochs is fine, from sequence 0
    assert produce(log, idem(1, 0, epoch=9)) == 7


def test_an_unknown_producer_may_start_at_any_sequence(new_log):
    """Kafka >= 2.5 (``ProducerAppendInfo.checkSequence``): a producer without state, for
    instance after its data was deleted, is accepted at any first sequence and epoch."""
    log = new_log()
    assert produce(log, idem(1, 1234, 2, epoch=3)) == 0
    assert produce(log, idem(2, WRAP - 1)) == 2
    unchanged_by(log, [idem(1, 1237, epoch=3)], OutOfOrderSequence)
    assert produce(log, idem(1, 1236, epoch=3)) == 3


def test_sequences_wrap_at_2_31(new_log):
    log = new_log()
    assert produce(log, idem(1, WRAP - 5, 3)) == 0  # WRAP-5 .. WRAP-3
    assert produce(log, idem(1, WRAP - 2, 4)) == 3  # WRAP-2, WRAP-1, 0, 1
    assert log.producer_state.entry(1).last_seq == 1
    assert produce(log, idem(1, 2)) == 7
    duplicate = unchanged_by(log, [idem(1, WRAP - 2, 4)], DuplicateBatch)
    assert (duplicate.base_offset, duplicate.last_offset) == (3, 6)
    produce(log, idem(2, WRAP - 1))
    unchanged_by(log, [idem(2, 1)], OutOfOrderSequence)
    error = unchanged_by(log, [idem(2, WRAP - 2)], OutOfOrderSequence)
    assert error.expected_sequence == 0
    assert produce(log, idem(2, 0)) == 9


def test_producers_interleave_independently(new_log):
    log = new_log()
    produce(log, idem(1, 0))
    produce(log, idem(2, 0, 2))
    produce(log, idem(3, 50))
    produce(log, idem(1, 1))
    unchanged_by(log, [idem(2, 1)], OutOfOrderSequence)
    produce(log, idem(2, 2))
    produce(log, idem(3, 51))
    duplicate = unchanged_by(log, [idem(2, 0, 2)], DuplicateBatch)
    assert (duplicate.base_offset, duplicate.last_offset) == (1, 2)
    assert stored(log) == [
        (0, 0, 1, 0, 0),
        (1, 2, 2, 0, 0),
        (3, 3, 3, 0, 50),
        (4, 4, 1, 0, 1),
        (5, 5, 2, 0, 2),
        (6, 6, 3, 0, 51),
    ]
    assert {pid: e.last_seq for pid, e in log.producer_state.producers.items()} == {
        1: 1,
        2: 2,
        3: 51,
    }


def test_batches_of_one_producer_in_a_request_are_checked_in_order(new_log):
    log = new_log()
    produce(log, idem(1, 0))
    assert produce(log, idem(1, 1, 2), make_batch(1), idem(1, 3)) == 1
    # the second batch must follow the first one of the same request
    unchanged_by(log, [idem(1, 4), idem(1, 6)], OutOfOrderSequence)
    unchanged_by(log, [idem(1, 4), idem(1, 4)], OutOfOrderSequence)
    # an epoch bump inside a request, then its next sequence
    assert produce(log, idem(1, 4), idem(1, 0, epoch=1), idem(1, 1, epoch=1)) == 5
    unchanged_by(log, [idem(1, 2, epoch=1), idem(1, 3, epoch=0)], InvalidProducerEpoch)
    # a producer first seen in this request is known to the request's later batches
    unchanged_by(log, [idem(2, 10), idem(2, 12)], OutOfOrderSequence)
    assert produce(log, idem(2, 10), idem(2, 11)) == 8


def test_the_state_records_offsets_sequences_and_timestamps(new_log):
    log = new_log()
    produce(log, make_batch(3))
    produce(log, idem(4, 0, 2, timestamp=5_000), make_batch(1), idem(4, 2, 3, timestamp=6_000))
    entry = log.producer_state.entry(4)
    assert list(entry.batches) == [
        BatchMetadata(0, 1, 3, 4, 5_000),
        BatchMetadata(2, 4, 6, 8, 6_000),
    ]
    assert (entry.epoch, entry.last_timestamp, entry.last_offset) == (0, 6_000, 8)
    for seq in range(5, 15):
        produce(log, idem(4, seq))
    assert len(entry.batches) == 5
    assert [b.first_seq for b in entry.batches] == [10, 11, 12, 13, 14]


def test_non_idempotent_batches_are_untouched(new_log):
    log = new_log()
    batch = make_batch(2)
    assert produce(log, batch) == 0
    assert produce(log, batch) == 2  # a resend is appended again: there is nothing to match
    assert produce(log, batch, batch) == 4
    assert log.producer_state.producers == {}
    assert not log.producer_state.changed
    # a producer id of -1 with a sequence is still not idempotent
    odd = seal_batch(b"x", count=1, timestamp=1, producer_id=-1, producer_epoch=3, base_sequence=9)
    assert produce(log, odd) == 8
    assert produce(log, odd) == 9
    assert log.producer_state.producers == {}


# ---- snapshots and restarts -----------------------------------------------------------------


def busy_log(log: PartitionLog) -> None:
    """Three producers, a bump, plain batches, enough to roll a small segment a few times."""
    for i in range(12):
        produce(log, idem(1, 2 * i, 2, timestamp=1_000 + i))
        if i % 3 == 0:
            produce(log, make_batch(1))
        produce(log, idem(2, 100 + i, timestamp=2_000 + i))
    produce(log, idem(3, 0, epoch=0))
    produce(log, idem(3, 0, 3, epoch=1))


def check_continues(log: PartitionLog) -> None:
    """The state after ``busy_log``: duplicates, sequences and epochs all still known."""
    end = log.log_end_offset
    entry = log.producer_state.entry(1)
    oldest = entry.batches[0]
    duplicate = unchanged_by(log, [idem(1, oldest.first_seq, 2)], DuplicateBatch)
    assert (duplicate.base_offset, duplicate.last_offset) == (
        oldest.first_offset,
        oldest.last_offset,
    )
    unchanged_by(log, [idem(2, 110)], DuplicateBatch)
    unchanged_by(log, [idem(2, 113)], OutOfOrderSequence)
    unchanged_by(log, [idem(3, 3, epoch=0)], InvalidProducerEpoch)
    unchanged_by(log, [idem(3, 0, 3, epoch=1)], DuplicateBatch)
    next_seq = entry.last_seq + 1
    assert produce(log, idem(1, next_seq, 2), idem(2, 112), idem(3, 3, epoch=1)) == end
    assert stored(log)[-3:] == [
        (end, end + 1, 1, 0, next_seq),
        (end + 2, end + 2, 2, 0, 112),
        (end + 3, end + 3, 3, 1, 3),
    ]


SMALL = LogConfig(segment_bytes=600)


def test_snapshots_are_taken_on_roll_flush_and_close_and_two_are_kept(new_log):
    log = new_log(SMALL)
    directory = log.directory

    def snapshots():
        return sorted(int(p.stem) for p in directory.glob("*.snapshot"))

    produce(log, idem(1, 0))
    log.flush()  # a flush snapshots only every SNAPSHOT_INTERVAL_OFFSETS offsets
    assert snapshots() == []
    big = SNAPSHOT_INTERVAL_OFFSETS
    produce(log, idem(1, 1, big))  # too big for the active segment: a roll, at offset 1
    assert snapshots() == [1]
    log.flush()
    assert snapshots() == [1, big + 1]
    log.flush()
    assert snapshots() == [1, big + 1]
    seq = big + 1
    produce(log, idem(1, seq))  # rolls at once, at big + 1: that snapshot exists
    assert (log.segment_count, snapshots()) == (3, [1, big + 1])
    while log.segment_count == 3:
        seq += 1
        produce(log, idem(1, seq))
    seq += 1
    base = log._segments[-1].base_offset
    assert snapshots() == [big + 1, base]  # only the two newest are kept
    assert log.log_end_offset == base + 1
    produce(log, idem(1, seq))
    log.close()
    assert snapshots() == [base, base + 2]
    assert sorted(p.name for p in directory.glob("*.snapshot"))[-1] == f"{base + 2:020d}.snapshot"
    assert not list(directory.glob("*.tmp"))


def test_state_survives_close_and_reopen(new_log, caplog):
    log = new_log(SMALL)
    busy_log(log)
    assert log.segment_count > 2
    before = state_of(log)
    log.close()
    caplog.set_level(logging.INFO, logger="broker.storage")
    again = PartitionLog.open(log.directory, SMALL, recovery_point=log.log_end_offset)
    assert caplog.records == []  # the snapshot at the log end: nothing to replay
    assert state_of(again) == before
    check_continues(again)
    again.close()


def crashed_copy(log: PartitionLog, name: str) -> Path:
    """The files of a log that was never closed, as a crashed broker leaves them."""
    target = log.directory.parent / name / log.directory.name
    shutil.copytree(log.directory, target)
    return target


def test_state_survives_an_unclean_reopen(new_log, caplog):
    log = new_log(SMALL)
    busy_log(log)
    log.flush()
    for i in range(12, 15):  # after the last snapshot: only the log has these
        produce(log, idem(1, 2 * i, 2))
    before = state_of(log)
    directory = crashed_copy(log, "crashed")
    snapshots = sorted(directory.glob("*.snapshot"))
    assert snapshots and int(snapshots[-1].stem) < log.log_end_offset
    caplog.set_level(logging.INFO, logger="broker.storage")
    assert log.recovery_point < log.log_end_offset
    for recovery_point in (0, log.recovery_point):
        caplog.clear()
        copy = crashed_copy(log, f"crashed-{recovery_point}")
        again = PartitionLog.open(copy, SMALL, recovery_point=recovery_point)
        assert state_of(again) == before
        assert f"rebuilt producer state from offset {snapshots[-1].stem.lstrip('0')}" in (
            caplog.text
        )
        again.close()
    again = PartitionLog.open(directory, SMALL, recovery_point=0)
    assert again.log_end_offset == log.log_end_offset
    check_continues(again)
    again.close()


@pytest.mark.parametrize("damage", ["torn", "empty", "zeros", "flipped-bit", "wrong-offset"])
def test_a_damaged_snapshot_is_ignored(new_log, caplog, damage):
    log = new_log(SMALL)
    busy_log(log)
    log.flush()
    before = state_of(log)
    directory = crashed_copy(log, "crashed")
    older, newest = sorted(directory.glob("*.snapshot"))
    data = newest.read_bytes()
    if damage == "torn":
        newest.write_bytes(data[: len(data) // 2])
    elif damage == "empty":
        newest.write_bytes(b"")
    elif damage == "zeros":
        newest.write_bytes(bytes(len(data)))
    elif damage == "flipped-bit":
        newest.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    else:  # a whole, valid snapshot under another offset's name
        newest.write_bytes(older.read_bytes())
    again = PartitionLog.open(directory, SMALL, recovery_point=0)
    assert f"ignoring producer snapshot {newest.name}" in caplog.text
    assert state_of(again) == before
    check_continues(again)
    again.close()


def test_without_any_snapshot_the_state_is_rebuilt_from_the_whole_log(new_log):
    log = new_log(SMALL)
    busy_log(log)
    before = state_of(log)
    directory = crashed_copy(log, "crashed")
    for path in directory.glob("*.snapshot"):
        path.unlink()
    (directory / "00000000000000000003.snapshot.tmp").write_bytes(b"half a snapshot")
    again = PartitionLog.open(directory, SMALL, recovery_point=0)
    assert state_of(again) == before
    assert not list(directory.glob("*.tmp"))
    check_continues(again)
    again.close()


def test_state_survives_sigkill(tmp_path):
    """A real broker-like process dies by SIGKILL after appends no snapshot holds."""
    script = textwrap.dedent(
        """
        import os, signal, sys, uuid
        from pathlib import Path
        from broker.storage import LogConfig, LogManager
        from tests.unit.storage.test_producer_state import busy_log, idem, produce
        manager = LogManager(Path(sys.argv[1]))
        manager.load(lambda topic: LogConfig(segment_bytes=600))
        log = manager.create("tweets", 0, uuid.uuid4(), LogConfig(segment_bytes=600))
        busy_log(log)
        manager.checkpoint({})
        produce(log, idem(1, 24, 2))
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    env = {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{HERE}"}
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], env=env, capture_output=True, timeout=60
    )
    assert result.returncode == -9, result.stderr.decode()
    manager = LogManager(tmp_path)
    log = manager.load(lambda topic: SMALL)[("tweets", 0)]
    entry = log.producer_state.entry(1)
    assert (entry.last_seq, entry.last_offset) == (25, log.log_end_offset - 1)
    duplicate = unchanged_by(log, [idem(1, 24, 2)], DuplicateBatch)
    assert duplicate.last_offset == log.log_end_offset - 1
    assert produce(log, idem(1, 26), idem(2, 112), idem(3, 3, epoch=1)) == log.log_end_offset - 3
    manager.close({})


# ---- truncation, retention, expiration ------------------------------------------------------


def test_truncate_to_rewinds_the_state(new_log):
    log = new_log(SMALL)
    busy_log(log)
    log.flush()
    kept_state = state_of(log)
    cut = log.log_end_offset
    for i in range(12, 20):
        produce(log, idem(1, 2 * i, 2))
    produce(log, idem(3, 0, epoch=2))
    produce(log, idem(5, 0))
    assert max(int(p.stem) for p in log.directory.glob("*.snapshot")) > cut
    log.truncate_to(cut)
    assert log.log_end_offset == cut
    assert state_of(log) == kept_state
    assert all(int(p.stem) <= cut for p in log.directory.glob("*.snapshot"))
    # the truncated batches are new again; the old epoch is current again
    assert produce(log, idem(1, 24, 2)) == cut
    assert produce(log, idem(3, 3, epoch=1)) == cut + 2
    assert log.producer_state.entry(5) is None
    # and so it stays after a restart
    before = state_of(log)
    log.close()
    again = PartitionLog.open(log.directory, SMALL, recovery_point=0)
    assert state_of(again) == before
    again.close()


def test_truncate_into_older_segments_replays_from_an_older_snapshot_or_the_start(new_log):
    log = new_log(SMALL)
    busy_log(log)
    first_snapshot = min(int(p.stem) for p in log.directory.glob("*.snapshot"))
    rows = stored(log)
    assert rows[:6] == [
        (0, 1, 1, 0, 0),
        (2, 2, -1, -1, -1),
        (3, 3, 2, 0, 100),
        (4, 5, 1, 0, 2),
        (6, 6, 2, 0, 101),
        (7, 8, 1, 0, 4),
    ]
    assert first_snapshot > 7
    log.truncate_to(7)  # below every snapshot: rebuilt from the log's start
    assert state_of(log) == {
        1: (0, [BatchMetadata(0, 1, 0, 1, 1_000), BatchMetadata(2, 3, 4, 5, 1_001)], 1_001),
        2: (0, [BatchMetadata(100, 100, 3, 3, 2_000), BatchMetadata(101, 101, 6, 6, 2_001)], 2_001),
    }
    assert produce(log, idem(1, 4, 2), idem(2, 102)) == 7


def test_truncating_only_plain_batches_keeps_the_state(new_log):
    log = new_log()
    produce(log, idem(1, 0))
    produce(log, make_batch(3))
    entry = log.producer_state.entry(1)
    before = state_of(log)
    log.truncate_to(2)
    assert log.log_end_offset == 1
    assert state_of(log) == before
    assert log.producer_state.entry(1) is entry  # kept, not reloaded


def test_retention_keeps_producers_whose_data_is_deleted(new_log):
    """Kafka (since KIP-360) keeps producer state when the log start passes a producer's
    batches; it goes only by producer.id.expiration.ms."""
    log = new_log(LogConfig(segment_bytes=100, retention_ms=1_000))
    produce(log, idem(1, 0, timestamp=1_000), now_ms=1_000)
    produce(log, idem(2, 0, timestamp=5_000), now_ms=5_000)
    produce(log, idem(2, 1, timestamp=5_000), now_ms=5_000)
    assert log.segment_count == 3
    assert log.delete_expired(now_ms=5_000) == 1
    assert log.log_start_offset == 1
    unchanged_by(log, [idem(1, 0)], DuplicateBatch)
    unchanged_by(log, [idem(1, 2)], OutOfOrderSequence)
    assert all(int(p.stem) >= 1 for p in log.directory.glob("*.snapshot"))
    before = state_of(log)
    log.close()
    again = PartitionLog.open(log.directory, log.config, recovery_point=0, log_start_offset=1)
    assert state_of(again) == before
    again.close()


def test_idle_producers_expire_by_their_last_batch_timestamp(tmp_path):
    manager = LogManager(tmp_path, producer_id_expiration_ms=10_000)
    manager.load(lambda topic: LogConfig())
    log = manager.create("tweets", 0, uuid.uuid4(), LogConfig())
    produce(log, idem(1, 0, timestamp=1_000))
    produce(log, idem(2, 0, timestamp=5_000))
    manager.retention_pass(10_999)
    assert sorted(log.producer_state.producers) == [1, 2]
    manager.retention_pass(11_000)
    assert sorted(log.producer_state.producers) == [2]
    manager.close({})
    # the snapshot taken on close knows producer 1 is gone: replay does not bring it back
    manager = LogManager(tmp_path)
    log = manager.load(lambda topic: LogConfig())[("tweets", 0)]
    assert sorted(log.producer_state.producers) == [2]
    # an expired producer is unknown: any sequence goes
    assert produce(log, idem(1, 77)) == 2
    assert log.expire_producers(20_000) == 0  # Kafka's default producer.id.expiration.ms: a day
    assert log.expire_producers(5_000 + 86_400_000) == 2
    assert log.producer_state.producers == {}
    manager.close({})


# ---- a model: the producer state is a function of the batches in the log --------------------


class Sent(NamedTuple):
    pid: int
    epoch: int
    seq: int
    records: int

    @property
    def last_seq(self) -> int:
        return (self.seq + self.records - 1) % WRAP

    def batch(self) -> bytes:
        if self.pid < 0:
            return make_batch(self.records)
        return idem(self.pid, self.seq, self.records, epoch=self.epoch)


class Stored(NamedTuple):
    sent: Sent
    base: int
    last: int


def expected_outcome(log_rows: list[Stored], request: list[Sent]):
    """What Kafka answers, derived from the whole log rather than from a five-batch window:
    ``("dup", base, last)``, ``("epoch",)``, ``("oos",)`` or ``("append",)``."""

    def recent(rows, pid):
        mine = [row for row in rows if row.sent.pid == pid]
        if not mine:
            return None, []
        epoch = mine[-1].sent.epoch
        return epoch, [row for row in mine if row.sent.epoch == epoch][-5:]

    simulated = list(log_rows)
    for sent in request:
        if sent.pid >= 0:
            epoch, last_five = recent(log_rows, sent.pid)
            for row in last_five:
                if (sent.epoch, sent.seq, sent.last_seq) == (
                    epoch,
                    row.sent.seq,
                    row.sent.last_seq,
                ):
                    return ("dup", row.base, row.last)
            epoch, last_five = recent(simulated, sent.pid)
            if epoch is not None:
                if sent.epoch < epoch:
                    return ("epoch",)
                if sent.epoch != epoch:
                    if sent.seq != 0:
                        return ("oos",)
                elif sent.seq != (last_five[-1].sent.last_seq + 1) % WRAP:
                    return ("oos",)
        simulated.append(Stored(sent, -1, -1))
    return ("append",)


PIDS = (11, 12, 13)


@settings(
    max_examples=examples(25, 75), deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.data())
def test_random_producers_retries_restarts_and_truncations(data):
    """Producers interleave, retry recent and old batches, bump epochs, wrap sequences; the
    log restarts cleanly, crashes (with a torn snapshot) and is truncated. Every answer is the
    one Kafka gives; the log holds every (producer, epoch, sequence) once, in order; every
    retry of a remembered batch gets its original offsets."""
    draw = data.draw
    config = LogConfig(segment_bytes=draw(st.sampled_from([500, 2_000, 1 << 20])))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "0").mkdir()
        log = PartitionLog.create(root / "0", "tweets", 0, uuid.uuid4(), config)
        rows: list[Stored] = []
        sent_before: list[Sent] = []
        client_epoch = dict.fromkeys(PIDS, 0)
        generation = 0
        for _ in range(draw(st.integers(1, 60), label="steps")):
            action = draw(
                st.sampled_from(
                    ["new"] * 6 + ["retry"] * 3 + ["bump", "junk", "restart", "truncate"]
                )
            )
            if action == "restart":
                generation += 1
                directory = root / str(generation) / "tweets-0"
                if draw(st.booleans(), label="clean"):
                    log.close()
                    shutil.copytree(log.directory, directory)
                else:
                    shutil.copytree(log.directory, directory)
                    snapshots = sorted(directory.glob("*.snapshot"))
                    if snapshots and draw(st.booleans(), label="tear"):
                        torn = snapshots[-1].read_bytes()
                        snapshots[-1].write_bytes(torn[: draw(st.integers(0, len(torn) - 1))])
                        event("torn snapshot")
                    log.close()
                log = PartitionLog.open(directory, config, recovery_point=0)
                event("restart")
                continue
            if action == "truncate":
                if rows:
                    cut = draw(st.sampled_from(rows), label="cut at").base
                    log.truncate_to(cut)
                    rows = [row for row in rows if row.base < cut]
                continue
            if action == "bump":
                pid = draw(st.sampled_from(PIDS))
                client_epoch[pid] += 1
                continue
            if action == "retry":
                if not sent_before:
                    continue
                request = [draw(st.sampled_from(sent_before[-30:]), label="retry")]
            elif action == "junk":
                pid = draw(st.sampled_from(PIDS))
                request = [
                    Sent(
                        pid,
                        draw(st.integers(0, client_epoch[pid] + 1)),
                        draw(st.sampled_from([0, 1, 2, 5, WRAP - 1])),
                        draw(st.integers(1, 3)),
                    )
                ]
            else:
                request = []
                for _ in range(draw(st.integers(1, 3), label="batches")):
                    pid = draw(st.sampled_from((-1, *PIDS)))
                    records = draw(st.integers(1, 3))
                    if pid < 0:
                        request.append(Sent(pid, -1, -1, records))
                        continue
                    simulated = rows + [Stored(s, -1, -1) for s in request]
                    mine = [row.sent for row in simulated if row.sent.pid == pid]
                    epoch = client_epoch[pid]
                    if not mine:  # unknown: start anywhere, near the wrap too
                        seq = draw(st.sampled_from([0, 7, WRAP - 2]))
                    elif mine[-1].epoch == epoch:
                        seq = (mine[-1].last_seq + 1) % WRAP
                    else:
                        seq = 0
                    if mine and mine[-1].epoch > epoch:
                        client_epoch[pid] = epoch = mine[-1].epoch  # after a truncation
                        seq = (mine[-1].last_seq + 1) % WRAP
                    request.append(Sent(pid, epoch, seq, records))
            expected = expected_outcome(rows, request)
            end = log.log_end_offset
            try:
                base = produce(log, *(sent.batch() for sent in request))
            except DuplicateBatch as dup:
                outcome = ("dup", dup.base_offset, dup.last_offset)
            except InvalidProducerEpoch:
                outcome = ("epoch",)
            except OutOfOrderSequence:
                outcome = ("oos",)
            else:
                assert base == end
                outcome = ("append",)
                for sent in request:
                    rows.append(Stored(sent, end, end + sent.records - 1))
                    end += sent.records
            assert outcome == expected, request
            event(f"{action}: {outcome[0]}")
            assert log.log_end_offset == end
            sent_before.extend(sent for sent in request if sent.pid >= 0)

        assert [(b, last, pid, ep, seq) for b, last, pid, ep, seq in stored(log)] == [
            (row.base, row.last, row.sent.pid, row.sent.epoch, row.sent.seq) for row in rows
        ]
        for pid in PIDS:
            records = []  # (epoch, sequence) of every record of pid, in log order
            for row in rows:
                if row.sent.pid == pid:
                    records += [
                        (row.sent.epoch, (row.sent.seq + i) % WRAP) for i in range(row.sent.records)
                    ]
            assert len(set(records)) == len(records)
            for (epoch, seq), (next_epoch, next_seq) in itertools.pairwise(records):
                assert (next_epoch > epoch and next_seq == 0) or (
                    next_epoch == epoch and next_seq == (seq + 1) % WRAP
                )
        log.close()
