"""Helpers for storage tests: append as a produce request would, and read everything back.

Batches come from ``tests.support.batches.filler_batch``: storage reads no records, except in
the one batch a lookup by timestamp lands on; ``timed_batch`` makes real records for those.
"""

from __future__ import annotations

import gzip

import cramjam

from broker.protocol.batch import ATTR_TIMESTAMP_TYPE, HEADER, validate_produced
from broker.protocol.records import seal_batch, zigzag_varint
from broker.storage import PartitionLog
from broker.storage.segment import TimestampAndOffset
from tests.support.batches import filler_batch as make_batch

__all__ = ["at", "make_batch", "offsets_in", "produce", "read_all", "timed_batch"]


def produce(log: PartitionLog, *batches: bytes, epoch: int = 0, now_ms: int = 1_000) -> int:
    """Append ``batches`` as one produce request would; return the first offset."""
    records = b"".join(batches)
    return log.append(records, validate_produced(records), epoch, now_ms)


def offsets_in(data: bytes) -> list[tuple[int, int]]:
    """``(base offset, last offset)`` of each batch in ``data``, which must be whole batches."""
    spans = []
    position = 0
    while position < len(data):
        fields = HEADER.unpack_from(data, position)
        spans.append((fields[0], fields[0] + fields[6]))
        position += 12 + fields[1]
    assert position == len(data), "data does not end on a batch boundary"
    return spans


def read_all(log: PartitionLog) -> bytes:
    """Every stored batch from the log start on, read segment by segment through ``read``."""
    data = b""
    offset = log.log_start_offset
    while (piece := log.read(offset, 1 << 30, log.log_end_offset)) is not None:
        chunk = piece.read_bytes()
        data += chunk
        offset = offsets_in(chunk)[-1][1] + 1
    return data


def at(found: TimestampAndOffset | None) -> tuple[int, int] | None:
    """A ListOffsets answer by time as ``(offset, timestamp)``, or None."""
    return None if found is None else (found.offset, found.timestamp)


def timed_batch(
    timestamps: list[int], *, codec: int = 0, log_append_time: int | None = None
) -> bytes:
    """A batch of real records, one per timestamp, compressed with ``codec`` (Kafka's ids:
    1 gzip, 2 snappy, 3 lz4, 4 zstd). With ``log_append_time`` the batch is stamped as a
    LogAppendTime topic's broker would: the attribute bit and that max timestamp."""
    body = bytearray()
    for delta, timestamp in enumerate(timestamps):
        value = b"value-%d" % delta
        record = b"\x00" + zigzag_varint(timestamp - timestamps[0]) + zigzag_varint(delta)
        record += zigzag_varint(-1) + zigzag_varint(len(value)) + value + zigzag_varint(0)
        body += zigzag_varint(len(record)) + record
    attributes = codec | (ATTR_TIMESTAMP_TYPE if log_append_time is not None else 0)
    return seal_batch(
        _COMPRESS[codec](bytes(body)),
        count=len(timestamps),
        attributes=attributes,
        timestamp=timestamps[0],
        max_timestamp=max(timestamps) if log_append_time is None else log_append_time,
    )


_COMPRESS = {
    0: lambda data: data,
    1: gzip.compress,
    2: lambda data: bytes(cramjam.snappy.compress_raw(data)),
    3: lambda data: bytes(cramjam.lz4.compress(data)),
    4: lambda data: bytes(cramjam.zstd.compress(data)),
}
