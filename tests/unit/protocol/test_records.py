from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from kafka.record.default_records import DefaultRecordBatch

from broker.protocol.batch import validate_produced
from broker.protocol.records import build_batch, iter_records

fields = st.one_of(st.none(), st.binary(max_size=300))


@given(st.lists(st.tuples(fields, fields), min_size=1, max_size=30), st.integers(0, 2**62))
def test_built_batches_validate_read_back_and_parse_in_kafka_python(records, timestamp):
    batch = build_batch(records, timestamp)
    assert validate_produced(batch)[0].record_count == len(records)
    read = list(iter_records(batch))
    assert [(r.key, r.value) for r in read] == records
    assert [r.offset for r in read] == list(range(len(records)))
    assert {r.timestamp for r in read} == {timestamp}
    # An independent decoder: kafka-python's RecordBatch reader, with its CRC check.
    theirs = DefaultRecordBatch(batch)
    assert theirs.validate_crc()
    assert [(r.key, r.value) for r in theirs] == records
