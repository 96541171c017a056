"""Build and read uncompressed RecordBatch v2 records, for the broker's own internal logs.

Produced batches stay opaque: this module is only for what the broker writes itself (such
as committed offsets in ``__consumer_offsets``) and reads back when it recovers.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import crc32c

from broker.protocol.batch import CRC_START, HEADER, HEADER_SIZE, LOG_OVERHEAD, read_header
from broker.protocol.errors import InvalidRecord


class Record(NamedTuple):
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None


def zigzag_varint(value: int) -> bytes:
    """Kafka's signed varint (zigzag, then base-128 little-endian groups)."""
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_varint(buf: bytes | memoryview, position: int) -> tuple[int, int]:
    """Kafka's signed (zigzag) varint at ``position``: ``(value, position after it)``."""
    shift = 0
    raw = 0
    while True:
        if position >= len(buf):
            raise InvalidRecord("record cut short inside a varint")
        byte = buf[position]
        position += 1
        raw |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (raw >> 1) ^ -(raw & 1), position
        shift += 7
        if shift > 63:
            raise InvalidRecord("varint longer than 10 bytes")


def _bytes_field(data: bytes | None) -> bytes:
    return zigzag_varint(-1) if data is None else zigzag_varint(len(data)) + data


def seal_batch(
    body: bytes,
    *,
    count: int,
    timestamp: int,
    max_timestamp: int | None = None,
    last_offset_delta: int | None = None,
    attributes: int = 0,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
) -> bytes:
    """A whole batch around an encoded records ``body``: header, lengths and CRC-32C."""
    batch = bytearray(
        HEADER.pack(
            0,
            HEADER_SIZE - LOG_OVERHEAD + len(body),
            -1,
            2,
            0,
            attributes,
            count - 1 if last_offset_delta is None else last_offset_delta,
            timestamp,
            timestamp if max_timestamp is None else max_timestamp,
            producer_id,
            producer_epoch,
            base_sequence,
            count,
        )
    )
    batch += body
    struct.pack_into(">I", batch, 17, crc32c.crc32c(memoryview(batch)[CRC_START:]))
    return bytes(batch)


def build_batch(
    records: Sequence[tuple[bytes | None, bytes | None]],
    timestamp: int,
    *,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
    attributes: int = 0,
) -> bytes:
    """One uncompressed batch of ``(key, value)`` records, all stamped ``timestamp``
    (``attributes``: e.g. ``ATTR_CONTROL`` for a batch of control records)."""
    if not records:
        raise ValueError("a batch needs at least one record")
    body = bytearray()
    for delta, (key, value) in enumerate(records):
        record = b"\x00" + zigzag_varint(0) + zigzag_varint(delta)
        record += _bytes_field(key) + _bytes_field(value) + zigzag_varint(0)
        body += zigzag_varint(len(record)) + record
    return seal_batch(
        bytes(body),
        count=len(records),
        timestamp=timestamp,
        attributes=attributes,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
    )


def iter_records(batches: bytes | memoryview) -> Iterator[Record]:
    """The records of whole, uncompressed batches (raises ``InvalidRecord`` otherwise)."""
    buf = memoryview(batches)
    position = 0
    while position < len(buf):
        header = read_header(buf, position)
        if header.compression:
            raise InvalidRecord("compressed batches are not read by the broker")
        cursor = position + HEADER_SIZE
        for _ in range(header.record_count):
            length, cursor = read_varint(buf, cursor)
            end = cursor + length
            cursor += 1  # attributes
            timestamp_delta, cursor = read_varint(buf, cursor)
            offset_delta, cursor = read_varint(buf, cursor)
            key, cursor = _read_bytes(buf, cursor)
            value, cursor = _read_bytes(buf, cursor)
            yield Record(
                header.base_offset + offset_delta,
                header.base_timestamp + timestamp_delta,
                key,
                value,
            )
            cursor = end  # skip headers
        position += header.size


def _read_bytes(buf: memoryview, position: int) -> tuple[bytes | None, int]:
    length, position = read_varint(buf, position)
    if length < 0:
        return None, position
    if position + length > len(buf):
        raise InvalidRecord("record field runs past the batch")
    return bytes(buf[position : position + length]), position + length
