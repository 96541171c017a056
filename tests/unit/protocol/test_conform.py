"""Batches rewritten for a topic's compression.type and message.timestamp.type."""

from __future__ import annotations

import gzip

import pytest

from broker.protocol.batch import ATTR_TIMESTAMP_TYPE, HEADER_SIZE, validate_produced
from broker.protocol.conform import CODECS, NO_APPEND_TIME, conform
from broker.protocol.errors import InvalidRecord
from broker.protocol.records import build_batch, iter_records, seal_batch

PAIRS = [(f"k{i}".encode(), f"value {i} ".encode() * 20) for i in range(50)]


def two_batches() -> bytes:
    first = build_batch(PAIRS[:20], 1_000, producer_id=7, producer_epoch=0, base_sequence=0)
    second = build_batch(PAIRS[20:], 2_000, producer_id=7, producer_epoch=0, base_sequence=20)
    return first + second


def read_back(records: bytes) -> list[tuple[bytes | None, bytes | None]]:
    """Decompress (via an uncompressed rewrite) and read every record."""
    plain, _ = conform(records, validate_produced(records), "uncompressed", None, NO_APPEND_TIME)
    return [(record.key, record.value) for record in iter_records(plain)]


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_a_batch_is_recompressed_into_the_topics_codec_and_back(codec):
    records = two_batches()
    rewritten, headers = conform(records, validate_produced(records), codec, None, NO_APPEND_TIME)
    assert validate_produced(rewritten) == headers  # whole batches, CRCs right
    assert [h.compression for h in headers] == [CODECS[codec]] * 2
    assert [(h.producer_id, h.base_sequence, h.record_count) for h in headers] == [
        (7, 0, 20),
        (7, 20, 30),
    ]
    assert len(rewritten) < len(records)
    assert read_back(rewritten) == PAIRS


def test_producer_keeps_batches_as_sent_and_a_matching_codec_is_not_redone():
    records = two_batches()
    headers = validate_produced(records)
    assert conform(records, headers, "producer", None, NO_APPEND_TIME) == (records, headers)
    assert conform(records, headers, "uncompressed", None, NO_APPEND_TIME) == (records, headers)


def test_gzip_sent_to_an_uncompressed_topic_is_stored_uncompressed():
    plain = build_batch(PAIRS, 5_000)
    body = plain[HEADER_SIZE:]
    sent = seal_batch(gzip.compress(body), count=len(PAIRS), timestamp=5_000, attributes=1)
    stored, [header] = conform(sent, validate_produced(sent), "uncompressed", None, NO_APPEND_TIME)
    assert header.compression == 0
    assert stored == plain


def test_log_append_time_stamps_every_batch_and_keeps_the_crc_valid():
    records = two_batches()
    stamped, headers = conform(records, validate_produced(records), "producer", None, 99_000)
    assert validate_produced(stamped) == headers
    for header in headers:
        assert header.attributes & ATTR_TIMESTAMP_TYPE
        assert header.max_timestamp == 99_000
    assert [h.base_timestamp for h in headers] == [1_000, 2_000]  # as Kafka leaves them
    both, headers = conform(records, validate_produced(records), "zstd", 3, 99_000)
    assert [(h.compression, h.max_timestamp) for h in headers] == [(4, 99_000)] * 2
    assert validate_produced(both) == headers


def test_records_that_cannot_be_decompressed_are_refused():
    sent = seal_batch(b"not gzip at all", count=1, timestamp=0, attributes=1)
    with pytest.raises(InvalidRecord, match="cannot decompress"):
        conform(sent, validate_produced(sent), "zstd", None, NO_APPEND_TIME)
