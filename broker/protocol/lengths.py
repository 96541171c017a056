"""Refuses a request whose declared lengths do not fit in its frame, before kio reads it.

kio 0.6.5's native reader reserves memory for an array's wire-declared length before it reads
the items, and a failed allocation aborts the whole process (found by ``make fuzz``; the input
is ``tests/fuzz/crashes/kio-oom-find-coordinator-v6``). ``check_lengths`` walks the header and
body once with the schema kio itself will use (the dataclass fields, their ``kafka_type`` and
kio's own field classification) and raises ``ProtocolError`` unless every array count (int32,
or uvarint + 1 in flexible versions), string and bytes length, and tagged-field count and
size fits in the bytes that remain.

The walk mirrors kio's reading exactly where kio is lenient: a nullable struct is null only
for the marker -1, a uvarint takes at most 5 bytes. Where kio ignores what the wire says, the
walk is stricter, so both always read the same bytes: kio reads a known tagged field's value
and skips its declared size, so the value must take exactly that size; kio refuses an unknown
tag, and so does the walk. Trailing bytes after the body are left alone (librdkafka sends
some). Fixed-width fields are skipped in one step, arrays of fixed-width items in one
multiplication, and a record batch is opaque bytes whose length alone is checked. The walker
for a request class is built on first use; a request then costs a few Python calls per
variable-length field, nothing per record.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable
from functools import cache
from typing import NamedTuple

from kio.serial._introspect import (
    EntityField,
    EntityTupleField,
    PrimitiveField,
    PrimitiveTupleField,
    classify_field,
    get_field_tag,
    get_schema_field_type,
    is_optional,
)

from broker.protocol.errors import ProtocolError

# (payload, offset, end) -> the offset after the value; raises ProtocolError, or struct.error
# and IndexError when a length itself runs past the payload.
Walk = Callable[[bytes, int, int], int]
# (payload, offset) -> (declared length, -1 for null; the offset after the length field)
_Length = Callable[[bytes, int], tuple[int, int]]

_I16 = struct.Struct(">h")
_I32 = struct.Struct(">i")
_NULL_STRUCT = 0xFF  # the int8 marker -1 (KIP-893)
_FIXED_WIDTH = {
    "bool": 1,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "uint16": 2,
    "error_code": 2,
    "int32": 4,
    "uint32": 4,
    "timedelta_i32": 4,
    "int64": 8,
    "uint64": 8,
    "float64": 8,
    "timedelta_i64": 8,
    "datetime_i64": 8,
    "uuid": 16,
}


class _Shape(NamedTuple):
    """How a value sits on the wire: ``walk`` is None for a fixed width of ``size`` bytes;
    otherwise ``size`` is the fewest bytes the value can take."""

    size: int
    walk: Walk | None


def check_lengths(cls: type, payload: bytes) -> int:
    """Raise ``ProtocolError`` unless every length in the request frame ``payload`` (header and
    body of kio request class ``cls``) fits in the bytes that follow it; else return where the
    body ends, as kio will read it (any trailing bytes follow)."""
    try:
        return _request_walk(cls)(payload, 0, len(payload))
    except (struct.error, IndexError) as exc:
        raise ProtocolError(f"{cls.__qualname__} v{cls.__version__} ends inside a length") from exc


@cache
def _request_walk(cls: type) -> Walk:
    header = _as_walk(_entity(cls.__header_schema__))
    body = _as_walk(_entity(cls))

    def walk(payload: bytes, offset: int, end: int) -> int:
        return body(payload, header(payload, offset, end), end)

    return walk


def _fits(count: int, size: int, offset: int, end: int) -> int:
    """The offset after ``count`` items of ``size`` bytes (-1: null), if they fit before
    ``end``."""
    if count < -1 or count * size > end - offset:
        raise ProtocolError(
            f"declared length {count} at byte {offset} does not fit in the "
            f"{max(end - offset, 0)} bytes left"
        )
    return offset + count * size if count > 0 else offset


def _uvarint(payload: bytes, offset: int) -> tuple[int, int]:
    """An unsigned varint as kio reads it: 7 bits a byte, at most 5 bytes."""
    byte = payload[offset]
    if byte < 0x80:
        return byte, offset + 1
    value = byte & 0x7F
    for index in range(1, 5):
        byte = payload[offset + index]
        value |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            return value, offset + index + 1
    raise ProtocolError(f"varint at byte {offset} is longer than 5 bytes")


def _int16_length(payload: bytes, offset: int) -> tuple[int, int]:
    return _I16.unpack_from(payload, offset)[0], offset + 2


def _int32_length(payload: bytes, offset: int) -> tuple[int, int]:
    return _I32.unpack_from(payload, offset)[0], offset + 4


def _compact_length(payload: bytes, offset: int) -> tuple[int, int]:
    stored = payload[offset]
    if stored < 0x80:  # the usual one-byte varint, without a call
        return stored - 1, offset + 1
    stored, offset = _uvarint(payload, offset)
    return stored - 1, offset


def _skip(size: int) -> Walk:
    def walk(payload: bytes, offset: int, end: int) -> int:
        return offset + size

    return walk


def _as_walk(shape: _Shape) -> Walk:
    return _skip(shape.size) if shape.walk is None else shape.walk


def _sized(length: _Length, width: int) -> _Shape:
    """A string or bytes: its length, then that many bytes."""

    def walk(payload: bytes, offset: int, end: int) -> int:
        count, offset = length(payload, offset)
        return _fits(count, 1, offset, end)

    return _Shape(width, walk)


def _array(length: _Length, width: int, item: _Shape) -> _Shape:
    """A count, then that many items; each item takes at least one byte of the frame."""
    least = max(item.size, 1)
    walk_item = item.walk
    if walk_item is None:
        size = item.size

        def walk_fixed(payload: bytes, offset: int, end: int) -> int:
            count, offset = length(payload, offset)
            _fits(count, least, offset, end)
            return offset + count * size if count > 0 else offset

        return _Shape(width, walk_fixed)

    def walk_items(payload: bytes, offset: int, end: int) -> int:
        count, offset = length(payload, offset)
        _fits(count, least, offset, end)
        for _ in range(count):
            offset = walk_item(payload, offset, end)
        return offset

    return _Shape(width, walk_items)


def _nullable(entity: _Shape) -> _Shape:
    """A nullable struct: an int8 marker, then the struct unless the marker is -1."""
    walk_entity = _as_walk(entity)

    def walk(payload: bytes, offset: int, end: int) -> int:
        if payload[offset] == _NULL_STRUCT:
            return offset + 1
        return walk_entity(payload, offset + 1, end)

    return _Shape(1, walk)


def _tagged(tags: dict[int, Walk]) -> Walk:
    """A flexible struct's tail: a count, then per field its tag, its size and its value."""

    def walk(payload: bytes, offset: int, end: int) -> int:
        if payload[offset] == 0:
            return offset + 1
        count, offset = _uvarint(payload, offset)
        _fits(count, 2, offset, end)
        for _ in range(count):
            tag, offset = _uvarint(payload, offset)
            size, offset = _uvarint(payload, offset)
            stop = _fits(size, 1, offset, end)
            walk_value = tags.get(tag)
            if walk_value is None:
                raise ProtocolError(f"unknown tagged field {tag} at byte {offset}")
            if walk_value(payload, offset, stop) != stop:
                raise ProtocolError(f"tagged field {tag} at byte {offset} is not {size} bytes")
            offset = stop
        return offset

    return walk


def _primitive(kafka_type: str, flexible: bool) -> _Shape:
    if kafka_type in _FIXED_WIDTH:
        return _Shape(_FIXED_WIDTH[kafka_type], None)
    if flexible:
        return _sized(_compact_length, 1)
    if kafka_type == "string":
        return _sized(_int16_length, 2)
    return _sized(_int32_length, 4)  # bytes and records


def _field(field: dataclasses.Field, flexible: bool, *, in_header: bool, tagged: bool) -> _Shape:
    """The shape of one field, chosen as kio's ``get_field_writer`` chooses its writer."""
    if in_header and field.name == "client_id":
        return _sized(_int16_length, 2)  # always a legacy string, even in header v2
    kind = classify_field(field)
    if isinstance(kind, PrimitiveField | PrimitiveTupleField):
        shape = _primitive(get_schema_field_type(field), flexible)
    else:
        shape = _entity(kind.type_)
    if isinstance(kind, PrimitiveTupleField | EntityTupleField):
        return _array(_compact_length, 1, shape) if flexible else _array(_int32_length, 4, shape)
    if isinstance(kind, EntityField) and not tagged and is_optional(field):
        return _nullable(shape)
    return shape


@cache
def _entity(cls: type) -> _Shape:
    """A struct: its fields in order, then, in flexible versions, its tagged fields."""
    flexible: bool = cls.__flexible__
    in_header = cls.__name__ == "RequestHeader"
    shapes: list[_Shape] = []
    tags: dict[int, Walk] = {}
    for field in dataclasses.fields(cls):
        tag = get_field_tag(field)
        shape = _field(field, flexible, in_header=in_header, tagged=tag is not None)
        if tag is not None:
            tags[tag] = _as_walk(shape)
        elif shape.walk is None and shapes and shapes[-1].walk is None:
            shapes[-1] = _Shape(shapes[-1].size + shape.size, None)  # adjacent fixed widths
        else:
            shapes.append(shape)
    if flexible:
        shapes.append(_Shape(1, _tagged(tags)))
    size = sum(shape.size for shape in shapes)
    if all(shape.walk is None for shape in shapes):
        return _Shape(size, None)
    if len(shapes) == 1:
        return shapes[0]
    steps = tuple(shape.size if shape.walk is None else shape.walk for shape in shapes)

    def walk(payload: bytes, offset: int, end: int) -> int:
        for step in steps:
            if step.__class__ is int:  # a run of fixed-width fields
                offset += step
            else:
                offset = step(payload, offset, end)
        return offset

    return _Shape(size, walk)
