"""Hypothesis strategies for any kio message class, built from its fields' Kafka types.

kio ships no strategies of its own; these walk a dataclass's fields (``kafka_type`` metadata
and type hints) and draw values kio can write and read back unchanged. ``plain`` turns an
entity back into the plain values handlers hand to ``encode_response``.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import types
import typing
import uuid
from functools import cache
from typing import Any

from hypothesis import strategies as st
from kio.schema.errors import ErrorCode

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
# kio's reader turns milliseconds into a datetime through a float: exact below 2**33 s.
_MAX_EXACT_MS = 2**33 * 1000 - 1

_INTS = {
    "int8": st.integers(-(2**7), 2**7 - 1),
    "int16": st.integers(-(2**15), 2**15 - 1),
    "int32": st.integers(-(2**31), 2**31 - 1),
    "int64": st.integers(-(2**63), 2**63 - 1),
    "uint16": st.integers(0, 2**16 - 1),
}
_SCALARS: dict[str, st.SearchStrategy[Any]] = {
    **_INTS,
    "bool": st.booleans(),
    "float64": st.floats(allow_nan=False),
    "string": st.text(st.characters(codec="utf-8"), max_size=12),
    "bytes": st.binary(max_size=24),
    "records": st.binary(max_size=24),
    "uuid": st.uuids(),
    "error_code": st.sampled_from(list(ErrorCode)),
    "timedelta_i32": st.integers(0, 2**31 - 1).map(lambda ms: datetime.timedelta(milliseconds=ms)),
    "timedelta_i64": st.integers(0, 2**40).map(lambda ms: datetime.timedelta(milliseconds=ms)),
    "datetime_i64": st.integers(0, _MAX_EXACT_MS).map(
        lambda ms: EPOCH + datetime.timedelta(milliseconds=ms)
    ),
}


@cache
def entities(cls: type) -> st.SearchStrategy[Any]:
    """Instances of the kio dataclass ``cls`` with every field drawn."""
    hints = typing.get_type_hints(cls)
    fields = {
        field.name: _value(hints[field.name], field.metadata.get("kafka_type"))
        for field in dataclasses.fields(cls)
    }
    return st.builds(cls, **fields)


def _value(hint: Any, kafka_type: str | None) -> st.SearchStrategy[Any]:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        (inner,) = [arg for arg in args if arg is not type(None)]
        return st.none() | _value(inner, kafka_type)
    if typing.get_origin(hint) is tuple:
        return st.lists(_value(args[0], kafka_type), max_size=2).map(tuple)
    if dataclasses.is_dataclass(hint):
        return st.deferred(lambda: entities(hint))
    if kafka_type not in _SCALARS:
        raise TypeError(f"no strategy for {hint!r} ({kafka_type})")
    return _SCALARS[kafka_type]


def plain(value: Any) -> Any:
    """An entity as handlers build responses: dicts, lists, ints for enums and durations."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [plain(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime.timedelta):
        return value // datetime.timedelta(milliseconds=1)
    if isinstance(value, datetime.datetime):
        return (value - EPOCH) // datetime.timedelta(milliseconds=1)
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
