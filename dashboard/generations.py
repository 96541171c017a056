"""Group generations, read where Kafka keeps them: ``__consumer_offsets``.

Kafka's DescribeGroups answer has no generation for classic groups, but the coordinator
records every completed rebalance as a GroupMetadata record in ``__consumer_offsets``:
key version 2 (``int16 2, string group``), value ``int16 version, protocolType, int32
generation, ...`` (strings are int16-prefixed up to value version 3, compact from version 4).
Offset-commit records (key versions 0 and 1) are skipped. Works on any Kafka cluster.
"""

from __future__ import annotations

import struct

from broker.protocol.varint import read_uvarint

OFFSETS_TOPIC = "__consumer_offsets"
GROUP_METADATA_KEY = 2
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")


def _string(buf: bytes, position: int) -> tuple[str, int]:
    (length,) = _INT16.unpack_from(buf, position)
    position += 2
    return buf[position : position + length].decode(), position + length


def group_generation(key: bytes | None, value: bytes | None) -> tuple[str, int | None] | None:
    """(group, generation) for a group-metadata record, (group, None) for its tombstone,
    None for any other record (offset commits) or bytes this reader does not know."""
    try:
        if key is None or _INT16.unpack_from(key)[0] != GROUP_METADATA_KEY:
            return None
        group, _ = _string(key, 2)
        if value is None:
            return group, None
        (version,) = _INT16.unpack_from(value)
        if version <= 3:
            _, position = _string(value, 2)
        else:  # flexible: compact string, length + 1
            length, position = read_uvarint(value, 2)
            position += max(length - 1, 0)
        return group, _INT32.unpack_from(value, position)[0]
    except (struct.error, IndexError, UnicodeDecodeError, ValueError):
        return None
