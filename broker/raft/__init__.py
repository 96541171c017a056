"""The KRaft controller quorum's consensus core, sans-IO (KIP-595, KIP-996, KAFKA-15489).

This package owns Raft as Kafka runs it for ``__cluster_metadata``: the roles (unattached,
prospective, candidate, leader, follower, resigned), Vote with pre-vote, BeginQuorumEpoch,
EndQuorumEpoch, pull replication by Fetch with diverging-epoch truncation, the high watermark,
check-quorum, and DescribeQuorum data. It holds no sockets, no asyncio, no files and no wall
clock: ``RaftCore`` takes messages, ticks of a manual clock and the persisted state, and gives
back messages, state and entries to persist, and committed entries (see ``core``).

The I/O lives beside it: ``runtime`` (``RaftRuntime``) drives a core on asyncio, persists
its output through ``store`` (the ``quorum-state`` file and the metadata log, one record batch
per entry as ``batches`` encodes it) and speaks to the other nodes with kio's Vote,
BeginQuorumEpoch, EndQuorumEpoch and Fetch types (``wire``), served on the CONTROLLER
listener by ``broker.net.controller_handlers``. Snapshots (KIP-630, FetchSnapshot) are not
built: the log always starts at offset 0.
"""

from broker.raft.config import QuorumConfig
from broker.raft.core import ElectionState, NotLeaderError, QuorumStateError, RaftCore, Ready, Role
from broker.raft.messages import Entry, Message, QuorumInfo, ReplicaInfo

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
]
