"""The kio-based codec: tolerant request decoding and version-adapting response building."""

from __future__ import annotations

import io
import struct
import uuid

import pytest
from kio.serial import entity_reader, entity_writer

from broker.net.handlers import REGISTRY
from broker.protocol.codec import (
    UnsupportedVersion,
    build,
    encode_response,
    read_request,
    request_class,
    response_class,
    response_frame,
)
from broker.protocol.errors import ProtocolError

# librdkafka's Metadata v12 "all topics" request, captured, with 3 trailing bytes (G3).
LIBRDKAFKA_METADATA = bytes.fromhex("0003000c000000040008636b2d61646d696e0000000000010000")


def test_trailing_bytes_are_tolerated():
    request = read_request(LIBRDKAFKA_METADATA)
    assert (request.api_key, request.version, request.correlation_id) == (3, 12, 4)
    assert request.client_id == "ck-admin"
    assert request.body.topics is None


def test_unknown_versions_and_garbage():
    with pytest.raises(UnsupportedVersion) as unsupported:
        read_request(struct.pack(">hhih", 18, 99, 5, -1))
    assert unsupported.value.correlation_id == 5
    with pytest.raises(ProtocolError):
        read_request(b"\x00\x03")
    with pytest.raises(ProtocolError):
        read_request(struct.pack(">hhi", 3, 12, 1) + b"\xff" * 20)


METADATA_BODY = {
    "throttle_time": 0,
    "brokers": [{"node_id": 0, "host": "127.0.0.1", "port": 9092, "rack": None}],
    "cluster_id": "abc",
    "controller_id": 0,
    "topics": [
        {
            "error_code": 0,
            "name": "t",
            "topic_id": uuid.UUID(int=5),
            "is_internal": False,
            "partitions": [
                {
                    "error_code": 0,
                    "partition_index": 0,
                    "leader_id": 0,
                    "leader_epoch": 3,
                    "replica_nodes": [0],
                    "isr_nodes": [0],
                    "offline_replicas": [],
                }
            ],
        }
    ],
}


@pytest.mark.parametrize("version", range(0, 13))
def test_one_body_serves_every_metadata_version(version):
    frame = encode_response(3, version, 42, METADATA_BODY)
    assert struct.unpack_from(">i", frame)[0] == len(frame) - 4
    cls = response_class(3, version)
    header, used = entity_reader(cls.__header_schema__)(frame[4:], 0)
    body, _ = entity_reader(cls)(frame[4:], used)
    assert header.correlation_id == 42
    assert body.topics[0].name == "t"
    assert body.topics[0].partitions[0].replica_nodes == (0,)
    if version >= 7:
        assert body.topics[0].partitions[0].leader_epoch == 3
    if version >= 10:
        assert body.topics[0].topic_id == uuid.UUID(int=5)


def test_api_versions_response_header_is_v0_even_when_flexible():
    frame = encode_response(
        18, 3, 7, {"error_code": 0, "api_keys": REGISTRY.advertised(), "throttle_time": 0}
    )
    # size, correlation id, then directly the error code: no tagged-field byte (G1).
    assert struct.unpack_from(">ih", frame, 4) == (7, 0)


@pytest.mark.parametrize("spec", REGISTRY.advertised(), ids=lambda s: str(s["api_key"]))
def test_every_served_version_has_a_kio_schema(spec):
    served = REGISTRY.get(spec["api_key"])
    for version in range(served.min_version, served.max_version + 1):
        assert request_class(spec["api_key"], version) is not None


def test_build_requires_missing_fields():
    cls = response_class(3, 12)
    with pytest.raises(KeyError, match="brokers"):
        build(cls, {"throttle_time": 0, "topics": []})


def test_request_round_trip_through_kio_writer():
    cls = request_class(3, 12)
    out = io.BytesIO()
    header = cls.__header_schema__
    entity_writer(header)(
        out,
        build(
            header,
            {
                "request_api_key": 3,
                "request_api_version": 12,
                "correlation_id": 9,
                "client_id": None,
            },
        ),
    )
    entity_writer(cls)(
        out,
        build(
            cls,
            {
                "topics": [{"name": "a", "topic_id": uuid.UUID(int=0)}],
                "allow_auto_topic_creation": False,
                "include_topic_authorized_operations": False,
            },
        ),
    )
    request = read_request(out.getvalue())
    assert request.body.topics[0].name == "a"
    assert request.body.allow_auto_topic_creation is False


def test_a_null_where_the_schema_forbids_one_is_a_protocol_error():
    """kio reads a -1 length as None even for non-nullable arrays (found by atheris)."""
    header = struct.pack(">hhih", 0, 9, 1, -1) + b"\x00"
    null_topic_data = b"\x00" + struct.pack(">hi", -1, 1000) + b"\x00" + b"\x00"
    with pytest.raises(ProtocolError, match="topic_data is null"):
        read_request(header + null_topic_data)
    empty_topic_data = b"\x00" + struct.pack(">hi", -1, 1000) + b"\x01" + b"\x00"
    assert read_request(header + empty_topic_data).body.topic_data == ()


@pytest.mark.parametrize(("api_key", "version"), [(63, 0), (63, 2), (3, 12), (18, 3), (1, 12)])
@pytest.mark.parametrize("correlation_id", [0, 7, 2**31 - 1, -5])
def test_a_response_frame_has_the_header_kio_encodes_for_its_version(
    api_key, version, correlation_id
):
    # The header is encoded once per version and the correlation id put in: the frame must
    # be what kio writes for the whole header each time.
    header_cls = response_class(api_key, version).__header_schema__
    out = io.BytesIO()
    entity_writer(header_cls)(out, header_cls(correlation_id=correlation_id))
    body = b"\x01\x02\x03"
    expected = out.getvalue() + body
    assert response_frame(api_key, version, correlation_id, body) == (
        struct.pack(">i", len(expected)) + expected
    )
