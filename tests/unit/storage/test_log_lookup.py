"""Reads through the indexes agree with a plain model of the log, before and after reopening."""

import tempfile
import uuid
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from broker.storage import LogConfig, PartitionLog
from tests.unit.storage.record_batches import at, make_batch, offsets_in, produce

batch_specs = st.tuples(
    st.integers(1, 5),  # records
    st.integers(0, 60),  # filler bytes per record
    st.integers(0, 10_000),  # max timestamp
)
appends = st.lists(st.lists(batch_specs, min_size=1, max_size=3), min_size=1, max_size=25)


class Model:
    """Batches as (base, last, size, max timestamp), grouped into segments by segment.bytes."""

    def __init__(self, segment_bytes: int) -> None:
        self.segment_bytes = segment_bytes
        self.segments: list[list[tuple[int, int, int, int]]] = [[]]
        self.end = 0

    def append(self, sizes_and_spans: list[tuple[int, int, int]]) -> None:
        total = sum(size for size, _, _ in sizes_and_spans)
        current = self.segments[-1]
        if current and sum(b[2] for b in current) + total > self.segment_bytes:
            self.segments.append(current := [])
        for size, records, stamp in sizes_and_spans:
            current.append((self.end, self.end + records - 1, size, stamp))
            self.end += records

    def read(self, offset: int, max_bytes: int, max_offset: int) -> list[tuple[int, int]]:
        max_offset = min(max_offset, self.end)
        if offset >= max_offset:
            return []
        segment = next(s for s in self.segments if s and s[0][0] <= offset <= s[-1][1])
        batches = [b for b in segment if b[1] >= offset]
        if batches[0][1] >= max_offset:
            return []
        taken, total = [batches[0]], batches[0][2]
        for batch in batches[1:]:
            if batch[1] >= max_offset or total + batch[2] > max_bytes:
                break
            taken.append(batch)
            total += batch[2]
        return [(b[0], b[1]) for b in taken]

    def offset_for_timestamp(self, timestamp: int) -> tuple[int, int] | None:
        for segment in self.segments:
            for base, _, _, stamp in segment:
                if stamp >= timestamp:
                    return base, stamp
        return None


def check_reads(log: PartitionLog, model: Model, max_bytes: int) -> None:
    assert log.log_end_offset == model.end
    for offset in range(model.end + 1):
        for max_offset in {offset + 1, offset + 4, model.end}:
            piece = log.read(offset, max_bytes, max_offset)
            expected = model.read(offset, max_bytes, max_offset)
            got = offsets_in(piece.read_bytes()) if piece else []
            assert got == expected, (offset, max_bytes, max_offset)
    for timestamp in (0, 2_500, 5_000, 7_500, 10_000, 10_001):
        assert at(log.offset_for_timestamp(timestamp)) == model.offset_for_timestamp(timestamp)


@settings(max_examples=60, deadline=None)
@given(
    appends=appends,
    segment_bytes=st.integers(100, 1_000),
    index_interval_bytes=st.integers(0, 400),
    max_bytes=st.integers(0, 700),
)
def test_reads_match_a_linear_model(appends, segment_bytes, index_interval_bytes, max_bytes):
    config = LogConfig(segment_bytes=segment_bytes, index_interval_bytes=index_interval_bytes)
    model = Model(segment_bytes)
    with tempfile.TemporaryDirectory() as root:
        log = PartitionLog.create(Path(root), "t", 0, uuid.uuid4(), config)
        for specs in appends:
            batches = [
                make_batch(records, record_bytes=size, timestamp=stamp)
                for records, size, stamp in specs
            ]
            produce(log, *batches)
            model.append([(len(b), r, s) for b, (r, _, s) in zip(batches, specs, strict=True)])
        assert log.segment_count == len(model.segments)
        check_reads(log, model, max_bytes)
        log.close()
        for recovery_point in (model.end, 0):  # indexes loaded from disk, then rebuilt
            reopened = PartitionLog.open(log.directory, config, recovery_point=recovery_point)
            check_reads(reopened, model, max_bytes)
            reopened.close()
