"""Expansion bounds of compressed batches: exact or upper bounds from the containers, and
nothing but ``InvalidRecord`` for bytes that are not a container."""

from __future__ import annotations

import contextlib
import gzip
import re
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.protocol.batch import read_header
from broker.protocol.compression import (
    GZIP,
    LZ4,
    SNAPPY,
    ZSTD,
    check_expansion,
    gzip_size,
    lz4_bound,
    snappy_size,
    zstd_bound,
)
from broker.protocol.errors import InvalidRecord
from broker.protocol.records import seal_batch

BIG = 1 << 40
CAP_MESSAGE = re.escape("(message.max.decompressed.bytes)")


def batch_of(payload: bytes, codec: int) -> bytes:
    return seal_batch(payload, count=1, attributes=codec, timestamp=0)


def zstd_frame(blocks: list[tuple[int, bytes, int]], content_size: int | None = None) -> bytes:
    """(type, data, size) blocks in one frame with a 128 KiB window."""
    descriptor = 0x00 if content_size is None else 0xC0  # 8-byte content size
    frame = bytearray(struct.pack("<I", 0xFD2FB528)) + bytes([descriptor, 0x38])
    if content_size is not None:
        frame += struct.pack("<Q", content_size)
    for i, (kind, data, size) in enumerate(blocks):
        last = 1 if i == len(blocks) - 1 else 0
        frame += ((size << 3) | (kind << 1) | last).to_bytes(3, "little") + data
    return bytes(frame)


def lz4_frame(blocks: list[bytes | int]) -> bytes:
    """Stored blocks (bytes) or compressed-looking blocks (an int: their length), 64 KiB max."""
    frame = bytearray(struct.pack("<I", 0x184D2204)) + bytes([0x60, 0x40, 0x82])
    for block in blocks:
        if isinstance(block, bytes):
            frame += struct.pack("<I", len(block) | 1 << 31) + block
        else:
            frame += struct.pack("<I", block) + b"\x00" * block
    return bytes(frame + struct.pack("<I", 0))


@given(st.binary(max_size=5000))
def test_gzip_size_is_exact(data):
    assert gzip_size(memoryview(gzip.compress(data)), BIG) == len(data)


def test_gzip_stops_at_the_cap():
    with pytest.raises(InvalidRecord, match=CAP_MESSAGE):
        check_expansion(*header_and(batch_of(gzip.compress(bytes(10 << 20)), GZIP)), 1 << 20)


def test_gzip_with_trailing_bytes_or_cut_short_is_invalid():
    good = gzip.compress(b"hello" * 100)
    for bad in (good + b"junk", good[:-5], good + good):
        with pytest.raises(InvalidRecord, match="not valid gzip"):
            check_expansion(*header_and(batch_of(bad, GZIP)), BIG)


def test_zstd_bound_counts_raw_rle_and_compressed_blocks():
    frame = zstd_frame([(0, b"abc", 3), (1, b"\x00", 1000), (2, b"\x01\x02", 2)])
    assert zstd_bound(memoryview(frame), BIG) == 3 + 1000 + 128 * 1024
    # A declared content size caps the bound: decoders refuse frames that exceed it.
    declared = zstd_frame([(2, b"\x01\x02", 2)], content_size=50)
    assert zstd_bound(memoryview(declared), BIG) == 50
    skippable = struct.pack("<II", 0x184D2A53, 4) + b"meta"
    assert zstd_bound(memoryview(skippable + frame + frame), BIG) == 2 * (1003 + 128 * 1024)


def test_lz4_bound_counts_stored_and_compressed_blocks():
    frame = lz4_frame([b"x" * 10, 7, b"y"])
    assert lz4_bound(memoryview(frame), BIG) == 10 + 64 * 1024 + 1
    assert lz4_bound(memoryview(frame + frame), BIG) == 2 * (11 + 64 * 1024)


def test_snappy_sizes_come_from_the_length_preambles():
    assert snappy_size(memoryview(b"\xac\x02" + b"whatever"), BIG) == 300
    xerial = b"\x82SNAPPY\x00" + struct.pack(">ii", 1, 1)
    chunks = b"".join(struct.pack(">I", 3) + b"\x05ab" for _ in range(4))
    assert snappy_size(memoryview(xerial + chunks), BIG) == 20


@pytest.mark.parametrize(
    ("codec", "payload"),
    [
        (ZSTD, zstd_frame([(1, b"\x00", 128 * 1024)] * 100)),
        (LZ4, lz4_frame([60_000] * 20)),
        (SNAPPY, b"\x80\x80\x80\x80\x08"),  # 2 GiB announced
    ],
    ids=["zstd", "lz4", "snappy"],
)
def test_bombs_are_refused_from_their_headers(codec, payload):
    with pytest.raises(InvalidRecord, match=CAP_MESSAGE):
        check_expansion(*header_and(batch_of(payload, codec)), 1 << 20)


@pytest.mark.parametrize(
    ("codec", "payload"),
    [
        (ZSTD, b"\x00\x01\x02\x03\x04"),
        (ZSTD, zstd_frame([(0, b"abc", 30)])),  # a raw block that runs past the end
        (ZSTD, zstd_frame([(3, b"", 0)])),  # the reserved block type
        (LZ4, lz4_frame([b"x"])[:-4]),  # no end mark
        (LZ4, b"\x04\x22\x4d\x18\x60\x10\x00"),  # an unknown block size code
        (SNAPPY, b"\x82SNAPPY\x00" + struct.pack(">iiI", 1, 1, 100) + b"\x01"),
    ],
)
def test_containers_that_cannot_be_walked_are_invalid(codec, payload):
    with pytest.raises(InvalidRecord, match="not valid"):
        check_expansion(*header_and(batch_of(payload, codec)), BIG)


def test_uncompressed_batches_are_not_looked_at():
    check_expansion(*header_and(batch_of(b"\xff" * 100, 0)), 1)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([GZIP, SNAPPY, LZ4, ZSTD]), st.binary(max_size=300), st.integers(0, 9))
def test_arbitrary_payloads_raise_only_invalid_record(codec, payload, prefix):
    # Half the time start with the codec's real magic, so the walkers get past the first check.
    magic = {
        GZIP: b"\x1f\x8b\x08",
        SNAPPY: b"\x82SNAPPY\x00",
        LZ4: b"\x04\x22\x4d\x18",
        ZSTD: b"\x28\xb5\x2f\xfd",
    }[codec]
    if prefix % 2:
        payload = magic + payload
    with contextlib.suppress(InvalidRecord):
        check_expansion(*header_and(batch_of(payload, codec)), 1 << 20)


def header_and(batch: bytes):
    return batch, read_header(batch)
