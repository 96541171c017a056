"""The record formats against bytes derived by hand from Kafka's message JSONs
(group-coordinator/src/main/resources/common/message/*.json), and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from broker.groups.codec import (
    CodecError,
    GroupKey,
    GroupValue,
    MemberValue,
    OffsetKey,
    OffsetValue,
    decode_group_value,
    decode_key,
    decode_offset_value,
    encode_key,
    encode_value,
)

T = 1_700_000_000_000  # 0x0000018BCFE56800


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def test_offset_commit_key_v1():
    expected = (
        h("0001")  # key version 1 = OffsetCommitKey
        + h("0009") + b"analytics"  # group
        + h("0006") + b"tweets"  # topic
        + h("00000005")  # partition
    )  # fmt: skip
    key = OffsetKey("analytics", "tweets", 5)
    assert encode_key(key) == expected
    assert decode_key(expected) == key


def test_group_metadata_key_v2():
    expected = h("0002") + h("0009") + b"analytics"
    assert encode_key(GroupKey("analytics")) == expected
    assert decode_key(expected) == GroupKey("analytics")


def test_offset_commit_value_v3():
    expected = (
        h("0003")  # value version 3
        + h("000000000000002a")  # offset 42
        + h("00000003")  # leaderEpoch 3
        + h("0004") + b"meta"  # metadata
        + h("0000018bcfe56800")  # commitTimestamp
    )  # fmt: skip
    value = OffsetValue(42, 3, "meta", T)
    assert encode_value(value) == expected
    assert decode_offset_value(expected) == value


def test_group_metadata_value_v3_with_a_member():
    expected = (
        h("0003")  # value version 3
        + h("0008") + b"consumer"  # protocolType
        + h("00000007")  # generation
        + h("0005") + b"range"  # protocol (nullable)
        + h("0002") + b"m1"  # leader (nullable)
        + h("0000018bcfe56800")  # currentStateTimestamp
        + h("00000001")  # members: one
        + h("0002") + b"m1"  # memberId
        + h("ffff")  # groupInstanceId: null
        + h("0001") + b"c"  # clientId
        + h("0002") + b"/h"  # clientHost
        + h("000493e0")  # rebalanceTimeout 300000
        + h("0000afc8")  # sessionTimeout 45000
        + h("00000002") + h("0102")  # subscription
        + h("00000000")  # assignment: empty
    )  # fmt: skip
    value = GroupValue(
        "consumer",
        7,
        "range",
        "m1",
        T,
        (MemberValue("m1", None, "c", "/h", 300_000, 45_000, b"\x01\x02", b""),),
    )
    assert encode_value(value) == expected
    assert decode_group_value(expected) == value


def test_group_metadata_value_v3_of_an_empty_group():
    expected = (
        h("0003") + h("0008") + b"consumer" + h("0000000c")
        + h("ffff")  # protocol: null
        + h("ffff")  # leader: null
        + h("ffffffffffffffff")  # currentStateTimestamp -1
        + h("00000000")
    )  # fmt: skip
    value = GroupValue("consumer", 12, None, None, -1, ())
    assert encode_value(value) == expected
    assert decode_group_value(expected) == value


def test_strings_are_utf8_with_byte_lengths():
    assert encode_key(GroupKey("é")) == h("0002 0002 c3a9")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (h("0000 0001 67 0001 74 00000000"), "key version 0"),
        (h("0003 0001 67"), "key version 3"),
        (h("0002 0005 67"), "cut short"),
        (h("0002 0001 67 00"), "left over"),
        (h("0002 ffff"), "null where a string"),
        (h("0002 0001 ff"), "not UTF-8"),
    ],
)
def test_bad_keys_raise_codec_error(data, message):
    with pytest.raises(CodecError, match=message):
        decode_key(data)


def test_bad_values_raise_codec_error():
    good = encode_value(OffsetValue(1, -1, "", T))
    with pytest.raises(CodecError, match="version 1 is not supported"):
        decode_offset_value(h("0001") + good[2:])
    with pytest.raises(CodecError, match="cut short"):
        decode_offset_value(good[:-1])
    with pytest.raises(CodecError, match="null member array"):
        decode_group_value(
            encode_value(GroupValue("c", 1, None, None, -1, ()))[:-4] + h("ffffffff")
        )
    with pytest.raises(CodecError, match="cut short"):
        decode_group_value(
            encode_value(GroupValue("c", 1, None, None, -1, ()))[:-4] + h("00000001")
        )


def test_strings_longer_than_an_int16_cannot_be_written():
    with pytest.raises(CodecError, match="does not fit"):
        encode_key(GroupKey("x" * 0x8000))


text = st.text(max_size=40)
int32 = st.integers(-(2**31), 2**31 - 1)
int64 = st.integers(-(2**63), 2**63 - 1)
members = st.builds(
    MemberValue,
    text,
    st.none() | text,
    text,
    text,
    int32,
    int32,
    st.binary(max_size=50),
    st.binary(max_size=50),
)


@given(st.builds(OffsetKey, text, text, int32) | st.builds(GroupKey, text))
def test_keys_round_trip(key):
    assert decode_key(encode_key(key)) == key


@given(st.builds(OffsetValue, int64, int32, text, int64))
def test_offset_values_round_trip(value):
    assert decode_offset_value(encode_value(value)) == value


@given(
    st.builds(
        GroupValue,
        text,
        int32,
        st.none() | text,
        st.none() | text,
        int64,
        st.lists(members, max_size=4).map(tuple),
    )
)
def test_group_values_round_trip(value):
    assert decode_group_value(encode_value(value)) == value
