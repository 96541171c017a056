"""What a kio message schema says about each field, read once per class and shared.

kio describes every message version as a dataclass: its fields in wire order, a ``kafka_type``
per primitive, type hints for arrays (``tuple[X, ...]``), nested structs and nulls
(``X | None``), a ``tag`` for each tagged field of a flexible version, and ``__flexible__``.
``entity_plan`` reads all of that once per class into an ``EntityPlan`` of ``FieldPlan``s, and
everything else compiles from it: the declared-length walk that runs before kio's native
reader (``lengths``, which also refuses a null where the schema allows none) and the response
builder (``codec``). The plan classifies fields as kio's own reader and writer do, including
the one exception Kafka makes: ``RequestHeader.client_id`` is a legacy string in every header
version.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class FieldPlan:
    name: str
    kafka_type: str | None  # a primitive's (or a primitive array's items') type; None: structs
    entity: EntityPlan | None  # the nested struct, or the struct of an array's items
    array: bool
    nullable: bool  # the schema allows None (a -1 length or count, or the struct marker -1)
    tag: int | None  # set for a tagged field of a flexible version
    compact: bool  # lengths and counts are uvarint + 1 rather than int16/int32
    default: Any  # dataclasses.MISSING when a value is required


@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class EntityPlan:
    cls: type  # the kio dataclass
    flexible: bool  # ends with tagged fields
    fields: tuple[FieldPlan, ...]  # in wire order, tagged fields where kio declares them


@cache
def entity_plan(cls: type) -> EntityPlan:
    """The plan of kio message, header or nested struct class ``cls``."""
    flexible: bool = cls.__flexible__
    in_header = cls.__name__ == "RequestHeader"
    hints = typing.get_type_hints(cls)
    fields = []
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        args = typing.get_args(hint)
        nullable = typing.get_origin(hint) in (typing.Union, types.UnionType) and (
            type(None) in args
        )
        if nullable:
            (hint,) = [arg for arg in args if arg is not type(None)]
        array = typing.get_origin(hint) is tuple
        item = typing.get_args(hint)[0] if array else hint
        default = field.default
        if default is dataclasses.MISSING and field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        struct = dataclasses.is_dataclass(item)
        fields.append(
            FieldPlan(
                name=field.name,
                kafka_type=None if struct else field.metadata["kafka_type"],
                entity=entity_plan(item) if struct else None,
                array=array,
                nullable=nullable,
                tag=field.metadata.get("tag"),
                compact=flexible and not (in_header and field.name == "client_id"),
                default=default,
            )
        )
    return EntityPlan(cls, flexible, tuple(fields))
