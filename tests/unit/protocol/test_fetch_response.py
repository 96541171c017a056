"""FetchResponse v4-v15: the hand-written encoder against kio 0.6.5, byte for byte (from v13
topics are named by id: the tests name them by ids made from their names)."""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import io
import struct
import uuid
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader, entity_writer

from broker.protocol.fetch_response import (
    MAX_VERSION,
    MIN_VERSION,
    FetchPartition,
    encode_fetch_response,
)

VERSIONS = range(MIN_VERSION, MAX_VERSION + 1)


class FakeRegion:
    """Stands for ``data`` the way the storage layer's file slice stands for file bytes."""

    __slots__ = ("data", "length")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.length = len(data)


Topics = list[tuple[str | uuid.UUID, list[FetchPartition]]]
TOPIC_IDS = 13


def topic_id(name: str | uuid.UUID) -> uuid.UUID:
    return name if isinstance(name, uuid.UUID) else uuid.uuid5(uuid.NAMESPACE_DNS, name)


int32s = st.integers(-(2**31), 2**31 - 1)
int64s = st.integers(-(2**63), 2**63 - 1)
error_codes = st.sampled_from([code.value for code in ErrorCode])
names = st.text(st.characters(codec="utf-8"), max_size=40)
record_bytes = st.none() | st.just(b"") | st.binary(min_size=1, max_size=300)


def topic_lists(records: st.SearchStrategy[Any]) -> st.SearchStrategy[Topics]:
    partitions = st.builds(
        FetchPartition,
        index=int32s,
        error_code=error_codes,
        high_watermark=int64s,
        last_stable_offset=int64s,
        log_start_offset=int64s,
        records=records,
        preferred_read_replica=int32s,
        diverging_epoch=st.none() | st.just((-1, -1)) | st.tuples(int32s, int64s),
    )
    return st.lists(st.tuples(names, st.lists(partitions, max_size=5)), max_size=4)


def schema(version: int) -> ModuleType:
    return importlib.import_module(f"kio.schema.fetch.v{version}.response")


def build(cls: type, **values: Any) -> Any:
    """Instantiate ``cls`` with the values its version has; the others are dropped."""
    names = {field.name for field in dataclasses.fields(cls)}
    return cls(**{name: value for name, value in values.items() if name in names})


def as_bytes(records: bytes | FakeRegion | None) -> bytes | None:
    return records.data if isinstance(records, FakeRegion) else records


def kio_response(
    version: int, topics: Topics, throttle_time_ms: int, error_code: int, session_id: int
) -> Any:
    module = schema(version)
    return build(
        module.FetchResponse,
        throttle_time=datetime.timedelta(milliseconds=throttle_time_ms),
        error_code=ErrorCode(error_code),
        session_id=session_id,
        responses=tuple(
            build(
                module.FetchableTopicResponse,
                topic=name,
                topic_id=name,
                partitions=tuple(
                    build(
                        module.PartitionData,
                        partition_index=p.index,
                        error_code=ErrorCode(p.error_code),
                        high_watermark=p.high_watermark,
                        last_stable_offset=p.last_stable_offset,
                        log_start_offset=p.log_start_offset,
                        aborted_transactions=None,
                        preferred_read_replica=p.preferred_read_replica,
                        records=as_bytes(p.records),
                        diverging_epoch=diverging(module, p.diverging_epoch),
                    )
                    for p in partitions
                ),
            )
            for name, partitions in topics
        ),
    )


def diverging(module: ModuleType, epoch_end: tuple[int, int] | None) -> Any:
    """kio's ``diverging_epoch`` (v12+; older versions have none: ``build`` drops it)."""
    cls = getattr(module, "EpochEndOffset", None)
    if cls is None or epoch_end is None:
        return cls() if cls else None
    return cls(epoch=epoch_end[0], end_offset=epoch_end[1])


def kio_frame(correlation_id: int, response: Any) -> bytes:
    header_cls = type(response).__header_schema__
    buffer = io.BytesIO()
    entity_writer(header_cls)(buffer, header_cls(correlation_id=correlation_id))
    entity_writer(type(response))(buffer, response)
    body = buffer.getvalue()
    return struct.pack(">i", len(body)) + body


def check(
    version: int,
    correlation_id: int,
    topics: Topics,
    throttle_time_ms: int = 0,
    error_code: int = 0,
    session_id: int = 0,
) -> list[Any]:
    """Compare with kio's encoding, regions substituted by their bytes, then parse ours back."""
    if version >= TOPIC_IDS:
        topics = [(topic_id(name), partitions) for name, partitions in topics]
    parts = encode_fetch_response(
        version, correlation_id, topics, throttle_time_ms, error_code, session_id
    )
    assert isinstance(parts[0], bytes)
    assert all(isinstance(part, bytes) != (i % 2 == 1) for i, part in enumerate(parts))
    assert all(part for part in parts if isinstance(part, bytes))
    sent = [p.records for _, ps in topics for p in ps if isinstance(p.records, FakeRegion)]
    assert [part for part in parts if not isinstance(part, bytes)] == [r for r in sent if r.length]
    ours = b"".join(part if isinstance(part, bytes) else part.data for part in parts)

    expected = kio_response(version, topics, throttle_time_ms, error_code, session_id)
    assert ours == kio_frame(correlation_id, expected)

    cls = type(expected)
    header, header_size = entity_reader(cls.__header_schema__)(ours, 4)
    body, body_size = entity_reader(cls)(ours, 4 + header_size)
    assert header.correlation_id == correlation_id
    assert body == expected
    assert 4 + header_size + body_size == len(ours)
    assert struct.unpack_from(">i", ours)[0] == len(ours) - 4
    return parts


@pytest.mark.parametrize("version", VERSIONS)
@settings(deadline=None)
@given(
    correlation_id=int32s,
    topics=topic_lists(record_bytes),
    throttle_time_ms=st.integers(0, 2**31 - 1),
    error_code=error_codes,
    session_id=int32s,
)
def test_matches_kio(
    version: int,
    correlation_id: int,
    topics: Topics,
    throttle_time_ms: int,
    error_code: int,
    session_id: int,
) -> None:
    parts = check(version, correlation_id, topics, throttle_time_ms, error_code, session_id)
    assert len(parts) == 1


@pytest.mark.parametrize("version", VERSIONS)
@settings(deadline=None)
@given(
    correlation_id=int32s,
    topics=topic_lists(record_bytes | st.binary(max_size=300).map(FakeRegion)),
)
def test_regions_pass_through_and_match_kio(
    version: int, correlation_id: int, topics: Topics
) -> None:
    check(version, correlation_id, topics)


@pytest.mark.parametrize("version", VERSIONS)
def test_multibyte_lengths(version: int) -> None:
    """Lengths from 128 bytes up to 3 MiB take two to four bytes as v12 compact lengths."""
    region = FakeRegion(bytes(range(256)) * 12288)
    many = [FetchPartition(i, 0, 10, 10, 0, b"\x01" * 200) for i in range(130)]
    many.append(FetchPartition(130, 0, 10, 10, 0, b"\x02" * 20000))
    topics = [("t" * 200, many), ("ünïcødé-🐦", [FetchPartition(0, 0, 5, 5, 0, region)])]
    parts = check(version, 9, topics)
    assert parts[1] is region
    assert len(parts) == (3 if version >= 12 else 2)  # flexible versions end in tagged fields


@pytest.mark.parametrize("version", VERSIONS)
def test_adjacent_regions_stay_separate(version: int) -> None:
    first, second = FakeRegion(b"a" * 70), FakeRegion(b"b" * 90)
    parts = check(version, 1, [("t", [FetchPartition(0, records=first)]), ("u", [])])
    assert parts[1] is first
    parts = check(version, 1, [("t", [FetchPartition(0, records=first), FetchPartition(1)])])
    assert parts[1] is first
    parts = check(
        version, 1, [("t", [FetchPartition(0, records=first), FetchPartition(1, records=second)])]
    )
    assert parts[1] is first
    assert parts[3] is second


@pytest.mark.parametrize("version", VERSIONS)
def test_empty_region_is_left_out(version: int) -> None:
    parts = check(version, 1, [("t", [FetchPartition(0, records=FakeRegion(b""))])])
    assert len(parts) == 1


@pytest.mark.parametrize("version", VERSIONS)
def test_empty_response_matches_kio(version: int) -> None:
    check(version, 0, [])


def test_rejects_negative_region_length() -> None:
    region = FakeRegion(b"")
    region.length = -1
    with pytest.raises(ValueError, match="negative length"):
        encode_fetch_response(12, 1, [("t", [FetchPartition(0, records=region)])])


@pytest.mark.parametrize("version", [0, 3, 16, 18])
def test_rejects_unsupported_versions(version: int) -> None:
    with pytest.raises(ValueError, match="not supported"):
        encode_fetch_response(version, 1, [])


def test_a_diverging_epoch_reads_back_as_kio_reads_it_at_v12() -> None:
    """The tagged field kio reads back, next to records and the other partitions."""
    topics = [
        ("t", [FetchPartition(0, 0, 7, 7, 0, b"", diverging_epoch=(3, 120)), FetchPartition(1)])
    ]
    check(12, 5, topics)
    ours = b"".join(encode_fetch_response(12, 5, topics))
    module = schema(12)
    _, size = entity_reader(module.FetchResponse.__header_schema__)(ours, 4)
    body, _ = entity_reader(module.FetchResponse)(ours, 4 + size)
    first, second = body.responses[0].partitions
    assert (first.diverging_epoch.epoch, first.diverging_epoch.end_offset) == (3, 120)
    assert second.diverging_epoch == module.EpochEndOffset()


def test_a_topic_is_named_as_its_version_names_it() -> None:
    with pytest.raises(ValueError, match="by id"):
        encode_fetch_response(13, 1, [("t", [])])
    with pytest.raises(ValueError, match="not ids"):
        encode_fetch_response(12, 1, [(topic_id("t"), [])])
