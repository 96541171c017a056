"""The plain values the coordinator takes and returns: one type per request or response part.

Each result carries what the Kafka responses need in every version; a handler only picks
fields and maps None to "" where an old version has no null (JoinGroup ``protocol_name``
before v7, SyncGroup's protocol fields before v5).
"""

from __future__ import annotations

from typing import NamedTuple

from kio.schema.errors import ErrorCode


class CommitEntry(NamedTuple):
    """One partition of an OffsetCommit request. A None ``metadata`` is stored as ""."""

    topic: str
    partition: int
    offset: int
    leader_epoch: int
    metadata: str | None


class CommittedOffset(NamedTuple):
    """One partition of an OffsetFetch answer: -1, -1, "" when nothing is committed."""

    topic: str
    partition: int
    offset: int
    leader_epoch: int
    metadata: str


class JoinMember(NamedTuple):
    member_id: str
    group_instance_id: str | None
    metadata: bytes


class JoinResult(NamedTuple):
    """A JoinGroup response. ``members`` is filled for the leader only. On an error the
    generation is -1, the protocol fields None and the leader ""."""

    error_code: ErrorCode
    generation_id: int
    protocol_type: str | None
    protocol_name: str | None
    leader: str
    member_id: str
    members: list[JoinMember]
    skip_assignment: bool = False


class SyncResult(NamedTuple):
    """A SyncGroup response: the protocol fields are None on an error."""

    error_code: ErrorCode
    protocol_type: str | None
    protocol_name: str | None
    assignment: bytes


class LeaveMemberResult(NamedTuple):
    member_id: str
    group_instance_id: str | None
    error_code: ErrorCode


class LeaveResult(NamedTuple):
    """A LeaveGroup response. Before v3 a request names one member: answer with its error
    when the top-level one is NONE."""

    error_code: ErrorCode
    members: list[LeaveMemberResult]


class MemberDescription(NamedTuple):
    """A DescribeGroups member: ``metadata`` and ``assignment`` are b"" unless Stable."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    client_host: str
    metadata: bytes
    assignment: bytes


class GroupDescription(NamedTuple):
    """A DescribeGroups group: ``protocol_name`` is "" unless Stable (Kafka's summary)."""

    error_code: ErrorCode
    group_id: str
    state_name: str
    protocol_type: str
    protocol_name: str
    members: list[MemberDescription]


class GroupListing(NamedTuple):
    group_id: str
    protocol_type: str
    state_name: str
    group_type: str = "classic"


class OffsetDeleteResult(NamedTuple):
    """An OffsetDelete answer: the group's error, else one error per partition asked."""

    error_code: ErrorCode
    partitions: dict[tuple[str, int], ErrorCode]
