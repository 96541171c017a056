"""The metadata log codec: every record type round-trips; Kafka's framing; bad bytes refused."""

from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.metadata.codec import RECORD_TYPES, CodecError, decode, encode
from broker.metadata.records import (
    NO_LEADER_CHANGE,
    ConfigRecord,
    ConfigResourceType,
    Endpoint,
    FenceBrokerRecord,
    PartitionChangeRecord,
    PartitionRecord,
    ProducerIdsRecord,
    RegisterBrokerRecord,
    RemoveTopicRecord,
    TopicRecord,
    UnfenceBrokerRecord,
)
from broker.protocol.varint import read_uvarint, uvarint

ids = st.integers(min_value=-1, max_value=2**31 - 1)
offsets = st.integers(min_value=-1, max_value=2**63 - 1)
uuids = st.uuids()
brokers = st.lists(st.integers(0, 100), max_size=5).map(tuple)
text = st.text(max_size=20)

records = st.one_of(
    st.builds(
        RegisterBrokerRecord,
        broker_id=ids,
        incarnation_id=uuids,
        broker_epoch=offsets,
        end_points=st.lists(
            st.builds(Endpoint, name=text, host=text, port=st.integers(0, 65535)), max_size=3
        ).map(tuple),
        rack=st.none() | text,
        fenced=st.booleans(),
        in_controlled_shutdown=st.booleans(),
    ),
    st.builds(FenceBrokerRecord, id=ids, epoch=offsets),
    st.builds(UnfenceBrokerRecord, id=ids, epoch=offsets),
    st.builds(TopicRecord, name=text, topic_id=uuids),
    st.builds(
        PartitionRecord,
        partition_id=ids,
        topic_id=uuids,
        replicas=brokers,
        isr=brokers,
        leader=ids,
        leader_epoch=ids,
        partition_epoch=ids,
    ),
    st.builds(
        PartitionChangeRecord,
        partition_id=ids,
        topic_id=uuids,
        isr=st.none() | brokers,
        leader=st.sampled_from([NO_LEADER_CHANGE, -1, 0, 7]),
        replicas=st.none() | brokers,
    ),
    st.builds(RemoveTopicRecord, topic_id=uuids),
    st.builds(
        ConfigRecord,
        resource_type=st.sampled_from(ConfigResourceType),
        resource_name=text,
        name=text,
        value=st.none() | text,
    ),
    st.builds(ProducerIdsRecord, broker_id=ids, broker_epoch=offsets, next_producer_id=offsets),
)


@given(st.lists(records, max_size=8))
def test_any_batch_of_records_round_trips(batch: list) -> None:
    decoded = decode(encode(batch))
    assert decoded == batch
    assert [type(r) for r in decoded] == [type(r) for r in batch]


def test_every_record_type_has_kafkas_api_key() -> None:
    # The api keys of apache/kafka's metadata/src/main/resources/common/metadata/*.json.
    keys = {cls.__name__: api_key for cls, (api_key, _) in RECORD_TYPES.items()}
    assert keys == {
        "RegisterBrokerRecord": 0,
        "TopicRecord": 2,
        "PartitionRecord": 3,
        "ConfigRecord": 4,
        "PartitionChangeRecord": 5,
        "FenceBrokerRecord": 7,
        "UnfenceBrokerRecord": 8,
        "RemoveTopicRecord": 9,
        "ProducerIdsRecord": 15,
    }


def test_a_record_is_framed_as_kafka_frames_it_with_a_json_body() -> None:
    topic_id = uuid.UUID("7c1f3e4a-0d2b-4a57-9e8f-1234567890ab")
    data = encode([TopicRecord("tweets", topic_id)])
    size, position = read_uvarint(data, 0)
    assert position + size == len(data)
    assert list(data[position : position + 3]) == [1, 2, 0]  # frame version, api key, version
    body = json.loads(data[position + 3 :])
    # Kafka's field names, and its text form of a UUID (url-safe base64 without padding).
    assert body == {"name": "tweets", "topicId": "fB8-Sg0rSleejxI0VniQqw"}


def test_an_empty_batch_is_empty_bytes() -> None:
    assert encode([]) == b""
    assert decode(b"") == []


def frame(api_key: int, version: int, body: bytes, frame_version: int = 1) -> bytes:
    inner = bytes([frame_version, api_key, version]) + body
    return bytes([len(inner)]) + inner


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\x05\x01\x02", "runs past the end"),
        (frame(99, 0, b"{}"), "unknown metadata record api key 99"),
        (frame(2, 0, b"{}", frame_version=2), "frame version 2"),
        (frame(2, 5, b"{}"), "TopicRecord version 5"),
        (frame(2, 0, b"{x"), "byte 0"),
        (frame(9, 0, b"{}"), "RemoveTopicRecord lacks 'topicId'"),
        (frame(7, 0, b'{"id":1,"epoch":true}'), "expected int"),
        (frame(7, 0, b'{"id":1,"epoch":2,"x":3}'), "no field 'x'"),
        (frame(9, 0, b'{"topicId":"AAAA"}'), "not a UUID"),
        (frame(9, 0, b"[]"), "not a JSON object"),
        (b"\x80", "ends inside a varint"),
    ],
)
def test_bad_bytes_are_refused_with_a_clear_error(data: bytes, says: str) -> None:
    with pytest.raises(CodecError, match=says):
        decode(data)


def test_a_good_record_after_a_bad_one_is_not_half_read() -> None:
    good = encode([FenceBrokerRecord(1, 2)])
    with pytest.raises(CodecError, match=f"byte {len(good)}"):
        decode(good + frame(99, 0, b"{}"))


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_an_unsigned_varint_reads_back_as_written(value: int) -> None:
    data = uvarint(value) + b"\xff"
    assert read_uvarint(data, 0) == (value, len(data) - 1)
