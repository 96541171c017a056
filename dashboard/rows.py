"""The rows of what the dashboard shows: the collector's view of the cluster each second
(``ClusterSample`` and its brokers, partitions, groups, members, commits, quorum and events)
and the analytics the stats reader folds (``WindowRow``, ``ResultSecond``, ``TailRow``).
``dashboard.store`` keeps them in SQLite; plain dataclasses, so that the clients that read a
cluster (``dashboard.cluster_probe``, the CLI) need not import the store's pandas.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

EVENT_KINDS = (
    "leader_election",
    "isr_shrink",
    "isr_expand",
    "broker_state",
    "controller_change",
    "rebalance",
)


@dataclass(frozen=True)
class BrokerRow:
    node_id: int
    host: str
    port: int
    up: bool = True
    state: str | None = None  # one of BROKER_STATES; None when not probed
    controller: bool = False  # the active controller


@dataclass(frozen=True)
class PartitionRow:
    topic: str
    partition: int
    leader: int
    replicas: Sequence[int]
    isr: Sequence[int]
    log_start: int | None
    high_watermark: int | None
    leader_epoch: int | None = None
    offline: Sequence[int] = ()
    log_ends: Sequence[tuple[int, int]] = ()  # (replica, its log end offset), those that answered


@dataclass(frozen=True)
class GroupRow:
    group_id: str
    state: str
    protocol_type: str
    assignor: str
    members: int
    generation: int | None = None


@dataclass(frozen=True)
class MemberRow:
    group_id: str
    member_id: str
    client_id: str
    host: str
    assignment: Sequence[tuple[str, int]]


@dataclass(frozen=True)
class CommitRow:
    group_id: str
    topic: str
    partition: int
    committed: int | None  # None: the group has no commit for this partition


@dataclass(frozen=True)
class QuorumReplica:
    replica_id: int
    role: str  # leader / voter / observer
    log_end_offset: int
    lag: int
    last_fetch_ms: int | None
    last_caught_up_ms: int | None

    def times(self) -> tuple[int | None, int | None]:
        return self.last_fetch_ms, self.last_caught_up_ms


@dataclass(frozen=True)
class QuorumRow:
    leader_id: int
    leader_epoch: int
    high_watermark: int
    replicas: Sequence[QuorumReplica]


@dataclass(frozen=True)
class EventRow:
    ts_ms: int
    kind: str  # one of EVENT_KINDS
    text: str
    topic: str | None = None
    partition: int | None = None
    node_id: int | None = None


@dataclass
class ClusterSample:
    """One second's view of the cluster, as the collector saw it."""

    ts_ms: int
    brokers: list[BrokerRow] = field(default_factory=list)
    partitions: list[PartitionRow] = field(default_factory=list)
    groups: list[GroupRow] = field(default_factory=list)
    members: list[MemberRow] = field(default_factory=list)
    commits: list[CommitRow] = field(default_factory=list)
    quorum: QuorumRow | None = None
    events: list[EventRow] = field(default_factory=list)
    took_ms: float = 0.0


@dataclass(frozen=True)
class WindowRow:
    window_ms: int
    tweets: int
    malformed: int
    retweets: int
    replies: int
    sentiment_sum: float
    labels: Mapping[str, int]
    languages: Mapping[str, int]
    hashtags: Sequence[tuple[str, int]]  # the top few, most used first


@dataclass(frozen=True)
class ResultSecond:
    ts_ms: int  # the start of a second of production time
    tweets: int
    sentiment_sum: float


@dataclass(frozen=True)
class TailRow:
    partition: int
    offset: int
    ts_ms: int
    key: str | None
    username: str | None
    lang: str | None
    text: str
