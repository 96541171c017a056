"""Unsigned varints (KIP-482) for the hand-written encoders of flexible protocol versions.

Flexible versions write compact strings, bytes and arrays with an unsigned-varint length of
``n + 1`` (0 meaning null), and end every structure with a varint count of tagged fields.
This module owns that varint encoding (and reading it back, for the metadata log codec); the
response encoders own where it goes.
"""

from __future__ import annotations

import struct

_ONE_BYTE: tuple[bytes, ...] = tuple(bytes((value,)) for value in range(0x80))
_TWO_BYTES = struct.Struct("BB")
_THREE_BYTES = struct.Struct("BBB")


def uvarint(value: int) -> bytes:
    """Encode ``value`` (>= 0) as an unsigned varint: 7 bits a byte, low bits first."""
    if 0 <= value < 0x80:
        return _ONE_BYTE[value]
    if 0x80 <= value < 0x4000:
        return _TWO_BYTES.pack(value & 0x7F | 0x80, value >> 7)
    if 0x4000 <= value < 0x200000:
        return _THREE_BYTES.pack(value & 0x7F | 0x80, value >> 7 & 0x7F | 0x80, value >> 14)
    if value < 0:
        raise ValueError(f"an unsigned varint cannot hold {value}")
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_uvarint(data: bytes | memoryview, position: int, max_bytes: int = 10) -> tuple[int, int]:
    """The unsigned varint at ``position`` and the position after it. Raises ValueError
    when ``data`` ends inside it or it runs past ``max_bytes`` bytes (10 holds 64 bits; kio
    and snappy read at most 5, 32 bits)."""
    value = 0
    for shift in range(0, 7 * max_bytes, 7):
        if position >= len(data):
            raise ValueError("the data ends inside a varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
    raise ValueError(f"a varint longer than {max_bytes} bytes")
