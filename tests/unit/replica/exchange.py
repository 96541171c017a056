"""Replicas of one partition in their own directories, and the replica fetch between them
played by hand: the leader's side (divergence check, follower position, read to the log
end) and the follower's (truncate, append, high watermark), through the replicas' own
methods, as the Fetch handler and the fetcher call them."""

from __future__ import annotations

import uuid
from pathlib import Path

from broker.protocol.batch import validate_replicated
from broker.replica.replica import Replica
from broker.storage import LogConfig, PartitionLog

TOPIC_ID = uuid.UUID(int=42)
NOW_MS = 1_700_000_000_000


def replica_in(
    root: Path, node: int, high_watermark: int = 0, isr: frozenset[int] | None = None
) -> Replica:
    """``node``'s replica of t-0 under ``root``; its log as the node left it, if any."""
    directory = root / "t-0"
    if directory.exists():
        partition_log = PartitionLog.open(directory, LogConfig(), recovery_point=0)
    else:
        root.mkdir(parents=True)
        partition_log = PartitionLog.create(root, "t", 0, TOPIC_ID, LogConfig())
    return Replica("t", 0, partition_log, 0, node_id=node, isr=isr, high_watermark=high_watermark)


def fetch(leader: Replica, follower: Replica) -> bool:
    """One replica fetch of ``follower`` from ``leader``; False once there was nothing new."""
    offset, epoch = follower.log_end_offset, follower.last_fetched_epoch
    diverging = leader.diverging_epoch(offset, epoch)
    if diverging is not None:
        follower.truncate_to_leader(*diverging)
        return True
    leader.update_follower(follower.node_id, offset)
    region = leader.read(offset, 1 << 20, to_log_end=True)
    if region is not None:
        data = region.read_bytes()
        follower.append_as_follower(data, validate_replicated(data), NOW_MS)
    follower.follow_high_watermark(leader.high_watermark)
    return region is not None


def catch_up(leader: Replica, follower: Replica) -> None:
    for _ in range(50):
        if not fetch(leader, follower):
            return
    raise AssertionError("the follower never caught up")


def everything(replica: Replica) -> bytes:
    region = replica.log.read(replica.log_start_offset, 1 << 30, replica.log_end_offset)
    return b"" if region is None else region.read_bytes()


def batches_below(replica: Replica, end: int) -> dict[int, bytes]:
    """The stored batches that end below ``end``, by base offset, as bytes."""
    data = everything(replica)
    return {
        h.base_offset: data[h.position : h.position + h.size]
        for h in validate_replicated(data)
        if h.last_offset < end
    }
