"""The log cleaner on one partition log: what a pass keeps, where it stops, how it swaps."""

from __future__ import annotations

import itertools

from broker.protocol.batch import HEADER
from broker.protocol.records import build_batch
from broker.storage import LogConfig, PartitionLog, swap
from broker.storage.cleaner import (
    ATTR_DELETE_HORIZON,
    clean,
    cleanable,
    grab_filthiest,
    plan,
    swap_in,
)
from tests.unit.storage.compaction import (
    COMPACTED,
    batch_spans,
    compact,
    latest,
    records,
    write,
)
from tests.unit.storage.record_batches import produce, read_all


def attributes_at(log: PartitionLog, offset: int) -> int:
    """The attributes of the batch holding ``offset``."""
    data = read_all(log)
    position = 0
    while True:
        fields = HEADER.unpack_from(data, position)
        if fields[0] <= offset <= fields[0] + fields[6]:
            return fields[5]
        position += 12 + fields[1]


def keyed(rounds: int, keys: int) -> list[tuple[bytes, bytes]]:
    return [(b"k%d" % k, b"v%d-%d" % (k, r)) for r in range(rounds) for k in range(keys)]


def test_a_pass_keeps_the_latest_value_of_each_key_at_its_offset(new_log):
    log = new_log(COMPACTED)
    pairs = keyed(rounds=8, keys=5)
    offsets = write(log, pairs)
    active_base = log.segments[-1].base_offset
    result = compact(log)

    assert result is not None and result.records_kept < result.records_read
    cleaned = [r for r in records(log) if r.offset < active_base]
    written = dict(zip(offsets, pairs, strict=True))
    for record in cleaned:  # every kept record is what was written at that offset
        assert written[record.offset] == (record.key, record.value)
    expected = latest([(o, p) for o, p in written.items() if o < active_base])
    assert {r.key: (r.offset, r.value) for r in cleaned} == expected
    assert len(cleaned) == len(expected)  # one per key below the active segment
    spans = batch_spans(log)
    assert spans[0][0] == 0 and spans[-1][1] == log.log_end_offset - 1
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(spans)), "batches must leave no gap"


def test_the_active_segment_and_the_log_end_are_never_touched(new_log):
    log = new_log(COMPACTED)
    write(log, keyed(rounds=8, keys=3))
    active = log.segments[-1]
    before = (active.base_offset, active.size, log.log_end_offset)
    compact(log)
    assert log.segments[-1] is active
    assert (active.base_offset, active.size, log.log_end_offset) == before


def test_a_cleaned_log_loads_again_as_it_was_served(new_log, tmp_path):
    log = new_log(COMPACTED)
    write(log, keyed(rounds=8, keys=4))
    compact(log)
    served, end = read_all(log), log.log_end_offset
    log.close()
    again = PartitionLog.open(log.directory, COMPACTED, recovery_point=0)
    try:
        assert read_all(again) == served and again.log_end_offset == end
    finally:
        again.close()


def test_small_cleaned_segments_are_grouped_into_one(new_log):
    log = new_log(COMPACTED)
    write(log, keyed(rounds=30, keys=2))
    assert log.segment_count > 4
    compact(log)  # full segments: each is cleaned on its own, as Kafka groups by size
    compact(log)  # now small: they fit one
    assert log.segment_count == 2  # the cleaned one, then the active one


def test_a_tombstone_goes_once_delete_retention_ms_has_passed_since_its_first_pass(new_log):
    log = new_log(COMPACTED)
    write(log, [(b"gone", b"v1"), (b"kept", b"v1"), (b"gone", None)], now_ms=1_000)
    write(log, keyed(rounds=6, keys=2), now_ms=1_000)  # rolls the tombstone out of the active one
    compact(log, now_ms=5_000)
    first = {r.key: r.value for r in records(log)}
    assert first[b"gone"] is None and first[b"kept"] == b"v1"
    horizon = next(r for r in records(log) if r.key == b"gone")
    assert horizon.timestamp == 1_000, "a record keeps its timestamp under a delete horizon"
    assert attributes_at(log, horizon.offset) & ATTR_DELETE_HORIZON

    compact(log, checkpoint=None, now_ms=5_000 + COMPACTED.delete_retention_ms - 1)
    assert b"gone" in {r.key for r in records(log)}, "dropped before its horizon"
    compact(log, checkpoint=None, now_ms=5_000 + COMPACTED.delete_retention_ms)
    kept = {r.key: r.value for r in records(log)}
    assert b"gone" not in kept and kept[b"kept"] == b"v1"


def test_records_without_a_key_are_dropped_as_kafka_drops_them(new_log):
    log = new_log(COMPACTED)
    write(log, [(None, b"keyless"), *keyed(rounds=6, keys=2)])
    compact(log)
    assert all(r.key is not None for r in records(log))


def test_compressed_batches_are_cleaned_and_stay_compressed(new_log):
    log = new_log(COMPACTED)
    write(log, keyed(rounds=8, keys=3), codec=1)
    active_base = log.segments[-1].base_offset
    compact(log)
    cleaned = [r for r in records(log) if r.offset < active_base]
    assert len({r.key for r in cleaned}) == len(cleaned) == 3
    assert all(attributes_at(log, r.offset) & 7 == 1 for r in cleaned)


def test_an_idempotent_producers_last_batch_stays_so_its_sequence_survives_a_reload(new_log):
    log = new_log(COMPACTED)
    for sequence in range(3):
        batch = build_batch(
            [(b"same", b"v%d" % sequence)],
            1_000,
            producer_id=7,
            producer_epoch=0,
            base_sequence=sequence,
        )
        produce(log, batch)
    write(log, [(b"same", b"newer"), *keyed(rounds=8, keys=2)])  # all three obsolete
    compact(log)
    spans = batch_spans(log)
    assert spans[:2] == [(0, 1, 0), (2, 2, 0)], "one empty batch for 0-1, producer 7's kept"
    log.close()
    for snapshot in log.directory.glob("*.snapshot"):
        snapshot.unlink()  # the state must come from the log itself
    again = PartitionLog.open(log.directory, COMPACTED, recovery_point=0)
    try:
        assert again.producer_state.entry(7).last_seq == 2
    finally:
        again.close()


def test_records_newer_than_min_compaction_lag_ms_are_not_cleaned(new_log):
    log = new_log(LogConfig(**{**COMPACTED.__dict__, "min_compaction_lag_ms": 60_000}))
    write(log, keyed(rounds=8, keys=2), now_ms=1_000)
    found = cleanable(log, None, now_ms=30_000, high_watermark=None)
    assert found.first_uncleanable == 0 and plan(log, found, 30_000, 100) is None
    found = cleanable(log, None, now_ms=70_000, high_watermark=None)
    assert found.first_uncleanable == log.segments[-1].base_offset


def test_a_full_offset_map_ends_the_pass_early_and_the_next_one_goes_on(new_log):
    log = new_log(COMPACTED)
    pairs = keyed(rounds=1, keys=30) + keyed(rounds=1, keys=30)
    offsets = write(log, pairs)
    active_base = log.segments[-1].base_offset
    first = compact(log, max_keys=10)
    assert first is not None and first.dirty_end < active_base
    second = compact(log, checkpoint=first.dirty_end, max_keys=1000)
    assert second is not None and second.dirty_end == active_base
    expected = latest([(o, p) for o, p in zip(offsets, pairs, strict=True) if o < active_base])
    assert {r.key: (r.offset, r.value) for r in records(log) if r.offset < active_base} == expected


def test_the_filthiest_compacted_log_is_picked(new_log):
    quiet = new_log(COMPACTED, topic="quiet")
    busy = new_log(COMPACTED, topic="busy")
    plain = new_log(LogConfig(segment_bytes=600), topic="plain")
    write(quiet, keyed(rounds=8, keys=2))
    write(busy, keyed(rounds=8, keys=2))
    write(plain, keyed(rounds=8, keys=2))
    logs = {("quiet", 0): quiet, ("busy", 0): busy, ("plain", 0): plain}
    compact(quiet)
    checkpoints = {("quiet", 0): quiet.segments[-1].base_offset}
    picked = grab_filthiest(logs, checkpoints, 1_000, {})
    assert picked is not None and picked[0] == ("busy", 0)
    checkpoints[("busy", 0)] = busy.segments[-1].base_offset
    assert grab_filthiest(logs, checkpoints, 1_000, {}) is None


def _interrupted(new_log, steps: int) -> tuple[PartitionLog, dict]:
    """A log whose cleaning pass stopped after ``steps`` of: write .cleaned, rename to .swap,
    delete the old segments. Returns the log (closed) and what it served before."""
    log = new_log(COMPACTED, topic=f"crash{steps}")
    pairs = keyed(rounds=8, keys=4)
    offsets = write(log, pairs)
    expected = latest(list(zip(offsets, pairs, strict=True)))
    job = plan(log, cleanable(log, None, 1_000, None), 1_000, 1 << 20)
    result = clean(job)
    directory = log.directory
    cleaned = result.cleaned[0]
    if steps >= 2:
        swap.rename(directory, cleaned.base_offset, swap.CLEANED, swap.SWAP)
    if steps >= 3:
        for base, _ in cleaned.replaces:
            for kind in swap.KINDS:
                (directory / f"{base:020d}{kind}").unlink()
    log.close()
    return log, expected


def test_a_crash_at_any_step_of_a_swap_loads_with_every_latest_value(new_log):
    for steps in (1, 2, 3):
        log, expected = _interrupted(new_log, steps)
        again = PartitionLog.open(log.directory, COMPACTED, recovery_point=0)
        try:
            names = [p.name for p in log.directory.iterdir()]
            assert not [n for n in names if n.endswith((".cleaned", ".swap"))], names
            values = {r.key: (r.offset, r.value) for r in records(again)}  # the last one wins
            assert values == expected, f"after step {steps}"
        finally:
            again.close()


def test_a_log_below_its_dirty_ratio_waits_unless_a_record_is_past_max_compaction_lag(new_log):
    lazy = LogConfig(**{**COMPACTED.__dict__, "min_cleanable_dirty_ratio": 0.99})
    log = new_log(lazy)
    write(log, keyed(rounds=8, keys=2), now_ms=1_000)
    first = compact(log)
    write(log, keyed(rounds=8, keys=2), now_ms=1_000)  # dirt, but less than 99% of the log
    logs = {("tweets", 0): log}
    checkpoints = {("tweets", 0): first.dirty_end}
    found = cleanable(log, first.dirty_end, 1_000, None)
    assert found.dirty_bytes > 0 and found.ratio < 0.99
    assert grab_filthiest(logs, checkpoints, 1_000, {}) is None
    log.update_config(LogConfig(**{**lazy.__dict__, "max_compaction_lag_ms": 5_000}))
    assert grab_filthiest(logs, checkpoints, 6_000, {}) is None  # not yet past the lag
    picked = grab_filthiest(logs, checkpoints, 6_001, {})
    assert picked is not None and picked[1].overdue


def test_a_compacted_log_rolls_by_max_compaction_lag_ms_when_it_is_sooner(new_log):
    config = LogConfig(cleanup_policy="compact", max_compaction_lag_ms=1_000)
    log = new_log(config)
    write(log, [(b"a", b"1")], now_ms=10_000)
    write(log, [(b"a", b"2")], now_ms=10_500)
    assert log.segment_count == 1
    write(log, [(b"a", b"3")], now_ms=11_001)  # its batch's timestamp is past the lag
    assert log.segment_count == 2


def test_a_pass_is_dropped_when_retention_changed_the_log_meanwhile(new_log):
    both = LogConfig(**{**COMPACTED.__dict__, "cleanup_policy": "compact,delete"})
    log = new_log(LogConfig(**{**both.__dict__, "retention_ms": 5_000}))
    write(log, keyed(rounds=8, keys=2), now_ms=1_000)
    result = clean(plan(log, cleanable(log, None, 1_000, None), 1_000, 1 << 20))
    assert log.delete_expired(now_ms=10_000) > 0  # while the cleaner process ran
    served = read_all(log)
    assert not swap_in(log, result)
    assert read_all(log) == served
    assert not [p.name for p in log.directory.iterdir() if p.name.endswith(".cleaned")]
