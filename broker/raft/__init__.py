"""The KRaft controller quorum's consensus core, sans-IO (KIP-595, KIP-996, KIP-630, KAFKA-15489).

This package owns Raft as Kafka runs it for ``__cluster_metadata``: the roles (unattached,
prospective, candidate, leader, follower, resigned), Vote with pre-vote, BeginQuorumEpoch,
EndQuorumEpoch, pull replication by Fetch with diverging-epoch truncation, the high watermark,
check-quorum, snapshots with FetchSnapshot, and DescribeQuorum data. It holds no sockets, no
asyncio, no files and no wall clock: ``RaftCore`` takes messages, ticks of a manual clock and
the persisted state, and gives back messages, state, snapshots and entries to persist, and
committed entries and snapshots for the state machine (see ``core``).

It is not wired into the node yet: the cluster work will drive it over the CONTROLLER
listener with kio's Vote/BeginQuorumEpoch/EndQuorumEpoch/Fetch/FetchSnapshot types and persist
its output as the ``quorum-state`` file, the metadata log and its snapshots.
"""

from broker.raft.config import QuorumConfig
from broker.raft.core import ElectionState, NotLeaderError, QuorumStateError, RaftCore, Ready, Role
from broker.raft.messages import Entry, Message, QuorumInfo, ReplicaInfo, Snapshot, SnapshotId

__all__ = [
    "ElectionState",
    "Entry",
    "Message",
    "NotLeaderError",
    "QuorumConfig",
    "QuorumInfo",
    "QuorumStateError",
    "RaftCore",
    "Ready",
    "ReplicaInfo",
    "Role",
    "Snapshot",
    "SnapshotId",
]
