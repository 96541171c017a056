"""An append that fails after its batch reached the ``.log`` (here: the ``.index`` is swapped
for a link to ``/dev/full``, so its write gets a real ENOSPC) leaves nothing behind: the log,
both indexes and the producer state are as before, so an idempotent producer's retry is
stored once. The caller gets a StorageError; the data directory's trouble is logged once."""

import logging

import pytest

from broker.protocol.batch import validate_produced
from broker.protocol.records import seal_batch
from broker.storage import LogConfig, PartitionLog, StorageError
from tests.unit.storage.record_batches import offsets_in, produce, read_all

PRODUCER = 42


def idempotent(sequence: int) -> bytes:
    return seal_batch(
        b"v" * 200, count=1, timestamp=1_000, producer_id=PRODUCER, producer_epoch=0,
        base_sequence=sequence,
    )  # fmt: skip


def sequences(log: PartitionLog) -> list[int]:
    data = read_all(log)
    return [header.base_sequence for header in validate_produced(data)]


@pytest.fixture
def index_blocked(new_log):
    """A log with an index entry due on the next append, and a way to block its index."""
    log = new_log(LogConfig(index_interval_bytes=600))
    for sequence in range(3):
        produce(log, idempotent(sequence))
    index = log.directory / "00000000000000000000.index"

    def block() -> bytes:
        saved = index.read_bytes()
        index.unlink()
        index.symlink_to("/dev/full")  # every write to it fails with ENOSPC
        return saved

    def unblock(saved: bytes) -> None:
        index.unlink()
        index.write_bytes(saved)

    return log, block, unblock


def test_a_failed_index_write_rolls_the_log_back(index_blocked, caplog):
    log, block, unblock = index_blocked
    log_file = log.directory / "00000000000000000000.log"
    size, end = log_file.stat().st_size, log.log_end_offset
    saved = block()
    with caplog.at_level(logging.ERROR, logger="broker.storage"):
        for _ in range(3):  # the producer retries
            with pytest.raises(
                StorageError, match="cannot append to tweets-0: No space left on device"
            ):
                produce(log, idempotent(3))
    assert [r.message.count("No space left") for r in caplog.records] == [1], "said once"
    assert (log_file.stat().st_size, log.log_end_offset) == (size, end)

    unblock(saved)
    assert produce(log, idempotent(3)) == end  # the retry: stored now, and once
    produce(log, idempotent(4))
    assert sequences(log) == [0, 1, 2, 3, 4]
    assert [span[0] for span in offsets_in(read_all(log))] == [0, 1, 2, 3, 4]
    log.close()

    config = LogConfig(index_interval_bytes=600)
    reopened = PartitionLog.open(log.directory, config, recovery_point=reopened_end(log))
    assert sequences(reopened) == [0, 1, 2, 3, 4]
    for offset in range(5):  # through the indexes, which the failed append left consistent
        assert offsets_in(reopened.read(offset, 1, 5).read_bytes()) == [(offset, offset)]
    reopened.close()


def reopened_end(log: PartitionLog) -> int:
    """Recover nothing on reopening: the files must be right as they are."""
    return log.log_end_offset


def test_a_roll_that_cannot_create_the_new_segment_keeps_the_log_whole(new_log):
    log = new_log(LogConfig(segment_bytes=1_000))
    for sequence in range(3):
        produce(log, idempotent(sequence))  # 3 x 261 bytes: the next one rolls
    blocker = log.directory / "00000000000000000003.log"
    blocker.mkdir()  # the new segment's .log cannot be created: EISDIR
    with pytest.raises(StorageError, match="cannot append to tweets-0: Is a directory"):
        produce(log, idempotent(3))
    assert (log.segment_count, log.log_end_offset) == (1, 3)
    left = sorted(p.name for p in log.directory.glob("00000000000000000003.*"))
    assert left == [blocker.name, "00000000000000000003.snapshot"]  # no half-made segment

    blocker.rmdir()
    assert produce(log, idempotent(3)) == 3
    assert log.segment_count == 2
    assert sequences(log) == [0, 1, 2, 3]
