"""Reading a member's ConsumerProtocol Assignment from DescribeGroups' bytes, laid out by hand
as Kafka's ConsumerProtocolAssignment.json has it (int16 version; array of (string topic,
int32 array partitions); nullable bytes user data), and naming group states as
confluent-kafka does."""

from __future__ import annotations

import struct

import pytest
from confluent_kafka import ConsumerGroupState

from dashboard.consumer_protocol import AssignmentError, assigned_partitions, state_name


def assignment(version: int, topics: dict[str, list[int]], user_data: bytes | None) -> bytes:
    out = struct.pack(">hi", version, len(topics))
    for topic, partitions in topics.items():
        name = topic.encode()
        out += struct.pack(">h", len(name)) + name
        out += struct.pack(f">i{len(partitions)}i", len(partitions), *partitions)
    if user_data is None:
        return out + struct.pack(">i", -1)
    return out + struct.pack(">i", len(user_data)) + user_data


@pytest.mark.parametrize("version", [0, 1, 2, 3, 7])  # 7: a newer version is read as 3
def test_every_version_reads_to_sorted_topic_partitions(version):
    data = assignment(version, {"tweets": [4, 0], "tweet-stats": [2]}, b"sticky")
    assert assigned_partitions(data) == [("tweet-stats", 2), ("tweets", 0), ("tweets", 4)]


def test_no_user_data_and_no_topics():
    assert assigned_partitions(assignment(0, {"t": [1]}, None)) == [("t", 1)]
    assert assigned_partitions(assignment(3, {}, None)) == []


def test_an_empty_assignment_assigns_nothing():
    # A member that joined but has not synced yet has no assignment bytes at all.
    assert assigned_partitions(b"") == []
    assert assigned_partitions(None) == []


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"\x00", "no version"),
        (struct.pack(">hi", -1, 0), "version -1"),
        (assignment(1, {"tweets": [0, 1]}, None)[:-6], "cannot read an assignment of version 1"),
    ],
)
def test_bytes_that_are_not_an_assignment_say_so(data, says):
    with pytest.raises(AssignmentError, match=says):
        assigned_partitions(data)


@pytest.mark.parametrize(
    ("kafka", "named"),
    [
        ("PreparingRebalance", "PREPARING_REBALANCING"),
        ("CompletingRebalance", "COMPLETING_REBALANCING"),
        ("Stable", "STABLE"),
        ("Dead", "DEAD"),
        ("Empty", "EMPTY"),
        ("Assigning", "UNKNOWN"),  # a state of the new consumer protocol (KIP-848)
    ],
)
def test_states_are_named_as_confluent_kafka_names_them(kafka, named):
    assert state_name(kafka) == named
    assert named in ConsumerGroupState.__members__
