"""Refuses a request whose declared lengths do not fit in its frame, or are null where its
schema allows none, before kio reads it.

kio 0.6.5's native reader reserves memory for an array's wire-declared length before it reads
the items, and a failed allocation aborts the whole process (found by ``make fuzz``; the input
is ``tests/fuzz/crashes/kio-oom-find-coordinator-v6``). ``length_check`` compiles, once per
request class, a walk of the header and body from the same schema plan the codec uses
(``schema_plan``); it raises ``ProtocolError`` unless every array count (int32, or uvarint + 1
in flexible versions), string and bytes length, and tagged-field count and size fits in the
bytes that remain.

The walk also refuses a null (a -1 length or count) where the schema allows none. kio's reader
turns a null count into ``None`` even for an array that is not nullable (found by fuzzing: a
Produce with ``topic_data=None``) and handlers iterate their arrays without a check; Kafka
refuses such a request, and so does the walk, before anything is decoded.

The walk mirrors kio's reading exactly where kio is lenient: a nullable struct is null only
for the marker -1, a uvarint takes at most 5 bytes. Where kio ignores what the wire says, the
walk is stricter, so both always read the same bytes: kio reads a known tagged field's value
and skips its declared size, so the value must take exactly that size; kio refuses an unknown
tag, and so does the walk. Trailing bytes after the body are left alone (librdkafka sends
some). Fixed-width fields are skipped in one step, arrays of fixed-width items in one
multiplication, and a record batch is opaque bytes whose length alone is checked. A request
costs a few Python calls per variable-length field, nothing per record.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import cache
from typing import NamedTuple

from broker.protocol.errors import ProtocolError
from broker.protocol.schema_plan import EntityPlan, FieldPlan, entity_plan
from broker.protocol.varint import read_uvarint

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


@cache
def length_check(cls: type) -> Callable[[bytes], int]:
    """For kio request class ``cls``: a check of a request frame's payload (header and body)
    that raises ``ProtocolError`` unless every declared length fits in the bytes after it and
    is null only where the schema allows, and else returns where the body ends as kio will
    read it (any trailing bytes follow)."""
    header = _as_walk(_entity(entity_plan(cls.__header_schema__)))
    body = _as_walk(_entity(entity_plan(cls)))
    name = f"{cls.__qualname__} v{cls.__version__}"

    def check(payload: bytes) -> int:
        end = len(payload)
        try:
            return body(payload, header(payload, 0, end), end)
        except (struct.error, IndexError) as exc:
            raise ProtocolError(f"{name} ends inside a length") from exc

    return check


def _fits(count: int, size: int, offset: int, end: int) -> int:
    """The offset after ``count`` items of ``size`` bytes (-1: null), if they fit before
    ``end``."""
    if count < -1 or count * size > end - offset:
        raise _beyond(count, offset, end)
    return offset + count * size if count > 0 else offset


def _beyond(count: int, offset: int, end: int) -> ProtocolError:
    return ProtocolError(
        f"declared length {count} at byte {offset} does not fit in the "
        f"{max(end - offset, 0)} bytes left"
    )


def _null(where: str) -> ProtocolError:
    return ProtocolError(f"{where} is null, which its schema does not allow")


def _uvarint(payload: bytes, offset: int) -> tuple[int, int]:
    """An unsigned varint as kio reads it: 7 bits a byte, at most 5 bytes."""
    try:
        return read_uvarint(payload, offset, max_bytes=5)
    except ValueError as exc:
        raise ProtocolError(f"varint at byte {offset}: {exc}") from exc


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


def _sized(length: _Length, width: int, nullable: bool, where: str) -> _Shape:
    """A string or bytes: its length, then that many bytes."""

    def walk(payload: bytes, offset: int, end: int) -> int:
        count, offset = length(payload, offset)
        if 0 <= count <= end - offset:
            return offset + count
        if count == -1 and nullable:
            return offset
        raise _null(where) if count == -1 else _beyond(count, offset, end)

    return _Shape(width, walk)


def _array(length: _Length, width: int, item: _Shape, nullable: bool, where: str) -> _Shape:
    """A count, then that many items; each item takes at least one byte of the frame."""
    least = max(item.size, 1)
    walk_item = item.walk
    if walk_item is None:
        size = item.size

        def walk_fixed(payload: bytes, offset: int, end: int) -> int:
            count, offset = length(payload, offset)
            if count == -1 and not nullable:
                raise _null(where)
            _fits(count, least, offset, end)
            return offset + count * size if count > 0 else offset

        return _Shape(width, walk_fixed)

    def walk_items(payload: bytes, offset: int, end: int) -> int:
        count, offset = length(payload, offset)
        if count == -1 and not nullable:
            raise _null(where)
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
    """A flexible struct's tail when it holds tagged fields (the struct's walk skips the usual
    empty tail itself): a count, then per field its tag, its size and its value."""

    def walk(payload: bytes, offset: int, end: int) -> int:
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


def _primitive(field: FieldPlan, where: str) -> _Shape:
    kafka_type = field.kafka_type
    if kafka_type in _FIXED_WIDTH:
        return _Shape(_FIXED_WIDTH[kafka_type], None)
    nullable = field.nullable and not field.array  # an array's items are never null
    if field.compact:
        return _sized(_compact_length, 1, nullable, where)
    if kafka_type == "string":
        return _sized(_int16_length, 2, nullable, where)
    return _sized(_int32_length, 4, nullable, where)  # bytes and records


def _field(field: FieldPlan, where: str) -> _Shape:
    """The shape of one field, as kio's reader takes it off the wire; ``where`` names it."""
    shape = _entity(field.entity) if field.entity else _primitive(field, where)
    if field.array:
        length, width = (_compact_length, 1) if field.compact else (_int32_length, 4)
        return _array(length, width, shape, field.nullable, where)
    if field.entity and field.nullable and field.tag is None:
        return _nullable(shape)
    return shape


@cache
def _entity(plan: EntityPlan) -> _Shape:
    """A struct: its fields in order, then, in flexible versions, its tagged fields."""
    shapes: list[_Shape] = []
    tags: dict[int, Walk] = {}
    for field in plan.fields:
        shape = _field(field, f"{plan.cls.__qualname__}.{field.name}")
        if field.tag is not None:
            tags[field.tag] = _as_walk(shape)
        elif shape.walk is None and shapes and shapes[-1].walk is None:
            shapes[-1] = _Shape(shapes[-1].size + shape.size, None)  # adjacent fixed widths
        else:
            shapes.append(shape)
    size = sum(shape.size for shape in shapes)
    if not plan.flexible:
        if all(shape.walk is None for shape in shapes):
            return _Shape(size, None)
        if len(shapes) == 1:
            return shapes[0]
    steps = tuple(shape.size if shape.walk is None else shape.walk for shape in shapes)
    tagged = _tagged(tags) if plan.flexible else None

    def walk(payload: bytes, offset: int, end: int) -> int:
        for step in steps:
            if step.__class__ is int:  # a run of fixed-width fields
                offset += step
            else:
                offset = step(payload, offset, end)
        if tagged is None:
            return offset
        if payload[offset] == 0:  # no tagged fields, the usual case
            return offset + 1
        return tagged(payload, offset, end)

    return _Shape(size + plan.flexible, walk)
