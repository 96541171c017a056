"""ProduceResponse v3-v11: the hand-written encoder against kio 0.6.5, byte for byte."""

from __future__ import annotations

import dataclasses
import datetime
import importlib
import io
import struct
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kio.schema.errors import ErrorCode
from kio.serial import entity_reader, entity_writer

from broker.protocol.produce_response import (
    MAX_VERSION,
    MIN_VERSION,
    PartitionResult,
    encode_produce_response,
)

VERSIONS = range(MIN_VERSION, MAX_VERSION + 1)
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
# kio carries log_append_time as a datetime; the last millisecond a datetime can hold.
MAX_APPEND_TIME_MS = (datetime.datetime.max.replace(tzinfo=datetime.UTC) - EPOCH) // (
    datetime.timedelta(milliseconds=1)
)
# kio's native reader turns milliseconds into a datetime through a float, which loses
# microseconds from about 2**33 seconds (year 2242) on; the round trip stays below that.
EXACT_APPEND_TIME_MS = 2**33 * 1000 - 1

Topics = list[tuple[str, list[PartitionResult]]]

names = st.text(st.characters(codec="utf-8"), max_size=40)
partitions = st.builds(
    PartitionResult,
    index=st.integers(-(2**31), 2**31 - 1),
    error_code=st.sampled_from([code.value for code in ErrorCode]),
    base_offset=st.integers(-(2**63), 2**63 - 1),
    log_append_time_ms=st.just(-1) | st.integers(0, EXACT_APPEND_TIME_MS),
    log_start_offset=st.integers(-(2**63), 2**63 - 1),
    error_message=st.none() | st.text(st.characters(codec="utf-8"), max_size=80),
    record_errors=st.lists(
        st.tuples(
            st.integers(-(2**31), 2**31 - 1),
            st.none() | st.text(st.characters(codec="utf-8"), max_size=40),
        ),
        max_size=3,
    ).map(tuple),
)
topic_lists = st.lists(st.tuples(names, st.lists(partitions, max_size=5)), max_size=4)
throttle_times = st.integers(0, 2**31 - 1)
correlation_ids = st.integers(-(2**31), 2**31 - 1)


def schema(version: int) -> ModuleType:
    return importlib.import_module(f"kio.schema.produce.v{version}.response")


def build(cls: type, **values: Any) -> Any:
    """Instantiate ``cls`` with the values its version has; the others are dropped."""
    names = {field.name for field in dataclasses.fields(cls)}
    return cls(**{name: value for name, value in values.items() if name in names})


def kio_response(version: int, topics: Topics, throttle_time_ms: int) -> Any:
    module = schema(version)
    return build(
        module.ProduceResponse,
        responses=tuple(
            build(
                module.TopicProduceResponse,
                name=name,
                partition_responses=tuple(
                    build(
                        module.PartitionProduceResponse,
                        index=p.index,
                        error_code=ErrorCode(p.error_code),
                        base_offset=p.base_offset,
                        log_append_time=None
                        if p.log_append_time_ms == -1
                        else EPOCH + datetime.timedelta(milliseconds=p.log_append_time_ms),
                        log_start_offset=p.log_start_offset,
                        record_errors=tuple(
                            module.BatchIndexAndErrorMessage(
                                batch_index=batch_index, batch_index_error_message=message
                            )
                            for batch_index, message in p.record_errors
                        )
                        if hasattr(module, "BatchIndexAndErrorMessage")
                        else (),
                        error_message=p.error_message,
                    )
                    for p in results
                ),
            )
            for name, results in topics
        ),
        throttle_time=datetime.timedelta(milliseconds=throttle_time_ms),
    )


def kio_frame(correlation_id: int, response: Any) -> bytes:
    header_cls = type(response).__header_schema__
    buffer = io.BytesIO()
    entity_writer(header_cls)(buffer, header_cls(correlation_id=correlation_id))
    entity_writer(type(response))(buffer, response)
    body = buffer.getvalue()
    return struct.pack(">i", len(body)) + body


def check(
    version: int, correlation_id: int, topics: Topics, throttle_time_ms: int, *, exact: bool = True
) -> None:
    """Compare with kio's encoding, then parse ours back with kio's reader.

    ``exact=False`` is for times the reader cannot hold exactly: the parsed response must then
    re-encode to the same bytes instead of being equal.
    """
    ours = encode_produce_response(version, correlation_id, topics, throttle_time_ms)
    expected = kio_response(version, topics, throttle_time_ms)
    assert ours == kio_frame(correlation_id, expected)

    cls = type(expected)
    header, header_size = entity_reader(cls.__header_schema__)(ours, 4)
    body, body_size = entity_reader(cls)(ours, 4 + header_size)
    assert header.correlation_id == correlation_id
    assert 4 + header_size + body_size == len(ours)
    assert struct.unpack_from(">i", ours)[0] == len(ours) - 4
    if exact:
        assert body == expected
    else:
        assert kio_frame(correlation_id, body) == ours


@pytest.mark.parametrize("version", VERSIONS)
@settings(deadline=None)
@given(correlation_id=correlation_ids, topics=topic_lists, throttle_time_ms=throttle_times)
def test_matches_kio(
    version: int, correlation_id: int, topics: Topics, throttle_time_ms: int
) -> None:
    check(version, correlation_id, topics, throttle_time_ms)


@pytest.mark.parametrize("version", VERSIONS)
def test_matches_kio_with_multibyte_lengths(version: int) -> None:
    """Names, messages and arrays longer than 127 need two-byte compact lengths from v9."""
    many = [
        PartitionResult(i, ErrorCode.not_leader_or_follower.value, error_message="é" * 100)
        for i in range(130)
    ]
    errors = tuple((i, "no key" * 30) for i in range(130))
    rejected = PartitionResult(1, ErrorCode.invalid_record.value, record_errors=errors)
    topics = [
        ("t" * 200, many),
        ("ünïcødé-🐦", [PartitionResult(0, 0, 42, 1_700_000_000_123, 7), rejected]),
    ]
    check(version, 7, topics, 250)


@pytest.mark.parametrize("version", VERSIONS)
def test_matches_kio_with_far_future_append_times(version: int) -> None:
    results = [
        PartitionResult(i, 0, i, append_time, i)
        for i, append_time in enumerate((EXACT_APPEND_TIME_MS + 1, MAX_APPEND_TIME_MS))
    ]
    check(version, 3, [("far", results)], 0, exact=False)


@pytest.mark.parametrize("version", VERSIONS)
def test_empty_response_matches_kio(version: int) -> None:
    check(version, 0, [], 0)


@pytest.mark.parametrize("version", [0, 2, 12, 13])
def test_rejects_unsupported_versions(version: int) -> None:
    with pytest.raises(ValueError, match="not supported"):
        encode_produce_response(version, 1, [])
