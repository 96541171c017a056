from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.protocol.batch import (
    assign_offsets,
    crc_matches,
    read_header,
    scan_valid,
    validate_produced,
)
from broker.protocol.errors import CorruptRecord, InvalidRecord
from tests.support.batches import make_batch

values = st.lists(st.binary(max_size=50), min_size=1, max_size=20)


@given(st.lists(values, min_size=1, max_size=5))
def test_concatenated_batches_validate_and_take_consecutive_offsets(batches):
    records = bytearray(b"".join(make_batch(v) for v in batches))
    headers = validate_produced(records)
    assert [h.record_count for h in headers] == [len(v) for v in batches]
    next_offset = assign_offsets(records, headers, 100, 7)
    assert next_offset == 100 + sum(len(v) for v in batches)
    restamped = list(scan_valid(records))
    expected_bases = [100 + sum(len(v) for v in batches[:i]) for i in range(len(batches))]
    assert [h.base_offset for h in restamped] == expected_bases
    assert all(h.partition_leader_epoch == 7 for h in restamped)
    # Offsets and epoch lie outside the CRC: clients' CRC checks still pass.
    assert all(crc_matches(records, h) for h in restamped)


def test_every_flipped_byte_in_the_crc_range_is_caught():
    batch = make_batch([b"alpha", b"beta"])
    for position in range(21, len(batch)):
        damaged = bytearray(batch)
        damaged[position] ^= 0x40
        with pytest.raises((CorruptRecord, InvalidRecord)):
            validate_produced(damaged)


@pytest.mark.parametrize("cut", [1, 10, 60, 61])
def test_truncated_batches_are_invalid(cut):
    batch = make_batch([b"x" * 20])
    with pytest.raises(InvalidRecord):
        validate_produced(batch[:cut])
    assert list(scan_valid(batch[:-cut])) == []


def test_wrong_magic_and_empty_requests_are_invalid():
    batch = bytearray(make_batch([b"x"]))
    batch[16] = 1
    with pytest.raises(InvalidRecord):
        validate_produced(batch)
    with pytest.raises(InvalidRecord):
        validate_produced(b"")


def test_scan_stops_at_the_first_damaged_batch():
    good = make_batch([b"a"])
    bad = bytearray(make_batch([b"b"]))
    bad[-1] ^= 1
    headers = list(scan_valid(good + bytes(bad) + good))
    assert len(headers) == 1
    assert read_header(good).size == len(good)
