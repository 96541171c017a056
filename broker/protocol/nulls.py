"""Refuses a decoded request that holds null where its schema allows none.

kio's native reader takes a null length (-1) for any array or string and hands back ``None``,
even for fields that are not nullable (found by fuzzing: a Produce with ``topic_data=None``);
Kafka refuses such a request. Handlers iterate their arrays without a check, so
``check_nulls`` runs right after decoding and raises ``ProtocolError``. The plan per class is
built once from kio's type hints and visits only fields that could hold a wrong null: a few
attribute reads per request, nothing per record.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from functools import cache
from typing import Any, NamedTuple

from broker.protocol.errors import ProtocolError

_NULLABLE_ON_THE_WIRE = ("string", "bytes", "records")  # a -1 length reads as None


class _Check(NamedTuple):
    name: str
    nullable: bool
    nested: type | None  # a dataclass whose own fields need checking
    sequence: bool


@cache
def _plan(cls: type) -> tuple[_Check, ...]:
    checks = []
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        hint = hints[field.name]
        args = typing.get_args(hint)
        nullable = typing.get_origin(hint) in (typing.Union, types.UnionType) and (
            type(None) in args
        )
        if nullable:
            (hint,) = [arg for arg in args if arg is not type(None)]
        sequence = typing.get_origin(hint) is tuple
        element = typing.get_args(hint)[0] if sequence else hint
        nested = element if dataclasses.is_dataclass(element) and _plan(element) else None
        can_be_null = (
            sequence
            or dataclasses.is_dataclass(element)
            or field.metadata.get("kafka_type") in _NULLABLE_ON_THE_WIRE
        )
        if (can_be_null and not nullable) or nested is not None:
            checks.append(_Check(field.name, nullable, nested, sequence))
    return tuple(checks)


def check_nulls(entity: Any) -> None:
    """Raise ``ProtocolError`` if ``entity`` or anything inside it is a forbidden null."""
    for check in _plan(type(entity)):
        value = getattr(entity, check.name)
        if value is None:
            if not check.nullable:
                raise ProtocolError(f"{type(entity).__qualname__}.{check.name} is null")
        elif check.nested is not None:
            if check.sequence:
                for item in value:
                    check_nulls(item)
            else:
                check_nulls(value)
