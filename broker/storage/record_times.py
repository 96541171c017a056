"""The offset and timestamp of every record in one stored batch, for ListOffsets by time.

Storage otherwise reads batch headers only; a lookup by timestamp must look inside the one
batch the time index lands on (Kafka's ``FileRecords.searchForTimestamp``), and the batch
holding the largest timestamp (``offsetOfMaxTimestamp``), decompressing it if needed: gzip
with the standard library, snappy (raw or xerial-framed, as the Java client writes it), lz4
frames and zstd with cramjam. In a LogAppendTime batch every record has the batch's max
timestamp, whatever its own field says.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

import cramjam

from broker.protocol.batch import ATTR_TIMESTAMP_TYPE, HEADER_SIZE, read_header
from broker.protocol.compression import GZIP, LZ4, SNAPPY, ZSTD
from broker.protocol.errors import InvalidRecord

_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = 16  # magic, version, minimum compatible version
_CHUNK_LENGTH = struct.Struct(">i")


def record_times(batch: bytes) -> list[tuple[int, int]]:
    """``(offset, timestamp)`` of each record of ``batch``, one whole stored batch, in order.
    Raises ``InvalidRecord`` unless the records fill the batch exactly, with offsets that rise
    within its offset range."""
    header = read_header(batch)
    try:
        records = _decompress(header.compression, memoryview(batch)[HEADER_SIZE:])
    except (zlib.error, cramjam.DecompressionError, struct.error, ValueError) as err:
        raise InvalidRecord(f"cannot decompress the batch at offset {header.base_offset}") from err
    log_append_time = bool(header.attributes & ATTR_TIMESTAMP_TYPE)
    found: list[tuple[int, int]] = []
    position = 0
    last_delta = -1
    for _ in range(header.record_count):
        length, position = _varint(records, position)
        end = position + length
        position += 1  # attributes
        timestamp_delta, position = _varint(records, position)
        offset_delta, position = _varint(records, position)
        if (
            length < 0
            or end > len(records)
            or not last_delta < offset_delta <= header.last_offset_delta
        ):
            break
        last_delta = offset_delta
        timestamp = (
            header.max_timestamp if log_append_time else header.base_timestamp + timestamp_delta
        )
        found.append((header.base_offset + offset_delta, timestamp))
        position = end
    if position != len(records) or len(found) != header.record_count:
        raise InvalidRecord(
            f"the records of the batch at offset {header.base_offset} are malformed"
        )
    return found


def _decompress(codec: int, data: memoryview) -> bytes | memoryview:
    if codec == 0:
        return data
    if codec == GZIP:
        return zlib.decompress(data, 16 + zlib.MAX_WBITS)
    if codec == SNAPPY:
        if bytes(data[:8]) == _XERIAL_MAGIC:
            return b"".join(_xerial_chunks(data))
        return bytes(cramjam.snappy.decompress_raw(data))
    if codec == LZ4:
        return bytes(cramjam.lz4.decompress(data))
    if codec == ZSTD:
        return bytes(cramjam.zstd.decompress(data))
    raise ValueError(f"unknown compression codec {codec}")


def _xerial_chunks(data: memoryview) -> Iterator[bytes]:
    position = _XERIAL_HEADER
    while position < len(data):
        (length,) = _CHUNK_LENGTH.unpack_from(data, position)
        position += _CHUNK_LENGTH.size
        yield bytes(cramjam.snappy.decompress_raw(data[position : position + length]))
        position += length


def _varint(buf: bytes | memoryview, position: int) -> tuple[int, int]:
    """Kafka's signed (zigzag) varint at ``position``: ``(value, position after it)``."""
    raw = shift = 0
    while True:
        if position >= len(buf) or shift > 63:
            raise InvalidRecord("a record's varint is cut short or too long")
        byte = buf[position]
        position += 1
        raw |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (raw >> 1) ^ -(raw & 1), position
        shift += 7
