"""Metadata records as bytes: what one entry of the ``__cluster_metadata`` log holds.

One log entry is one atomic batch of records (what one controller decision wrote). Each
record is framed as Kafka frames metadata records (``MetadataRecordSerde``): an unsigned
varint frame version (1), the record's Kafka api key and its version; here the body that
follows is the record as JSON, with Kafka's field names (``brokerId``, ``topicId``, ...) and
Kafka's text form of a UUID (url-safe base64, as ``Uuid.toString``), so a dumped log reads
like ``kafka-dump-log --cluster-metadata-decoder``. Since JSON does not delimit itself, each
record is preceded by its length as an unsigned varint.

The version is the lowest of Kafka's versions of that record that has every field written
here (RegisterBrokerRecord v1 adds ``InControlledShutdown``; the others are v0).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import json
import types
import typing
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from broker.metadata.records import (
    ConfigRecord,
    ConfigResourceType,
    Endpoint,
    FenceBrokerRecord,
    MetadataRecord,
    PartitionChangeRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    RemoveTopicRecord,
    TopicRecord,
    UnfenceBrokerRecord,
)
from broker.protocol.varint import read_uvarint, uvarint

FRAME_VERSION = 1
_JSON = json.JSONDecoder()

# Kafka's api key and the version written, per record type
# (metadata/src/main/resources/common/metadata/*.json).
RECORD_TYPES: dict[type, tuple[int, int]] = {
    RegisterBrokerRecord: (0, 1),
    TopicRecord: (2, 0),
    PartitionRecord: (3, 0),
    ConfigRecord: (4, 0),
    PartitionChangeRecord: (5, 0),
    FenceBrokerRecord: (7, 0),
    UnfenceBrokerRecord: (8, 0),
    RemoveTopicRecord: (9, 0),
    ProducerIdsRecord: (15, 0),
}
_BY_API_KEY = {api_key: (cls, version) for cls, (api_key, version) in RECORD_TYPES.items()}


class CodecError(ValueError):
    """Bytes that are not a batch of metadata records as :func:`encode` writes them."""


def encode(records: Sequence[MetadataRecord]) -> bytes:
    """One log entry's value holding ``records``, in order."""
    out = bytearray()
    for record in records:
        framing = RECORD_TYPES.get(type(record))
        if framing is None:
            raise TypeError(f"not a metadata record: {record!r}")
        api_key, version = framing
        body = json.dumps(_to_json(record), separators=(",", ":")).encode()
        frame = uvarint(FRAME_VERSION) + uvarint(api_key) + uvarint(version) + body
        out += uvarint(len(frame)) + frame
    return bytes(out)


def decode(data: bytes) -> list[MetadataRecord]:
    """The records of one log entry's value. Raises :class:`CodecError`."""
    records = []
    position = 0
    view = memoryview(data)
    while position < len(data):
        start = position
        try:
            size, position = read_uvarint(view, position)
            end = position + size
            if end > len(data):
                raise ValueError(f"a record of {size} bytes runs past the end")
            header = data[position : position + 3]
            if len(header) == 3 and max(header) < 0x80:  # three one-byte varints: the usual
                frame_version, api_key, version = header
                position += 3
            else:
                frame_version, position = read_uvarint(view, position)
                api_key, position = read_uvarint(view, position)
                version, position = read_uvarint(view, position)
            if position > end:
                raise ValueError("the record's header runs past its length")
            if frame_version != FRAME_VERSION:
                raise ValueError(f"frame version {frame_version}, expected {FRAME_VERSION}")
            if api_key not in _BY_API_KEY:
                raise ValueError(f"unknown metadata record api key {api_key}")
            cls, written = _BY_API_KEY[api_key]
            if version != written:
                raise ValueError(f"{cls.__name__} version {version}, expected {written}")
            body = _JSON.decode(data[position:end].decode())
            records.append(_from_json(cls, body))
        except (ValueError, TypeError) as error:  # JSONDecodeError is a ValueError
            raise CodecError(f"metadata record at byte {start}: {error}") from None
        position = end
    return records


# -- one record <-> JSON -----------------------------------------------------------------


def _json_name(field: str) -> str:
    """Kafka's JSON field name: ``broker_id`` -> ``brokerId``."""
    first, *rest = field.split("_")
    return first + "".join(word.capitalize() for word in rest)


def _to_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {
            _json_name(field.name): _to_json(getattr(value, field.name))
            for field in dataclasses.fields(value)
        }
    if isinstance(value, uuid.UUID):
        return base64.urlsafe_b64encode(value.bytes).rstrip(b"=").decode()
    if isinstance(value, tuple):
        return [_to_json(item) for item in value]
    return value  # int (and IntEnum), bool, str, None


def _from_json(cls: type, body: Any) -> Any:
    if type(body) is not dict:
        raise TypeError(f"{cls.__name__} is not a JSON object")
    readers = _readers(cls)
    values = {}
    for name, value in body.items():
        found = readers.get(name)
        if found is None:
            raise ValueError(f"{cls.__name__} has no field {name!r}")
        values[found[0]] = found[1](value)
    if len(values) < len(readers):
        for name, (field_name, _, required) in readers.items():
            if required and field_name not in values:
                raise ValueError(f"{cls.__name__} lacks {name!r}")
    return cls(**values)


Reader = Callable[[Any], Any]


@functools.cache
def _readers(cls: type) -> dict[str, tuple[str, Reader, bool]]:
    """For each JSON name of ``cls``: its field, how to read its value, whether required."""
    hints = typing.get_type_hints(cls)
    return {
        _json_name(field.name): (
            field.name,
            _reader(hints[field.name]),
            field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING,
        )
        for field in dataclasses.fields(cls)
    }


def _reader(hint: Any) -> Reader:
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType):  # X | None
        (inner,) = (arg for arg in args if arg is not type(None))
        read = _reader(inner)
        return lambda value: None if value is None else read(value)
    if typing.get_origin(hint) is tuple:  # tuple[X, ...]
        if args[0] is int:
            return _read_ints
        read = _reader(args[0])

        def read_tuple(value: Any) -> tuple:
            if type(value) is not list:
                raise TypeError(f"expected a list, got {value!r}")
            return tuple(read(item) for item in value)

        return read_tuple
    if hint is uuid.UUID:
        return _read_uuid
    if hint is ConfigResourceType:
        return lambda value: ConfigResourceType(_checked(int, value))
    if hint is Endpoint:
        return lambda value: _from_json(Endpoint, value)
    if hint in (int, bool, str):
        return functools.partial(_checked, hint)
    raise TypeError(f"no JSON reader for {hint!r}")  # a record type this module lacks


def _checked(kind: type, value: Any) -> Any:
    # Exactly the type: bool is an int in Python, but a JSON true is no broker id.
    if type(value) is not kind:
        raise TypeError(f"expected {kind.__name__}, got {value!r}")
    return value


_INT = {int}


def _read_ints(value: Any) -> tuple[int, ...]:
    """A list of ints (replicas, an ISR) as a tuple; the check runs in C, not per item."""
    if type(value) is not list or (value and set(map(type, value)) != _INT):
        raise TypeError(f"expected a list of ints, got {value!r}")
    return tuple(value)


_FROM_URLSAFE = str.maketrans("-_", "+/")


def _read_uuid(value: Any) -> uuid.UUID:
    text = _checked(str, value)
    if len(text) != 22:  # 16 bytes in base64, unpadded
        raise ValueError(f"{text!r} is not a UUID")
    raw = binascii.a2b_base64(text.translate(_FROM_URLSAFE) + "==")
    if len(raw) != 16:  # characters outside base64 are skipped
        raise ValueError(f"{text!r} is not a UUID")
    return uuid.UUID(bytes=raw)
