"""Untrusted bytes through everything a connection runs before a handler: framing, request
decoding, and for Produce the batch checks. The rule, from h11: parse, or raise the
protocol's own error, nothing else; and the outcome must not depend on how the bytes were
split."""

from __future__ import annotations

import itertools
from typing import Any

from broker.protocol.batch import validate_produced
from broker.protocol.codec import UnsupportedVersion, read_request
from broker.protocol.compression import check_expansion
from broker.protocol.errors import ProtocolError, RecordError
from broker.protocol.framing import BadFrameSize, FrameDecoder

MAX_FRAME = 64 * 1024
PRODUCE = 0


def outcome(payload: bytes) -> Any:
    """What a connection does with one frame: serve it, answer error 35, or close."""
    try:
        request = read_request(payload)
    except UnsupportedVersion as exc:
        return ("unsupported", exc.api_key, exc.version, exc.correlation_id)
    except ProtocolError:
        return "close"
    if request.api_key == PRODUCE:
        return (
            request.correlation_id,
            [_batches(p.records) for t in request.body.topic_data for p in t.partition_data],
        )
    return (request.api_key, request.version, request.correlation_id, request.body)


def _batches(records: bytes | None) -> Any:
    """What Produce would answer for one partition's records (before storage)."""
    if not records:
        return "no records"
    try:
        headers = validate_produced(records)
        for header in headers:
            check_expansion(records, header, 1 << 20)
    except RecordError as exc:
        return type(exc).__name__
    return [(h.position, h.size) for h in headers]


def decode(chunks: list[bytes]) -> list[Any]:
    """The outcome of every frame in a stream that arrives as ``chunks``."""
    decoder = FrameDecoder(MAX_FRAME)
    outcomes: list[Any] = []
    try:
        for chunk in chunks:
            outcomes += [outcome(frame) for frame in decoder.feed(chunk)]
    except BadFrameSize as exc:
        outcomes += [outcome(frame) for frame in exc.frames]
        outcomes.append("bad frame size")
    return outcomes


def split_agree(stream: bytes, cuts: list[int], *, bytewise: bool = True) -> list[Any]:
    """Decode whole, at ``cuts`` and (optionally) byte by byte; fail unless all agree."""
    whole = decode([stream])
    bounds = [0, *sorted(c % (len(stream) + 1) for c in cuts), len(stream)]
    pieces = [stream[a:b] for a, b in itertools.pairwise(bounds)]
    assert decode(pieces) == whole, "the outcome depends on where the stream was cut"
    if bytewise:
        single = [stream[i : i + 1] for i in range(len(stream))]
        assert decode(single) == whole, "the outcome differs when fed byte by byte"
    return whole
