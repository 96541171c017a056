"""The KRaft controller quorum's consensus core, sans-IO (KIP-595, KIP-996, KIP-630, KAFKA-15489).

This package owns Raft as Kafka runs it for ``__cluster_metadata``: the roles (unattached,
prospective, candidate, leader, follower, resigned), Vote with pre-vote, BeginQuorumEpoch,
EndQuorumEpoch, pull replication by Fetch with diverging-epoch truncation, the high watermark,
check-quorum, snapshots with FetchSnapshot, and DescribeQuorum data. It holds no sockets, no
asyncio, no files and no wall clock: ``RaftCore`` takes messages, ticks of a manual clock and
the persisted state, and gives back messages, state, snapshots and entries to persist, and
committed entries and snapshots for the state machine (see ``core``).

The I/O lives beside it: ``runtime`` (``RaftRuntime``) drives a core on asyncio, persists
its output through ``store`` (the ``quorum-state`` file, the metadata log, one record batch
per entry as ``batches`` encodes it, and the snapshots as ``<offset>-<epoch>.checkpoint``
files) and speaks to the other nodes with kio's Vote, BeginQuorumEpoch, EndQuorumEpoch, Fetch
and FetchSnapshot types (``wire``), served on the CONTROLLER listener by
``broker.net.controller_handlers``.
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
