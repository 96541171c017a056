"""Generations decoded from __consumer_offsets records, checked against the broker's own
encoder of Kafka's GroupMetadata records (an independent implementation of the format)."""

from __future__ import annotations

import struct

from broker.groups import codec
from dashboard.generations import group_generation


def test_group_metadata_records_give_the_generation():
    key = struct.pack(">hh", 2, 9) + b"analytics"
    value = struct.pack(">hh", 3, 8) + b"consumer" + struct.pack(">i", 12) + b"rest..."
    assert group_generation(key, value) == ("analytics", 12)
    assert group_generation(key, None) == ("analytics", None)


def test_flexible_values_use_compact_strings():
    key = struct.pack(">hh", 2, 1) + b"g"
    value = struct.pack(">h", 4) + bytes([9]) + b"consumer" + struct.pack(">i", 3)
    assert group_generation(key, value) == ("g", 3)


def test_offset_commits_and_garbage_are_skipped():
    commit_key = struct.pack(">hh", 1, 1) + b"g" + struct.pack(">h", 1) + b"t" + b"\0\0\0\0"
    assert group_generation(commit_key, b"\x00\x03") is None
    assert group_generation(b"\x00", b"") is None
    assert group_generation(None, None) is None
    assert group_generation(struct.pack(">hh", 2, 50) + b"short", b"\x00\x03") is None


def test_records_written_by_the_bundled_coordinator_decode():
    member = codec.MemberValue("m-1", None, "c", "/127.0.0.1", 300_000, 45_000, b"s", b"a")
    value = codec.GroupValue("consumer", 42, "range", "m-1", 1_795_000_000_000, (member,))
    key = codec.encode_key(codec.GroupKey("tweets-readers"))
    assert group_generation(key, codec.encode_value(value)) == ("tweets-readers", 42)
    commit = codec.encode_key(codec.OffsetKey("tweets-readers", "tweets", 3))
    assert group_generation(commit, codec.encode_value(codec.OffsetValue(5, 0, "", 0))) is None
