"""Opening a damaged partition directory: what is cut, what is rebuilt, what is logged."""

import logging
import random
import shutil
import struct
from pathlib import Path

import pytest

from broker.storage import LogConfig, PartitionLog
from tests.unit.storage.record_batches import at, make_batch, offsets_in, produce, read_all

CONFIG = LogConfig(segment_bytes=600, index_interval_bytes=100)
BATCH = make_batch(3, record_bytes=30)  # 151 bytes: three batches to a segment
LOG_END = 24  # eight batches: segments at 0, 9, 18 (the active one holds two)


@pytest.fixture
def pristine(tmp_path: Path, topic_id) -> Path:
    """A cleanly closed log of three segments, the last one active."""
    (tmp_path / "pristine").mkdir()
    log = PartitionLog.create(tmp_path / "pristine", "tweets", 0, topic_id, CONFIG)
    for i in range(8):
        produce(log, make_batch(3, record_bytes=30, timestamp=1_000 + i))
    assert log.segment_count == 3
    assert log.log_end_offset == LOG_END
    log.close()
    return log.directory


def copy_of(pristine: Path, name: str) -> Path:
    directory = pristine.parent.parent / name / pristine.name
    shutil.copytree(pristine, directory)
    return directory


def seg(directory: Path, base: int, suffix: str = ".log") -> Path:
    return directory / f"{base:020d}{suffix}"


def check_continues(log: PartitionLog, expected_end: int) -> None:
    """The log ends at ``expected_end`` and the next append continues there, no gap."""
    assert log.log_end_offset == expected_end
    assert produce(log, make_batch(2)) == expected_end
    spans = offsets_in(read_all(log))
    assert [base for base, _ in spans] == [0, *[last + 1 for _, last in spans[:-1]]]
    assert spans[-1] == (expected_end, expected_end + 1)


@pytest.mark.parametrize("recovery_point", [0, LOG_END], ids=["unflushed", "stale-checkpoint"])
def test_torn_tail_cut_at_every_byte_of_the_last_batch(pristine, recovery_point):
    """Whatever the checkpoint claims, a torn last batch is found and cut."""
    for cut in range(1, len(BATCH) + 1):
        directory = copy_of(pristine, f"cut-{cut}")
        active = seg(directory, 18)
        active.write_bytes(active.read_bytes()[:-cut])
        log = PartitionLog.open(directory, CONFIG, recovery_point=recovery_point)
        assert active.stat().st_size == len(BATCH), cut
        assert log.recovery_point == 21
        check_continues(log, 21)
        log.close()


def test_a_torn_tail_is_found_even_if_the_checkpoint_calls_it_flushed(tmp_path, topic_id):
    """A crashed log (never closed, no index entries yet) whose recovery point claims the
    torn batch was flushed: the header walk over the tail still finds the tear."""
    (tmp_path / "original").mkdir()
    log = PartitionLog.create(tmp_path / "original", "tweets", 0, topic_id, LogConfig())
    for _ in range(3):
        produce(log, BATCH)
    crashed = copy_of(log.directory, "crashed")
    log.close()
    active = seg(crashed, 0)
    active.write_bytes(active.read_bytes()[:-1])
    recovered = PartitionLog.open(crashed, LogConfig(), recovery_point=9)
    check_continues(recovered, 6)
    recovered.close()


def test_a_cut_in_an_older_segment_drops_the_later_ones_as_kafka_does(pristine, caplog):
    directory = copy_of(pristine, "middle-garbage")
    with seg(directory, 9).open("ab") as file:
        file.write(b"garbage")
    log = PartitionLog.open(directory, CONFIG, recovery_point=0)
    assert "cut 7 bytes" in caplog.text
    assert not seg(directory, 18).exists()
    check_continues(log, 18)
    log.close()


def test_recovery_logs_what_it_cut(pristine, caplog):
    directory = copy_of(pristine, "logged")
    active = seg(directory, 18)
    active.write_bytes(active.read_bytes()[:-40])
    with caplog.at_level(logging.INFO, logger="broker.storage"):
        PartitionLog.open(directory, CONFIG, recovery_point=0).close()
    lines = [r.getMessage() for r in caplog.records if "cut 111 bytes" in r.getMessage()]
    assert len(lines) == 1
    assert "tweets-0: recovered 00000000000000000018.log" in lines[0]
    assert "kept 151 bytes up to offset 21" in lines[0]


def test_a_clean_open_scans_nothing(pristine, caplog):
    with caplog.at_level(logging.INFO, logger="broker.storage"):
        log = PartitionLog.open(pristine, CONFIG, recovery_point=LOG_END)
    assert caplog.records == []
    assert log.log_end_offset == LOG_END
    assert at(log.max_timestamp()) == (21, 1_007)
    log.close()


def _batch_at(offset: int) -> bytes:
    batch = bytearray(make_batch(3, record_bytes=30))
    struct.pack_into(">q", batch, 0, offset)
    return bytes(batch)


def _bad_crc() -> bytes:
    batch = bytearray(_batch_at(LOG_END))
    batch[-1] ^= 0x01
    return bytes(batch)


GARBAGE = {
    "random": random.Random(7).randbytes(300),
    "zeros": bytes(4096),
    "offset-gap": _batch_at(LOG_END + 5),
    "offset-reused": _batch_at(LOG_END - 3),
    "bad-crc": _bad_crc(),
    "huge-length": struct.pack(">qi", LOG_END, 2**31 - 1) + bytes(100),
}


@pytest.mark.parametrize("kind", sorted(GARBAGE))
def test_garbage_after_the_active_segment_is_cut(pristine, kind, caplog):
    directory = copy_of(pristine, kind)
    active = seg(directory, 18)
    size = active.stat().st_size
    with active.open("ab") as file:
        file.write(GARBAGE[kind])
    log = PartitionLog.open(directory, CONFIG, recovery_point=0)
    assert active.stat().st_size == size
    assert f"cut {len(GARBAGE[kind])} bytes" in caplog.text
    check_continues(log, LOG_END)
    log.close()


def test_a_valid_batch_after_the_garbage_is_not_kept(pristine):
    directory = copy_of(pristine, "sandwich")
    with seg(directory, 18).open("ab") as file:
        file.write(bytes(61) + _batch_at(LOG_END))
    log = PartitionLog.open(directory, CONFIG, recovery_point=0)
    check_continues(log, LOG_END)
    log.close()


def test_a_damaged_batch_in_an_older_segment_drops_everything_after_it(pristine, caplog):
    directory = copy_of(pristine, "bitflip")
    middle = seg(directory, 9)
    data = bytearray(middle.read_bytes())
    data[len(BATCH) + 100] ^= 0x40  # inside the second batch of the middle segment
    middle.write_bytes(bytes(data))
    log = PartitionLog.open(directory, CONFIG, recovery_point=9)
    assert not seg(directory, 18).exists()
    assert not seg(directory, 18, ".index").exists()
    assert "deleted 1 segment(s) from 00000000000000000018.log on" in caplog.text
    assert log.segment_count == 2
    check_continues(log, 12)
    log.close()


def test_a_missing_middle_segment_drops_the_segments_after_the_gap(pristine, caplog):
    directory = copy_of(pristine, "gap")
    for suffix in (".log", ".index", ".timeindex"):
        seg(directory, 9, suffix).unlink()
    log = PartitionLog.open(directory, CONFIG, recovery_point=LOG_END)
    assert sorted(p.name for p in directory.glob("*.log")) == ["00000000000000000000.log"]
    assert "the log now ends at offset 9 before them" in caplog.text
    check_continues(log, 9)
    log.close()


def _swap_first_two_entries(data: bytes) -> bytes:
    return data[8:16] + data[0:8] + data[16:]


INDEX_DAMAGE = {
    "index-missing": (".index", None),
    "timeindex-missing": (".timeindex", None),
    "index-odd-size": (".index", lambda data: data + b"\x00\x00\x00"),
    "timeindex-odd-size": (".timeindex", lambda data: data[:-5]),
    "index-not-monotonic": (".index", _swap_first_two_entries),
    "index-past-the-end": (".index", lambda data: data + struct.pack(">ii", 8, 10_000)),
    "index-wrong-offset": (".index", lambda data: data[:-8] + struct.pack(">ii", 7, 302)),
    "timeindex-past-the-end": (".timeindex", lambda data: data + struct.pack(">qi", 5_000, 50)),
    "timeindex-zeroed": (".timeindex", lambda data: bytes(len(data) + 12)),
}


@pytest.mark.parametrize("damage", sorted(INDEX_DAMAGE))
def test_damaged_indexes_are_rebuilt_even_before_the_recovery_point(pristine, damage, caplog):
    suffix, change = INDEX_DAMAGE[damage]
    directory = copy_of(pristine, damage)
    original = seg(pristine, 0, suffix).read_bytes()
    assert len(original) >= 16, "the first segment's index should hold entries to damage"
    target = seg(directory, 0, suffix)
    if change is None:
        target.unlink()
    else:
        target.write_bytes(change(original))
    log = PartitionLog.open(directory, CONFIG, recovery_point=LOG_END)
    assert target.read_bytes() == original
    assert "recovered 00000000000000000000.log" in caplog.text
    assert "cut 0 bytes" in caplog.text
    for offset in range(LOG_END):
        piece = log.read(offset, 1, LOG_END)
        assert offsets_in(piece.read_bytes())[0][0] == offset - offset % 3
    assert at(log.offset_for_timestamp(1_001)) == (3, 1_001)
    check_continues(log, LOG_END)
    log.close()


def test_leftover_index_files_without_a_log_are_removed(pristine, caplog):
    directory = copy_of(pristine, "orphans")
    seg(directory, 30, ".index").write_bytes(struct.pack(">ii", 1, 100))
    seg(directory, 30, ".timeindex").write_bytes(b"")
    log = PartitionLog.open(directory, CONFIG, recovery_point=LOG_END)
    assert not seg(directory, 30, ".index").exists()
    assert "removed 00000000000000000030.index, which has no .log file" in caplog.text
    check_continues(log, LOG_END)
    log.close()


def test_a_directory_without_segments_starts_at_the_log_start(pristine):
    directory = copy_of(pristine, "empty")
    for path in directory.glob("000*"):
        path.unlink()
    log = PartitionLog.open(directory, CONFIG, recovery_point=LOG_END, log_start_offset=LOG_END)
    assert (log.log_start_offset, log.log_end_offset) == (LOG_END, LOG_END)
    assert produce(log, make_batch(1)) == LOG_END
    log.close()
