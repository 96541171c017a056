"""Request decoding and cold-path response encoding on kio's generated message types.

``read_request`` peeks the API key and version, then uses what it looked up once for that
pair: the length check (``lengths``: every declared length fits in the frame and is null only
where the schema allows, before kio's native reader sees it) and kio's readers. It tolerates
the trailing bytes librdkafka leaves after some requests, and turns every decoding failure into
``ProtocolError`` (close that connection) or ``UnsupportedVersion``.

``encode_response`` builds a kio response of the requested version from plain Python values
shaped like the newest version: fields the version lacks are dropped, missing fields take
kio's defaults, and ints become the enums, timedeltas and datetimes kio expects; how to
convert each field is compiled from the shared schema plan (``schema_plan``). Handlers stay
version-agnostic; only Produce and Fetch bypass this with hand-written encoders.
"""

from __future__ import annotations

import dataclasses
import datetime
import io
import struct
import uuid
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, NamedTuple

from kio.index import KioIndexError, load_request_schema, load_response_schema
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader, entity_writer
from kio.serial.errors import SerialError

from broker.protocol.errors import ProtocolError
from broker.protocol.lengths import length_check
from broker.protocol.schema_plan import FieldPlan, entity_plan

_PEEK = struct.Struct(">hhi")
_SIZE = struct.Struct(">i")
_SIZE_AND_CORRELATION = struct.Struct(">ii")


class Request(NamedTuple):
    api_key: int
    version: int
    correlation_id: int
    client_id: str | None
    body: Any  # a kio request dataclass
    client_host: str = ""  # the peer's address, as Kafka reports it for group members


class UnsupportedVersion(ProtocolError):
    """kio has no schema for this (api_key, version)."""

    def __init__(self, api_key: int, version: int, correlation_id: int) -> None:
        super().__init__(f"unsupported api_key={api_key} version={version}")
        self.api_key = api_key
        self.version = version
        self.correlation_id = correlation_id


def peek_header(payload: bytes) -> tuple[int, int, int]:
    """(api_key, api_version, correlation_id) of a request frame's payload."""
    if len(payload) < _PEEK.size:
        raise ProtocolError("request shorter than its header")
    return _PEEK.unpack_from(payload)


@cache
def request_class(api_key: int, version: int) -> type | None:
    try:
        return load_request_schema(api_key, version)
    except KioIndexError:
        return None


@cache
def response_class(api_key: int, version: int) -> type:
    return load_response_schema(api_key, version)


@cache
def _writer(cls: type):
    return entity_writer(cls)


@cache
def _readers(api_key: int, version: int) -> tuple[Callable, Callable, Callable] | None:
    """The length check and kio's header and body readers of one (API key, version)."""
    cls = request_class(api_key, version)
    if cls is None:
        return None
    return length_check(cls), entity_reader(cls.__header_schema__), entity_reader(cls)


def read_request(payload: bytes, client_host: str = "") -> Request:
    """Decode one request frame's payload (the bytes after the int32 size)."""
    api_key, version, correlation_id = peek_header(payload)
    readers = _readers(api_key, version)
    if readers is None:
        raise UnsupportedVersion(api_key, version, correlation_id)
    check_lengths, read_header, read_body = readers
    check_lengths(payload)  # kio would reserve memory for a declared length first
    try:
        header, used = read_header(payload, 0)
        body, _ = read_body(payload, used)
    except (SerialError, KeyError, ValueError, TypeError, OverflowError) as exc:
        # KeyError: kio raises it for an unknown tagged field (protocol notes, G4).
        raise ProtocolError(f"cannot decode api_key={api_key} v{version}: {exc!r}") from exc
    return Request(api_key, version, correlation_id, header.client_id, body, client_host)


def frame(payload: bytes) -> bytes:
    return _SIZE.pack(len(payload)) + payload


def encode_response(api_key: int, version: int, correlation_id: int, body: Mapping) -> bytes:
    """The complete response frame: size, the version's response header, the body."""
    return response_frame(api_key, version, correlation_id, encode_body(api_key, version, body))


def encode_body(api_key: int, version: int, body: Mapping) -> bytes:
    """A response body alone, for an answer that is sent again under other correlation ids."""
    cls = response_class(api_key, version)
    out = io.BytesIO()
    _writer(cls)(out, build(cls, body))
    return out.getvalue()


def response_frame(api_key: int, version: int, correlation_id: int, body: bytes) -> bytes:
    """Size, the version's response header, then an encoded body."""
    tail = _response_header_tail(api_key, version)
    return _SIZE_AND_CORRELATION.pack(4 + len(tail) + len(body), correlation_id) + tail + body


@cache
def _response_header_tail(api_key: int, version: int) -> bytes:
    """What the version's response header holds after its correlation id (v1, the flexible
    versions' header: its empty tagged fields), encoded once by kio."""
    header_cls = response_class(api_key, version).__header_schema__
    out = io.BytesIO()
    _writer(header_cls)(out, header_cls(correlation_id=0))
    return out.getvalue()[4:]


class _Build(NamedTuple):
    name: str
    convert: Callable[[Any], Any]
    default: Any  # dataclasses.MISSING when the field is required


@cache
def _builds(cls: type) -> tuple[_Build, ...]:
    return tuple(
        _Build(field.name, _converter(field), field.default) for field in entity_plan(cls).fields
    )


def build(cls: type, values: Mapping) -> Any:
    """Instantiate kio entity ``cls`` from ``values``, adapting to the version's shape."""
    kwargs = {}
    for field in _builds(cls):
        if field.name in values:
            kwargs[field.name] = field.convert(values[field.name])
        elif field.default is dataclasses.MISSING:
            raise KeyError(f"{cls.__qualname__} needs field {field.name!r}")
    return cls(**kwargs)


def _identity(value: Any) -> Any:
    return value


def _converter(field: FieldPlan) -> Callable[[Any], Any]:
    if field.array:
        if field.entity:
            element = field.entity.cls
            return lambda items: None if items is None else tuple(build(element, i) for i in items)
        return lambda items: None if items is None else tuple(items)
    if field.entity:
        entity = field.entity.cls
        return lambda value: None if value is None else build(entity, value)
    kafka_type = field.kafka_type
    if kafka_type == "error_code":
        return ErrorCode
    if kafka_type in ("timedelta_i32", "timedelta_i64"):
        return _to_timedelta
    if kafka_type == "datetime_i64":
        return _to_datetime if field.nullable else _to_datetime_required
    if kafka_type == "uuid":
        return _to_uuid
    return _identity


def _to_timedelta(value: int | datetime.timedelta) -> datetime.timedelta:
    if isinstance(value, datetime.timedelta):
        return value
    return datetime.timedelta(milliseconds=value)


def millis(value: datetime.timedelta) -> int:
    """A kio duration field back in Kafka's milliseconds."""
    return value // datetime.timedelta(milliseconds=1)


def _to_datetime(value: int | datetime.datetime | None) -> datetime.datetime | None:
    if value is None or isinstance(value, datetime.datetime):
        return value
    if value < 0:
        return None
    return datetime.datetime.fromtimestamp(value / 1000, tz=datetime.UTC)


def _to_datetime_required(value: int | datetime.datetime) -> datetime.datetime:
    converted = _to_datetime(value)
    if converted is None:
        raise ValueError(f"timestamp {value!r} is not a valid datetime")
    return converted


def _to_uuid(value: uuid.UUID | str | None) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return uuid.UUID(value)
