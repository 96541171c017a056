"""Splits a byte stream into Kafka request frames (int32 size, then that many bytes).

Sans-IO: feed it whatever the socket delivered, take out whole payloads. A negative size or
one over the limit raises ``BadFrameSize`` before a byte of the payload is buffered; the whole
frames that came before it in the same feed travel with the error, so what gets served never
depends on how TCP happened to split the stream.
"""

from __future__ import annotations

import struct

from broker.protocol.errors import ProtocolError

_SIZE = struct.Struct(">i")


class BadFrameSize(ProtocolError):
    """A size outside 0..max: nothing after it can be framed. ``frames`` are the whole frames
    that preceded it in the same ``feed``, still to be served before closing."""

    def __init__(self, message: str, frames: list[bytes]) -> None:
        super().__init__(message)
        self.frames = frames


class FrameDecoder:
    """Accumulates bytes and yields complete frame payloads, in order."""

    __slots__ = ("_buffer", "_max_size")

    def __init__(self, max_size: int) -> None:
        self._buffer = bytearray()
        self._max_size = max_size

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    @property
    def next_frame_size(self) -> int | None:
        """The declared size of the incomplete frame buffered, once its 4 size bytes are in."""
        if len(self._buffer) < 4:
            return None
        return _SIZE.unpack_from(self._buffer)[0]

    def feed(self, data: bytes) -> list[bytes]:
        buffer = self._buffer
        buffer += data
        frames: list[bytes] = []
        start = 0
        end = len(buffer)
        while end - start >= 4:
            (size,) = _SIZE.unpack_from(buffer, start)
            if size < 0 or size > self._max_size:
                buffer.clear()
                raise BadFrameSize(f"frame size {size} outside 0..{self._max_size}", frames)
            if end - start - 4 < size:
                break
            with memoryview(buffer) as view:
                frames.append(bytes(view[start + 4 : start + 4 + size]))
            start += 4 + size
        if start:
            # A fresh buffer for the tail: deleting a prefix in place would keep the whole
            # allocation (a large frame's worth) alive behind a few bytes.
            self._buffer = buffer[start:]
        return frames
