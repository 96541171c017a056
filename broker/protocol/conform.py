"""Produced batches made to fit their topic: ``compression.type`` and ``message.timestamp.type``.

As Kafka's ``LogValidator`` does:

- ``compression.type=producer`` (the default) stores each batch as sent. Any other value names
  the codec the topic stores: a batch sent with another codec has its records decompressed and
  compressed again (``uncompressed``: stored without compression), and its header's codec
  bits, length and CRC are rewritten. A batch already in that codec is left alone, so only
  topics that ask pay the cost.
- ``message.timestamp.type=LogAppendTime`` sets each batch's ``maxTimestamp`` to the broker's
  clock at append and the attribute bit that says so; consumers then report that time for
  every record of the batch. The CRC covers both, so it is recomputed (Kafka's
  ``setMaxTimestamp``).

On a compacted topic every record needs a key (``keyless_records``): a batch holding one is
refused whole, with INVALID_RECORD naming each such record (KIP-467's ``record_errors``).

Offsets, producer ids and sequences are untouched, so idempotent producers are unaffected.
Expansion is bounded before this runs (``compression.check_expansion``).
"""

from __future__ import annotations

import struct

import crc32c

from broker.protocol.batch import (
    ATTR_COMPRESSION_MASK,
    ATTR_TIMESTAMP_TYPE,
    CRC_START,
    HEADER,
    HEADER_SIZE,
    BatchHeader,
    read_header,
)
from broker.protocol.compression import CODECS, compress, decompress
from broker.protocol.errors import InvalidRecord
from broker.protocol.records import read_varint

NO_APPEND_TIME = -1

_CRC = struct.Struct(">I")
_MAX_TIMESTAMP = struct.Struct(">q")
_ATTRIBUTES = struct.Struct(">h")


def conform(
    records: bytes,
    headers: list[BatchHeader],
    compression_type: str,
    level: int | None,
    log_append_time: int,
) -> tuple[bytes, list[BatchHeader]]:
    """The batches rewritten for the topic, and their new headers.

    ``compression_type`` is the topic's setting, ``level`` its codec's level (None: the
    codec's default) and ``log_append_time`` the time to stamp, or ``NO_APPEND_TIME``.
    Raises ``InvalidRecord`` when a batch's records cannot be decompressed.
    """
    codec = CODECS.get(compression_type)  # None: "producer", keep the producer's codec
    recompress = codec is not None and any(h.compression != codec for h in headers)
    if not recompress and log_append_time == NO_APPEND_TIME:
        return records, headers
    view = memoryview(records)
    out = bytearray()
    for header in headers:
        batch = view[header.position : header.position + header.size]
        if codec is not None and header.compression != codec:
            payload = _decompress(header, batch[HEADER_SIZE:])
            batch = memoryview(_rebuild(header, codec, compress(codec, payload, level)))
        start = len(out)
        out += batch
        if log_append_time != NO_APPEND_TIME:
            _stamp_append_time(out, start, log_append_time)
    written = bytes(out)
    return written, _headers(written)


def _headers(records: bytes) -> list[BatchHeader]:
    headers, position = [], 0
    while position < len(records):
        header = read_header(records, position)
        headers.append(header)
        position += header.size
    return headers


def _rebuild(header: BatchHeader, codec: int, payload: bytes) -> bytes:
    """The batch's header around a new payload in ``codec``, with its length and CRC."""
    attributes = (header.attributes & ~ATTR_COMPRESSION_MASK) | codec
    out = bytearray(HEADER_SIZE + len(payload))
    HEADER.pack_into(
        out, 0,
        header.base_offset, len(out) - 12, header.partition_leader_epoch, 2, 0, attributes,
        header.last_offset_delta, header.base_timestamp, header.max_timestamp,
        header.producer_id, header.producer_epoch, header.base_sequence, header.record_count,
    )  # fmt: skip
    out[HEADER_SIZE:] = payload
    _CRC.pack_into(out, 17, crc32c.crc32c(memoryview(out)[CRC_START:]))
    return bytes(out)


def _stamp_append_time(out: bytearray, start: int, append_time: int) -> None:
    """Mark the batch at ``start`` LogAppendTime with ``append_time`` and fix its CRC."""
    (attributes,) = _ATTRIBUTES.unpack_from(out, start + 21)
    _ATTRIBUTES.pack_into(out, start + 21, attributes | ATTR_TIMESTAMP_TYPE)
    _MAX_TIMESTAMP.pack_into(out, start + 35, append_time)
    (batch_length,) = struct.unpack_from(">i", out, start + 8)
    end = start + 12 + batch_length
    _CRC.pack_into(out, start + 17, crc32c.crc32c(memoryview(out)[start + CRC_START : end]))


def _decompress(header: BatchHeader, data: memoryview) -> bytes:
    try:
        return decompress(header.compression, data)
    except InvalidRecord as exc:
        raise InvalidRecord(f"batch at {header.position}: {exc}") from exc


def keyless_records(records: bytes, headers: list[BatchHeader]) -> list[int]:
    """The index within its batch of every record without a key (Kafka's ``batchIndex``).
    Raises ``InvalidRecord`` when a batch's records cannot be read."""
    view = memoryview(records)
    found: list[int] = []
    for header in headers:
        body = view[header.position + HEADER_SIZE : header.position + header.size]
        data = _decompress(header, body) if header.compression else body
        position = 0
        for index in range(header.record_count):
            length, start = read_varint(data, position)
            _, cursor = read_varint(data, start + 1)  # timestamp delta
            _, cursor = read_varint(data, cursor)  # offset delta
            key_length, _ = read_varint(data, cursor)
            if key_length < 0:
                found.append(index)
            position = start + length
    return found
