"""Compressed batches (X12): every codec a real client sends is stored and read back, and a
batch that would expand far past ``message.max.decompressed.bytes`` is refused while the
broker's own memory stays bounded."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from broker.protocol.records import build_batch, seal_batch
from tests.support.confluent import consume_assigned, produce
from tests.support.wire import WireClient

INVALID_RECORD = 87
CAP = 8 << 20
GZIP, ZSTD = 1, 4


def peak_rss_bytes(pid: int) -> int:
    """VmHWM: the most resident memory the process has held at any moment."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


@pytest.fixture
def capped(broker_factory):
    return broker_factory(config={"message.max.decompressed.bytes": str(CAP)})


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_librdkafka_batches_in_every_codec_are_accepted_and_read_back(capped, codec):
    # Tweet-like, compressible values; 2000 of them fill several batches and codec blocks.
    messages = [
        (b"k%d" % (i % 7), b'{"text": "tweet %06d #kafka #python"}' % i) for i in range(2000)
    ]
    produce(capped.bootstrap, f"c-{codec}", messages, **{"compression.type": codec})
    consumed = consume_assigned(capped.bootstrap, f"c-{codec}", 1, len(messages))
    assert [(m.key, m.value) for m in consumed] == messages


def gzip_bomb(expanded: int) -> bytes:
    """A gzip stream of ``expanded`` zero bytes, built without holding them in memory."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1 << 20)
    parts = [deflater.compress(block) for _ in range(expanded >> 20)]
    return b"".join([*parts, deflater.flush()])


def zstd_rle_bomb(expanded: int) -> bytes:
    """A valid zstd frame of ``expanded`` zero bytes as 128 KiB RLE blocks (4 bytes each)."""
    block_size = 128 << 10
    count = expanded // block_size
    frame = bytearray((0xFD2FB528).to_bytes(4, "little"))
    frame += bytes([0x00, 0x38])  # no content size, not single segment; a 128 KiB window
    for i in range(count):
        header = (block_size << 3) | (1 << 1) | (1 if i == count - 1 else 0)
        frame += header.to_bytes(3, "little") + b"\x00"
    return bytes(frame)


@pytest.mark.parametrize(
    ("codec", "bomb"),
    [
        pytest.param(GZIP, lambda: gzip_bomb(512 << 20), id="gzip-512MiB"),
        pytest.param(ZSTD, lambda: zstd_rle_bomb(1 << 30), id="zstd-1GiB"),
    ],
)
def test_a_compression_bomb_is_refused_with_memory_bounded(capped, codec, bomb):
    payload = bomb()
    assert len(payload) < 1 << 20  # fits max.message.bytes: only the expansion is at fault
    batch = seal_batch(payload, count=1000, attributes=codec, timestamp=1_700_000_000_000)
    with WireClient(capped.port) as client:
        client.metadata("bomb")
        before = peak_rss_bytes(capped.proc.pid)
        answer = client.produce("bomb", batch)
        assert answer.error_code == INVALID_RECORD
        assert "message.max.decompressed.bytes" in answer.error_message
        assert client.latest_offset("bomb") == 0
    # Expanding the bomb would have needed hundreds of MiB; the broker never held 64.
    assert peak_rss_bytes(capped.proc.pid) - before < 64 << 20


def test_a_gzip_batch_under_the_cap_is_accepted(capped):
    plain = build_batch([(None, b"x" * 1000)] * 100, 1_700_000_000_000)
    body = zlib.compress(plain[61:], wbits=16 + zlib.MAX_WBITS)
    batch = seal_batch(body, count=100, attributes=GZIP, timestamp=1_700_000_000_000)
    with WireClient(capped.port) as client:
        client.metadata("ok")
        answer = client.produce("ok", batch)
        assert (answer.error_code, answer.base_offset) == (0, 0)
        assert client.latest_offset("ok") == 100


def test_a_gzip_batch_that_is_not_gzip_is_invalid(capped):
    batch = seal_batch(b"not gzip at all", count=1, attributes=GZIP, timestamp=0)
    with WireClient(capped.port) as client:
        client.metadata("bad")
        answer = client.produce("bad", batch)
        assert answer.error_code == INVALID_RECORD
        assert client.latest_offset("bad") == 0
