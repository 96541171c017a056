"""dashboard.key_journey: Kafka's murmur2 on the test vectors of Kafka's own UtilsTest, each
step of a key's journey, and which keys move when a topic gains a partition."""

from __future__ import annotations

import pytest
from kafka.partitioner.default import murmur2 as kafka_murmur2

from dashboard.key_journey import journey, moves, murmur2, partition_for

# Kafka's clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java testMurmur2.
JAVA = {
    "21": -973932308,
    "foobar": -790332482,
    "a-little-bit-long-string": -985981536,
    "a-little-bit-longer-string": -1486304829,
    "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    "abc": 479470107,
}


@pytest.mark.parametrize(("key", "expected"), JAVA.items())
def test_murmur2_is_javas(key, expected):
    assert murmur2(key.encode()) == expected


def test_each_tail_length_and_the_empty_key_agree_with_kafka_python():
    # Every remainder of the length mod 4 takes its own branch of the tail; kafka-python
    # answers the same 32 bits, unsigned.
    for n in range(9):
        assert murmur2(b"abcdefgh"[:n]) & 0xFFFFFFFF == kafka_murmur2(b"abcdefgh"[:n])
    assert murmur2(b"") == 275646681


def test_a_journey_shows_bytes_hash_mask_and_partition():
    step = journey("héllo", 6)
    assert step.key_bytes == b"h\xc3\xa9llo"  # UTF-8, not one byte per character
    assert step.positive == step.hash & 0x7FFFFFFF
    assert step.partition == step.positive % 6 == partition_for(b"h\xc3\xa9llo", 6)
    table = step.steps()
    assert list(table["step"]) == ["key", "bytes", "murmur2", "positive", "partition"]
    assert table["value"].iloc[1] == "68 c3 a9 6c 6c 6f"


def test_a_negative_hash_is_masked_not_negated():
    step = journey("21", 7)
    assert step.hash == -973932308
    assert step.positive == -973932308 + 2**31  # & 0x7fffffff, not abs()
    assert step.partition == (-973932308 + 2**31) % 7


def test_a_topic_has_at_least_one_partition():
    with pytest.raises(ValueError, match="at least one partition"):
        journey("ada", 0)


def test_moves_lists_each_key_once_with_its_partition_now_and_after():
    keys = ["21", "foobar", "21", "abc"]
    moved = moves(keys, 3)
    assert list(moved["key"]) == ["21", "foobar", "abc"]
    for row in moved.itertuples():
        assert row.now == partition_for(row.key.encode(), 3)
        assert row.after == partition_for(row.key.encode(), 4)
        assert row.moves == (row.now != row.after)
