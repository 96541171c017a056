"""The quorum's messages, named after the Kafka APIs that carry them (KIP-595, KIP-996, KIP-630).

Each message names its ``source`` and ``destination`` node ids; the driver maps those to
connections and to the real kio request/response types. Requests carry a ``correlation_id``
that the answer echoes, so a late or duplicated answer to a request that is no longer in
flight is recognised and dropped, as a Kafka client drops it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from kio.schema.errors import ErrorCode

NO_LEADER = -1


@dataclass(frozen=True, slots=True)
class Entry:
    """One record of the replicated log. ``leader_change`` marks the control record a new
    leader appends at the start of its epoch (Kafka's LeaderChange record); its ``value`` is
    empty and the state machine above skips it."""

    epoch: int
    value: bytes
    leader_change: bool = False


class SnapshotId(NamedTuple):
    """A snapshot's name (KIP-630): it holds the state after every entry below ``end_offset``,
    and ``epoch`` is the epoch of the last of them (the entry at ``end_offset - 1``)."""

    end_offset: int
    epoch: int


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A snapshot of the state machine above the log, as opaque bytes."""

    snapshot_id: SnapshotId
    data: bytes


@dataclass(frozen=True, slots=True)
class Message:
    source: int
    destination: int
    correlation_id: int


@dataclass(frozen=True, slots=True)
class VoteRequest(Message):
    """Vote (52). With ``pre_vote`` (KIP-996) it asks whether an election could be won,
    without anyone changing epoch or casting a vote; ``candidate_epoch`` is then the epoch
    the real election would use."""

    candidate_epoch: int
    last_offset_epoch: int
    last_offset: int
    pre_vote: bool


@dataclass(frozen=True, slots=True)
class VoteResponse(Message):
    error: ErrorCode
    leader_epoch: int
    leader_id: int
    vote_granted: bool
    pre_vote: bool


@dataclass(frozen=True, slots=True)
class BeginQuorumEpochRequest(Message):
    """BeginQuorumEpoch (53): the new leader of ``leader_epoch`` announces itself."""

    leader_epoch: int


@dataclass(frozen=True, slots=True)
class BeginQuorumEpochResponse(Message):
    error: ErrorCode
    leader_epoch: int
    leader_id: int


@dataclass(frozen=True, slots=True)
class EndQuorumEpochRequest(Message):
    """EndQuorumEpoch (54): the leader of ``leader_epoch`` resigns; ``preferred_successors``
    lists the voters by how far they had replicated, the furthest first."""

    leader_epoch: int
    preferred_successors: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class EndQuorumEpochResponse(Message):
    error: ErrorCode
    leader_epoch: int
    leader_id: int


@dataclass(frozen=True, slots=True)
class DivergingEpoch:
    """The leader's answer to a fetch whose log diverged: the end offset of ``epoch``, the
    largest epoch of the leader's log not after the follower's last fetched epoch."""

    epoch: int
    end_offset: int


@dataclass(frozen=True, slots=True)
class FetchRequest(Message):
    """Fetch (1) on ``__cluster_metadata`` by a voter or an observer: its log end offset and
    the epoch of its last entry (KIP-595)."""

    current_leader_epoch: int
    fetch_offset: int
    last_fetched_epoch: int


@dataclass(frozen=True, slots=True)
class FetchResponse(Message):
    error: ErrorCode
    leader_epoch: int
    leader_id: int
    high_watermark: int = -1
    records: tuple[Entry, ...] = ()
    diverging_epoch: DivergingEpoch | None = None
    snapshot_id: SnapshotId | None = None
    """Set when the fetch offset is below the leader's log start (Kafka's SnapshotId): the
    follower fetches this snapshot with FetchSnapshot, then fetches on from its end offset."""


@dataclass(frozen=True, slots=True)
class FetchSnapshotRequest(Message):
    """FetchSnapshot (59): up to ``max_bytes`` of the snapshot ``snapshot_id`` from byte
    ``position`` on."""

    current_leader_epoch: int
    snapshot_id: SnapshotId
    position: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class FetchSnapshotResponse(Message):
    """One chunk of a snapshot: ``data`` sits at ``position`` of a snapshot of ``size`` bytes
    (Kafka's UnalignedRecords, Position and Size). SNAPSHOT_NOT_FOUND when the leader no longer
    has that snapshot, POSITION_OUT_OF_RANGE for a position outside it."""

    error: ErrorCode
    leader_epoch: int
    leader_id: int
    snapshot_id: SnapshotId
    size: int = -1
    position: int = -1
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class ReplicaInfo:
    """One row of DescribeQuorum (55): times are the core's manual clock in ms, -1 if never."""

    replica_id: int
    log_end_offset: int
    last_fetch_timestamp: int
    last_caught_up_timestamp: int


@dataclass(frozen=True, slots=True)
class QuorumInfo:
    """What DescribeQuorum (55) answers, as the leader sees it (``kafka-metadata-quorum.sh``)."""

    leader_id: int
    leader_epoch: int
    high_watermark: int
    voters: tuple[ReplicaInfo, ...] = ()
    observers: tuple[ReplicaInfo, ...] = ()
