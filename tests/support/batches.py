"""RecordBatch v2 bytes for tests: real uncompressed records (``make_batch``) that clients can
read, or filler records (``filler_batch``) with every header field under the test's control,
for storage tests that never parse records."""

from __future__ import annotations

import struct

import crc32c

from broker.protocol.batch import CRC_START, HEADER, LOG_OVERHEAD


def seal(
    records: bytes,
    *,
    count: int,
    last_offset_delta: int | None = None,
    attributes: int = 0,
    timestamp: int = 1_000,
    max_timestamp: int | None = None,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
) -> bytes:
    """A whole batch around ``records``: header, lengths and CRC-32C filled in."""
    batch = (
        bytearray(
            HEADER.pack(
                0,
                HEADER.size - LOG_OVERHEAD + len(records),
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
        + records
    )
    struct.pack_into(">I", batch, 17, crc32c.crc32c(bytes(batch[CRC_START:])))
    return bytes(batch)


def _varint(value: int) -> bytes:
    value = (value << 1) ^ (value >> 63)  # zigzag
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _record(offset_delta: int, key: bytes | None, value: bytes) -> bytes:
    body = b"\x00" + _varint(0) + _varint(offset_delta)
    body += _varint(-1) if key is None else _varint(len(key)) + key
    body += _varint(len(value)) + value + _varint(0)
    return _varint(len(body)) + body


def make_batch(
    values: list[bytes],
    *,
    keys: list[bytes | None] | None = None,
    timestamp: int = 1_700_000_000_000,
    producer_id: int = -1,
    producer_epoch: int = -1,
    base_sequence: int = -1,
) -> bytes:
    """A batch of real records, one per value, all stamped ``timestamp``."""
    keys = keys or [None] * len(values)
    records = b"".join(_record(i, k, v) for i, (k, v) in enumerate(zip(keys, values, strict=True)))
    return seal(
        records,
        count=len(values),
        timestamp=timestamp,
        producer_id=producer_id,
        producer_epoch=producer_epoch,
        base_sequence=base_sequence,
    )


def filler_batch(
    records: int = 1,
    *,
    timestamp: int = 1_000,
    max_timestamp: int | None = None,
    record_bytes: int = 10,
    fill: bytes = b"r",
    compression: int = 0,
    last_offset_delta: int | None = None,
) -> bytes:
    """``records`` records of ``record_bytes`` filler each. With a ``compression`` codec only
    the attributes change, so ``last_offset_delta`` may differ from ``records - 1`` as after
    compaction."""
    return seal(
        fill * (records * record_bytes),
        count=records,
        attributes=compression,
        timestamp=timestamp,
        max_timestamp=max_timestamp,
        last_offset_delta=last_offset_delta,
    )
