"""What a consumer group's DescribeGroups answer holds in its own terms, for the collector's
wire reader of groups (``dashboard.cluster_probe``):

- a member's assignment: Kafka's ConsumerProtocol Assignment, an int16 version then the
  ``ConsumerProtocolAssignment`` of that version (versions 0 to 3 share one layout: an array of
  (string topic, int32 array partitions), then nullable bytes user data). A version above 3 is
  read as 3, as Kafka's ``ConsumerProtocol.deserializeAssignment`` does; an empty one (a
  member between a rebalance's join and its sync) assigns nothing;
- a group's state, named as confluent-kafka's ``ConsumerGroupState`` names it (``STABLE``,
  ``EMPTY``...), so the rows stored are the same whichever reader read them.
"""

from __future__ import annotations

import struct

from kio.schema.consumer_protocol_assignment.v3.data import ConsumerProtocolAssignment
from kio.serial import entity_reader
from kio.serial.errors import DecodeError

_VERSION = struct.Struct(">h")
_read_assignment = entity_reader(ConsumerProtocolAssignment)

# DescribeGroups' group_state -> confluent-kafka's ConsumerGroupState name (librdkafka
# compares the state without regard to case).
_STATES = {
    "preparingrebalance": "PREPARING_REBALANCING",
    "completingrebalance": "COMPLETING_REBALANCING",
    "stable": "STABLE",
    "dead": "DEAD",
    "empty": "EMPTY",
}


class AssignmentError(ValueError):
    """The bytes are not a ConsumerProtocol Assignment."""


def assigned_partitions(data: bytes | None) -> list[tuple[str, int]]:
    """The (topic, partition) pairs a member's ``member_assignment`` assigns, sorted."""
    if not data:
        return []
    if len(data) < _VERSION.size:
        raise AssignmentError(f"an assignment of {len(data)} byte(s) has no version")
    (version,) = _VERSION.unpack_from(data)
    if version < 0:
        raise AssignmentError(f"assignment version {version} is not a ConsumerProtocol one")
    try:
        assignment, _ = _read_assignment(memoryview(data), _VERSION.size)
    except (DecodeError, ValueError) as exc:
        raise AssignmentError(f"cannot read an assignment of version {version}: {exc}") from exc
    return sorted(
        (str(topic.topic), int(partition))
        for topic in assignment.assigned_partitions
        for partition in topic.partitions
    )


def state_name(group_state: str) -> str:
    """``group_state`` as confluent-kafka's ``ConsumerGroupState`` names it."""
    return _STATES.get(group_state.lower(), "UNKNOWN")
