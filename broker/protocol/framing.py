"""Splits a byte stream into Kafka request frames (int32 size, then that many bytes).

Sans-IO: feed it whatever the socket delivered, take out whole payloads. A negative size or
one over the limit raises ``ProtocolError`` before a byte of the payload is buffered.
"""

from __future__ import annotations

import struct

from broker.protocol.errors import ProtocolError

_SIZE = struct.Struct(">i")


class FrameDecoder:
    """Accumulates bytes and yields complete frame payloads, in order."""

    __slots__ = ("_buffer", "_max_size")

    def __init__(self, max_size: int) -> None:
        self._buffer = bytearray()
        self._max_size = max_size

    @property
    def buffered(self) -> int:
        return len(self._buffer)

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
                raise ProtocolError(f"frame size {size} outside 0..{self._max_size}")
            if end - start - 4 < size:
                break
            with memoryview(buffer) as view:
                frames.append(bytes(view[start + 4 : start + 4 + size]))
            start += 4 + size
        if start:
            del buffer[:start]
        return frames
