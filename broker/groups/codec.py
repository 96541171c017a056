"""Kafka's own record formats for ``__consumer_offsets`` (group-coordinator message JSONs), and
the topics of a consumer's subscription (``ConsumerProtocolSubscription``).

Every key and value starts with an int16 version. Keys: OffsetCommitKey v1 (group, topic,
partition) and GroupMetadataKey v2 (group). Values: OffsetCommitValue v3 and
GroupMetadataValue v3; a null value is a tombstone. Strings are int16-length prefixed UTF-8
(-1 = null), bytes int32-length prefixed, arrays an int32 count. Only the versions written
here are read back: anything else raises ``CodecError``.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

OFFSET_COMMIT_KEY_VERSION = 1
GROUP_METADATA_KEY_VERSION = 2
OFFSET_COMMIT_VALUE_VERSION = 3
GROUP_METADATA_VALUE_VERSION = 3

_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_INT64 = struct.Struct(">q")


class CodecError(ValueError):
    """Bytes that are not one of the record formats above."""


class OffsetKey(NamedTuple):
    group: str
    topic: str
    partition: int


class GroupKey(NamedTuple):
    group: str


class OffsetValue(NamedTuple):
    offset: int
    leader_epoch: int
    metadata: str
    commit_timestamp: int


class MemberValue(NamedTuple):
    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    rebalance_timeout: int
    session_timeout: int
    subscription: bytes
    assignment: bytes


class GroupValue(NamedTuple):
    protocol_type: str
    generation: int
    protocol: str | None
    leader: str | None
    current_state_timestamp: int
    members: tuple[MemberValue, ...]


RecordKey = OffsetKey | GroupKey
RecordValue = OffsetValue | GroupValue


# ---- writing ---------------------------------------------------------------------------


def _string(value: str | None) -> bytes:
    if value is None:
        return _INT16.pack(-1)
    data = value.encode()
    if len(data) > 0x7FFF:
        raise CodecError(f"string of {len(data)} bytes does not fit an int16 length")
    return _INT16.pack(len(data)) + data


def _bytes(value: bytes) -> bytes:
    return _INT32.pack(len(value)) + value


def encode_key(key: RecordKey) -> bytes:
    if isinstance(key, OffsetKey):
        return (
            _INT16.pack(OFFSET_COMMIT_KEY_VERSION)
            + _string(key.group)
            + _string(key.topic)
            + _INT32.pack(key.partition)
        )
    return _INT16.pack(GROUP_METADATA_KEY_VERSION) + _string(key.group)


def encode_value(value: RecordValue) -> bytes:
    if isinstance(value, OffsetValue):
        return (
            _INT16.pack(OFFSET_COMMIT_VALUE_VERSION)
            + _INT64.pack(value.offset)
            + _INT32.pack(value.leader_epoch)
            + _string(value.metadata)
            + _INT64.pack(value.commit_timestamp)
        )
    out = bytearray(_INT16.pack(GROUP_METADATA_VALUE_VERSION))
    out += _string(value.protocol_type)
    out += _INT32.pack(value.generation)
    out += _string(value.protocol)
    out += _string(value.leader)
    out += _INT64.pack(value.current_state_timestamp)
    out += _INT32.pack(len(value.members))
    for member in value.members:
        out += _string(member.member_id)
        out += _string(member.group_instance_id)
        out += _string(member.client_id)
        out += _string(member.client_host)
        out += _INT32.pack(member.rebalance_timeout)
        out += _INT32.pack(member.session_timeout)
        out += _bytes(member.subscription)
        out += _bytes(member.assignment)
    return bytes(out)


# ---- reading ---------------------------------------------------------------------------


class _Reader:
    __slots__ = ("_data", "_position")

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._position = 0

    def _take(self, size: int) -> bytes:
        end = self._position + size
        if size < 0 or end > len(self._data):
            raise CodecError(f"record cut short at byte {self._position}")
        chunk = self._data[self._position : end]
        self._position = end
        return chunk

    def int16(self) -> int:
        return _INT16.unpack(self._take(2))[0]

    def int32(self) -> int:
        return _INT32.unpack(self._take(4))[0]

    def int64(self) -> int:
        return _INT64.unpack(self._take(8))[0]

    def nullable_string(self) -> str | None:
        length = self.int16()
        if length == -1:
            return None
        try:
            return self._take(length).decode()
        except UnicodeDecodeError as err:
            raise CodecError(f"string is not UTF-8: {err}") from err

    def string(self) -> str:
        value = self.nullable_string()
        if value is None:
            raise CodecError("null where a string is required")
        return value

    def blob(self) -> bytes:
        return self._take(self.int32())

    def version(self, expected: int, what: str) -> None:
        version = self.int16()
        if version != expected:
            raise CodecError(f"{what} version {version} is not supported (only {expected})")

    def end(self) -> None:
        if self._position != len(self._data):
            raise CodecError(f"{len(self._data) - self._position} bytes left over")


def decode_key(data: bytes) -> RecordKey:
    reader = _Reader(data)
    version = reader.int16()
    if version == OFFSET_COMMIT_KEY_VERSION:
        key: RecordKey = OffsetKey(reader.string(), reader.string(), reader.int32())
    elif version == GROUP_METADATA_KEY_VERSION:
        key = GroupKey(reader.string())
    else:
        raise CodecError(f"record key version {version} is not supported")
    reader.end()
    return key


def decode_offset_value(data: bytes) -> OffsetValue:
    reader = _Reader(data)
    reader.version(OFFSET_COMMIT_VALUE_VERSION, "OffsetCommitValue")
    value = OffsetValue(reader.int64(), reader.int32(), reader.string(), reader.int64())
    reader.end()
    return value


def decode_group_value(data: bytes) -> GroupValue:
    reader = _Reader(data)
    reader.version(GROUP_METADATA_VALUE_VERSION, "GroupMetadataValue")
    protocol_type = reader.string()
    generation = reader.int32()
    protocol = reader.nullable_string()
    leader = reader.nullable_string()
    timestamp = reader.int64()
    count = reader.int32()
    if count < 0:
        raise CodecError("null member array")
    members = tuple(
        MemberValue(
            reader.string(),
            reader.nullable_string(),
            reader.string(),
            reader.string(),
            reader.int32(),
            reader.int32(),
            reader.blob(),
            reader.blob(),
        )
        for _ in range(count)
    )
    reader.end()
    return GroupValue(protocol_type, generation, protocol, leader, timestamp, members)


def decode_subscribed_topics(data: bytes) -> list[str]:
    """The topics of a ``consumer`` member's subscription (``ConsumerProtocolSubscription``,
    every version: an int16 version, then the topics as an array of strings; what follows
    is not read)."""
    reader = _Reader(data)
    reader.int16()
    count = reader.int32()
    if count < 0:
        raise CodecError("null topic array")
    return [reader.string() for _ in range(count)]
