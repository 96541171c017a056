"""Compaction as a property: random keyed writes and deletes, interleaved with cleaning passes
as the broker runs them (each from the last pass's checkpoint) and with time passing. After
every pass, read back from offset 0:

- every record is the one written at its offset, offsets strictly increase, batches leave no
  gap up to the log end;
- each key's latest write is there, except a tombstone whose delete.retention.ms has run out
  since the first pass that saw it, which must be gone;
- a record superseded within the cleaned range is gone;
- the log loads again as it was served.
"""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from broker.storage import LogConfig, PartitionLog
from tests.unit.storage.compaction import batch_spans, compact, records, write
from tests.unit.storage.record_batches import read_all

RETENTION_MS = 100
CONFIG = LogConfig(
    cleanup_policy="compact",
    segment_bytes=200,
    min_cleanable_dirty_ratio=0.01,
    delete_retention_ms=RETENTION_MS,
)

keys = st.sampled_from([b"a", b"b", b"c", b"d", b"e"])
values = st.none() | st.binary(min_size=1, max_size=8)  # None: a tombstone
# Rounds of writes, each followed by a pass that many milliseconds later.
rounds = st.lists(
    st.tuples(st.lists(st.tuples(keys, values), min_size=1, max_size=12), st.integers(0, 150)),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rounds=rounds)
def test_compaction_keeps_the_latest_value_of_every_key(new_log, rounds):
    log = new_log(CONFIG, topic=f"p{next(_names)}")
    written: dict[int, tuple[bytes, bytes | None]] = {}
    first_pass_ms: dict[int, int] = {}  # tombstone offset -> time of the first pass over it
    now, checkpoint = 1_000, None
    for pairs, later in rounds:
        for offset, pair in zip(write(log, pairs, now_ms=now), pairs, strict=True):
            written[offset] = pair
        now += later
        result = compact(log, checkpoint, now_ms=now)
        if result is None:
            continue
        checkpoint = result.dirty_end
        for offset, (_, value) in written.items():
            if value is None and offset < result.dirty_end:
                first_pass_ms.setdefault(offset, now)
        check(log, written, first_pass_ms, now, result.dirty_end)
    check_reload(log)


def check(log, written, first_pass_ms, now, cleaned_end) -> None:
    served = records(log)
    offsets = [r.offset for r in served]
    assert offsets == sorted(set(offsets))
    for record in served:
        assert written[record.offset] == (record.key, record.value)
    spans = batch_spans(log)
    assert spans[0][0] == 0 and spans[-1][1] == log.log_end_offset - 1
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(spans))

    latest = {key: offset for offset, (key, _) in sorted(written.items())}
    present = set(offsets)
    for key, offset in latest.items():
        first_pass = first_pass_ms.get(offset)
        if (
            written[offset][1] is None
            and first_pass is not None
            and now >= first_pass + RETENTION_MS
        ):
            assert offset not in present, f"the tombstone of {key!r} outlived its retention"
        else:
            assert offset in present, f"the latest write of {key!r} (offset {offset}) is gone"
    for offset, (key, _) in written.items():
        superseded = latest[key] != offset and latest[key] < cleaned_end
        if superseded:
            assert offset not in present, f"offset {offset} of {key!r} was superseded"


def check_reload(log: PartitionLog) -> None:
    served, end = read_all(log), log.log_end_offset
    log.close()
    again = PartitionLog.open(log.directory, CONFIG, recovery_point=0)
    try:
        assert read_all(again) == served and again.log_end_offset == end
    finally:
        again.close()


_names = itertools.count()
