"""Kafka's batch codecs: how far a batch would expand, and whole-buffer compress/decompress.

The broker stores batches as they came, but a consumer must decompress them: a small batch
that expands to gigabytes (a compression bomb) is refused at produce time instead
(``check_expansion``). Only what must see records decompresses them (``decompress``, after
that check): a topic's ``compression.type`` and ListOffsets by time.

- lz4, zstd and snappy: their containers state every block's size, or a bound on it, so the
  block headers alone give an upper bound on the output; no decoder runs.
- gzip: DEFLATE states no sizes, so the stream is inflated in 64 KiB steps into nothing, and
  inflating stops as soon as the output passes the cap. Memory stays at one step.

A container that cannot be walked (bad magic, a block that runs past the end) is refused too:
no consumer could decompress it.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Callable, Iterator

import cramjam

from broker.protocol.batch import HEADER_SIZE, BatchHeader
from broker.protocol.errors import InvalidRecord
from broker.protocol.varint import read_uvarint

NONE, GZIP, SNAPPY, LZ4, ZSTD = 0, 1, 2, 3, 4
CODECS = {"uncompressed": NONE, "gzip": GZIP, "snappy": SNAPPY, "lz4": LZ4, "zstd": ZSTD}

_STEP = 64 * 1024
_U32_LE = struct.Struct("<I")
_U32_BE = struct.Struct(">I")

_ZSTD_MAGIC = 0xFD2FB528
_LZ4_MAGIC = 0x184D2204
_SKIPPABLE_MASK, _SKIPPABLE_MAGIC = 0xFFFFFFF0, 0x184D2A50
_ZSTD_MAX_BLOCK = 128 * 1024
_LZ4_BLOCK_SIZES = {4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20}
# xerial snappy framing, as Kafka's Java producer writes it (librdkafka reads it too).
_XERIAL_MAGIC = b"\x82SNAPPY\x00"
_XERIAL_HEADER = 16  # magic, version, minimum compatible version
_XERIAL_BLOCK = 32 * 1024


class _TooLarge(Exception):
    pass


def check_expansion(records: bytes | bytearray | memoryview, header: BatchHeader, cap: int) -> None:
    """Raise ``InvalidRecord`` when the batch's records could decompress to over ``cap`` bytes."""
    codec = header.compression
    if not codec:
        return
    payload = memoryview(records)[header.position + HEADER_SIZE : header.position + header.size]
    bound = _BOUNDS[codec]
    try:
        size = bound(payload, cap)
    except _TooLarge:
        size = cap + 1
    except (IndexError, KeyError, struct.error, zlib.error, ValueError) as exc:
        raise InvalidRecord(f"batch at {header.position}: not valid {_NAMES[codec]} data") from exc
    if size > cap:
        raise InvalidRecord(
            f"batch at {header.position} would decompress to over {cap} bytes "
            f"(message.max.decompressed.bytes)"
        )


def _add(total: int, size: int, cap: int) -> int:
    total += size
    if total > cap:
        raise _TooLarge
    return total


def gzip_size(data: memoryview, cap: int) -> int:
    """The inflated size of one gzip member, or ``_TooLarge`` once it passes ``cap``."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    total = 0
    for start in range(0, len(data), _STEP):
        pending: bytes | memoryview = data[start : start + _STEP]
        while pending:
            if inflater.eof:
                raise ValueError("bytes after the end of the gzip stream")
            total = _add(total, len(inflater.decompress(pending, _STEP)), cap)
            pending = inflater.unconsumed_tail
    while not inflater.eof:
        out = inflater.decompress(b"", _STEP)
        if not out:
            raise ValueError("gzip stream cut short")
        total = _add(total, len(out), cap)
    if inflater.unused_data:
        raise ValueError("bytes after the end of the gzip stream")
    return total


Bound = tuple[int, int]  # (an upper bound on a frame's output, the position after it)


def _frames(
    data: memoryview, cap: int, magic: int, name: str, frame: Callable[[memoryview, int], Bound]
) -> int:
    """Sum ``frame``'s bounds over a run of frames with ``magic``, skippable frames skipped."""
    total = 0
    position = 0
    while position < len(data):
        (found,) = _U32_LE.unpack_from(data, position)
        if found & _SKIPPABLE_MASK == _SKIPPABLE_MAGIC:
            position += 8 + _U32_LE.unpack_from(data, position + 4)[0]
            continue
        if found != magic:
            raise ValueError(f"not {name} frame")
        frame_bound, position = frame(data, position + 4)
        total = _add(total, frame_bound, cap)
    if position != len(data):
        raise ValueError(f"{name} frame runs past the batch")
    return total


def zstd_bound(data: memoryview, cap: int) -> int:
    """An upper bound on a run of zstd frames' output, from frame and block headers."""
    return _frames(data, cap, _ZSTD_MAGIC, "a zstd", _zstd_frame)


def _zstd_frame(data: memoryview, position: int) -> tuple[int, int]:
    descriptor = data[position]
    position += 1
    fcs_flag, single_segment = descriptor >> 6, descriptor & 0x20
    checksum, dict_flag = descriptor & 0x04, descriptor & 0x03
    if descriptor & 0x08:
        raise ValueError("zstd reserved bit set")
    window = 0
    if not single_segment:
        exponent, mantissa = data[position] >> 3, data[position] & 0x07
        base = 1 << (10 + exponent)
        window = base + (base >> 3) * mantissa
        position += 1
    position += (0, 1, 2, 4)[dict_flag]
    fcs_size = (1 if single_segment else 0, 2, 4, 8)[fcs_flag]
    content_size = None
    if fcs_size:
        content_size = int.from_bytes(data[position : position + fcs_size], "little")
        content_size += 256 if fcs_size == 2 else 0
        position += fcs_size
        if single_segment:
            window = content_size
    max_block = min(window, _ZSTD_MAX_BLOCK)
    bound = 0
    while True:
        if position + 3 > len(data):
            raise ValueError("zstd block header cut short")
        block = int.from_bytes(data[position : position + 3], "little")
        position += 3
        kind, size = (block >> 1) & 0x03, block >> 3
        if kind == 0:  # raw
            bound += size
            position += size
        elif kind == 1:  # RLE: one byte, repeated size times
            bound += size
            position += 1
        elif kind == 2:
            bound += max_block
            position += size
        else:
            raise ValueError("zstd reserved block type")
        if block & 1:
            break
    position += 4 if checksum else 0
    if position > len(data):
        raise ValueError("zstd frame cut short")
    # A decoder refuses a frame whose output differs from its declared content size.
    return (bound if content_size is None else min(bound, content_size)), position


def lz4_bound(data: memoryview, cap: int) -> int:
    """An upper bound on a run of LZ4 frames' output, from frame and block headers."""
    return _frames(data, cap, _LZ4_MAGIC, "an LZ4", _lz4_frame)


def _lz4_frame(data: memoryview, position: int) -> Bound:
    flags, block_descriptor = data[position], data[position + 1]
    if flags >> 6 != 1:
        raise ValueError("unknown LZ4 frame version")
    max_block = _LZ4_BLOCK_SIZES[(block_descriptor >> 4) & 0x07]  # KeyError: invalid
    position += 2 + (8 if flags & 0x08 else 0) + (4 if flags & 0x01 else 0) + 1
    block_checksum = 4 if flags & 0x10 else 0
    bound = 0
    while True:
        (block,) = _U32_LE.unpack_from(data, position)
        position += 4
        if block == 0:  # end mark
            break
        size = block & 0x7FFFFFFF
        bound += size if block >> 31 else max_block
        position += size + block_checksum
    return bound, position + (4 if flags & 0x04 else 0)


def snappy_size(data: memoryview, cap: int) -> int:
    """The output size of raw snappy or xerial-framed snappy (each block states its length)."""
    if bytes(data[: len(_XERIAL_MAGIC)]) != _XERIAL_MAGIC:
        return _add(0, _snappy_length(data), cap)
    total = 0
    for chunk in _xerial_chunks(data):
        total = _add(total, _snappy_length(chunk), cap)
    return total


def _snappy_length(data: memoryview) -> int:
    """The uncompressed length a raw snappy block starts with (a varint of at most 5 bytes)."""
    return read_uvarint(data, 0, max_bytes=5)[0]


def _xerial_chunks(data: memoryview) -> Iterator[memoryview]:
    """The raw snappy chunks of a xerial-framed buffer, each behind its 4-byte length."""
    position = _XERIAL_HEADER
    while position < len(data):
        (size,) = _U32_BE.unpack_from(data, position)
        position += 4
        if position + size > len(data):
            raise ValueError("snappy chunk runs past the batch")
        yield data[position : position + size]
        position += size


_BOUNDS = {GZIP: gzip_size, SNAPPY: snappy_size, LZ4: lz4_bound, ZSTD: zstd_bound}
_NAMES = {GZIP: "gzip", SNAPPY: "snappy", LZ4: "lz4", ZSTD: "zstd"}


def decompress(codec: int, data: bytes | memoryview) -> bytes:
    """The records ``data`` holds under ``codec``; ``InvalidRecord`` when it cannot be read."""
    try:
        if codec == NONE:
            return bytes(data)
        if codec == GZIP:
            return zlib.decompress(data, 16 + zlib.MAX_WBITS)
        if codec == SNAPPY:
            return _snappy_decompress(memoryview(data))
        if codec == LZ4:
            return bytes(cramjam.lz4.decompress(data))
        if codec == ZSTD:
            return bytes(cramjam.zstd.decompress(data))
    except (zlib.error, cramjam.DecompressionError, ValueError, struct.error) as exc:
        raise InvalidRecord(f"cannot decompress: {exc}") from exc
    raise InvalidRecord(f"unknown compression codec {codec}")


def compress(codec: int, data: bytes, level: int | None) -> bytes:
    """``data`` compressed with ``codec`` at ``level`` (None or -1: the codec's default)."""
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
    if bytes(data[: len(_XERIAL_MAGIC)]) != _XERIAL_MAGIC:
        return bytes(cramjam.snappy.decompress_raw(data))
    out = bytearray()
    for chunk in _xerial_chunks(data):
        out += cramjam.snappy.decompress_raw(chunk)
    return bytes(out)


def _snappy_compress(data: bytes) -> bytes:
    out = bytearray(_XERIAL_MAGIC + struct.pack(">ii", 1, 1))
    for start in range(0, len(data), _XERIAL_BLOCK):
        block = bytes(cramjam.snappy.compress_raw(data[start : start + _XERIAL_BLOCK]))
        out += _U32_BE.pack(len(block)) + block
    return bytes(out)
