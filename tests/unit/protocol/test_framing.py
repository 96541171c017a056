from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.protocol.errors import ProtocolError
from broker.protocol.framing import BadFrameSize, FrameDecoder

MAX = 1024


def _frame(payload: bytes) -> bytes:
    return struct.pack(">i", len(payload)) + payload


@given(st.lists(st.binary(max_size=200), max_size=8), st.integers(1, 50))
def test_frames_come_out_whole_however_the_bytes_are_split(payloads, chunk):
    stream = b"".join(_frame(p) for p in payloads)
    decoder = FrameDecoder(MAX)
    out = []
    for start in range(0, len(stream), chunk):
        out += decoder.feed(stream[start : start + chunk])
    assert out == payloads
    assert decoder.buffered == 0


@pytest.mark.parametrize("size", [-1, -(2**31), MAX + 1])
def test_bad_sizes_are_refused_before_buffering(size):
    decoder = FrameDecoder(MAX)
    with pytest.raises(ProtocolError):
        decoder.feed(struct.pack(">i", size) + b"x")
    assert decoder.buffered == 0


def test_frames_before_a_bad_size_travel_with_the_error():
    """Whole or split, the frames ahead of a bad size are served: TCP's cuts do not matter."""
    stream = _frame(b"first") + _frame(b"second") + struct.pack(">i", MAX + 1) + b"x"
    with pytest.raises(BadFrameSize) as whole:
        FrameDecoder(MAX).feed(stream)
    assert whole.value.frames == [b"first", b"second"]
    decoder = FrameDecoder(MAX)
    served = decoder.feed(stream[:7])
    with pytest.raises(BadFrameSize) as split:
        decoder.feed(stream[7:])
    assert served + split.value.frames == [b"first", b"second"]
