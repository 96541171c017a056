from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.protocol.errors import ProtocolError
from broker.protocol.framing import FrameDecoder

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


@given(st.binary(max_size=400))
def test_random_bytes_raise_only_the_protocol_error(data):
    whole = FrameDecoder(MAX)
    bytewise = FrameDecoder(MAX)
    try:
        frames = whole.feed(data)
    except ProtocolError:
        frames = None
    got: list[bytes] | None = []
    try:
        for i in range(len(data)):
            got += bytewise.feed(data[i : i + 1])
    except ProtocolError:
        got = None
    assert frames == got


@pytest.mark.parametrize("size", [-1, -(2**31), MAX + 1])
def test_bad_sizes_are_refused_before_buffering(size):
    decoder = FrameDecoder(MAX)
    with pytest.raises(ProtocolError):
        decoder.feed(struct.pack(">i", size) + b"x")
    assert decoder.buffered == 0
