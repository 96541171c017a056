"""ListOffsets by time answers per record, as Kafka's ``LogSegment.findOffsetByTimestamp``:
the time index (per batch, sparse) says where to start, and the batch it lands on is looked
inside, decompressed if need be. MAX_TIMESTAMP answers the first record holding the max."""

import pytest

from broker.storage import LogConfig
from tests.unit.storage.record_batches import at, produce, timed_batch

T = 1_700_000_000_000
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}


@pytest.mark.parametrize("codec", CODECS)
def test_a_lookup_by_time_finds_the_record_inside_the_batch(new_log, codec):
    log = new_log()
    produce(log, timed_batch([T + 100, T + 400, T + 200], codec=CODECS[codec]))
    produce(log, timed_batch([T + 500, T + 450], codec=CODECS[codec]))
    assert at(log.offset_for_timestamp(T + 50)) == (0, T + 100)
    assert at(log.offset_for_timestamp(T + 150)) == (1, T + 400)  # Kafka: 1, not the batch's 0
    assert at(log.offset_for_timestamp(T + 401)) == (3, T + 500)
    assert at(log.offset_for_timestamp(T + 501)) is None
    assert at(log.max_timestamp()) == (3, T + 500)


def test_max_timestamp_is_the_first_record_that_holds_it(new_log):
    log = new_log()
    produce(log, timed_batch([T + 100, T + 400, T + 200, T + 400]))
    assert at(log.max_timestamp()) == (1, T + 400)
    assert log.max_timestamp().leader_epoch == 0


def test_the_log_start_offset_bounds_the_lookup_inside_a_batch(new_log):
    log = new_log()
    produce(log, timed_batch([T + 100, T + 400, T + 200, T + 300]))
    log.advance_log_start(2)
    assert at(log.offset_for_timestamp(T + 150)) == (2, T + 200)
    assert at(log.max_timestamp()) == (2, T + 400)  # the max record lies below the start


def test_a_log_append_time_batch_gives_every_record_its_max_timestamp(new_log):
    log = new_log()
    produce(log, timed_batch([T + 100, T + 400, T + 200], log_append_time=T + 900))
    assert at(log.offset_for_timestamp(T + 150)) == (0, T + 900)
    assert at(log.max_timestamp()) == (0, T + 900)


def test_the_time_index_stays_sparse_and_still_finds_records_in_later_batches(new_log):
    log = new_log(LogConfig(index_interval_bytes=200))
    for i in range(50):
        base = T + 1_000 * i
        produce(log, timed_batch([base + 10, base + 900, base + 500]))
    entries = (log.directory / "00000000000000000000.timeindex").stat().st_size // 12
    assert 0 < entries < 25  # about one entry per 200 bytes of log, not one per batch
    for i in range(50):
        base = T + 1_000 * i
        assert at(log.offset_for_timestamp(base + 11)) == (3 * i + 1, base + 900)
        if i < 49:
            assert at(log.offset_for_timestamp(base + 901)) == (3 * i + 3, base + 1_010)
