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

Offsets, producer ids and sequences are untouched, so idempotent producers are unaffected.
Expansion is bounded before this runs (``compression.check_expansion``).
"""

from __future__ import annotations

import gzip
import struct
import zlib

import cramjam
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
from broker.protocol.errors import InvalidRecord

NONE, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4
CODECS = {"uncompressed": NONE, "gzip": GZIP, "snappy": SNAPPY, "lz4": LZ4, "zstd": ZSTD}
NO_APPEND_TIME = -1

_CRC = struct.Struct(">I")
_MAX_TIMESTAMP = struct.Struct(">q")
_ATTRIBUTES = struct.Struct(">h")
# xerial snappy framing, as Kafka's Java producer writes it (librdkafka reads it too).
_XERIAL_HEADER = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
_XERIAL_BLOCK = 32 * 1024
_U32_BE = struct.Struct(">I")


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
            batch = memoryview(_rebuild(header, codec, _compress(codec, payload, level)))
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
    codec = header.compression
    try:
        if codec == NONE:
            return bytes(data)
        if codec == GZIP:
            return zlib.decompress(data, 16 + zlib.MAX_WBITS)
        if codec == SNAPPY:
            return _snappy_decompress(data)
        if codec == LZ4:
            return bytes(cramjam.lz4.decompress(data))
        return bytes(cramjam.zstd.decompress(data))
    except (zlib.error, cramjam.DecompressionError, ValueError, struct.error) as exc:
        raise InvalidRecord(f"batch at {header.position}: cannot decompress: {exc}") from exc


def _compress(codec: int, data: bytes, level: int | None) -> bytes:
    if codec == NONE:
        return data
    if codec == GZIP:
        return gzip.compress(data, compresslevel=6 if level in (None, -1) else level, mtime=0)
    if codec == SNAPPY:
        return _snappy_compress(data)
    if codec == LZ4:
        return bytes(cramjam.lz4.compress(data, level=level))
    return bytes(cramjam.zstd.compress(data, level=level))


def _snappy_decompress(data: memoryview) -> bytes:
    """Raw snappy (librdkafka) or xerial-framed snappy (Kafka's Java producer)."""
    if bytes(data[:8]) != _XERIAL_HEADER[:8]:
        return bytes(cramjam.snappy.decompress_raw(data))
    out = bytearray()
    position = len(_XERIAL_HEADER)
    while position < len(data):
        (size,) = _U32_BE.unpack_from(data, position)
        position += 4
        if position + size > len(data):
            raise ValueError("snappy chunk runs past the batch")
        out += cramjam.snappy.decompress_raw(data[position : position + size])
        position += size
    return bytes(out)


def _snappy_compress(data: bytes) -> bytes:
    out = bytearray(_XERIAL_HEADER)
    for start in range(0, len(data), _XERIAL_BLOCK):
        block = bytes(cramjam.snappy.compress_raw(data[start : start + _XERIAL_BLOCK]))
        out += _U32_BE.pack(len(block)) + block
    return bytes(out)
