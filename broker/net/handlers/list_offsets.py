"""ListOffsets (2): earliest (-2), latest (-1), max timestamp (-3) or the first offset at or
after a timestamp. Latest is the high watermark (the last stable offset is the same: no
transactions).

As Kafka's ``Partition.fetchOffsetForTimestamp`` (KIP-207): a consumer's request (``replica_id``
-1) sees nothing at or past the high watermark, and a new leader whose high watermark has not
yet reached the start of its leader epoch (the ISR has not caught up with it) cannot say where
the log ends: latest, and a lookup that finds no record below the high watermark, answer
OFFSET_NOT_AVAILABLE (LEADER_NOT_AVAILABLE before v5), and the client retries. Earliest is
always served. A request from a broker (``replica_id`` >= 0, or -2 for debugging) reads up to
the log end offset. A debugging request without a leader epoch is served by any replica from
its own log, a follower too (Kafka's ``fetchOnlyFromLeader`` is false for it): how the
dashboard reads each replica's log end offset."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context
    from broker.replica.replica import Replica

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3
CONSUMER = -1  # the replica_id of a client's request
DEBUGGING = -2  # the replica_id of a debugging request
OFFSET_NOT_AVAILABLE_VERSION = 5  # older versions get LEADER_NOT_AVAILABLE instead


class OffsetNotAvailable(Exception):
    """The new leader's high watermark is still behind the start of its leader epoch."""


def _lookup(partition: Replica, timestamp: int, from_client: bool) -> tuple[int, int, int]:
    """(offset, timestamp, leader epoch) for one query; offset -1 when no record matches. A
    lookup by time answers the epoch of the batch it found, as Kafka does (-1: none). Raises
    OffsetNotAvailable."""
    lagging = from_client and partition.leader_epoch_start_offset > partition.high_watermark
    last_fetchable = partition.high_watermark if from_client else partition.log_end_offset
    if timestamp == LATEST:
        if lagging:
            raise OffsetNotAvailable
        return last_fetchable, -1, partition.leader_epoch
    if timestamp == EARLIEST:
        return partition.log_start_offset, -1, partition.leader_epoch
    if timestamp == MAX_TIMESTAMP:
        found = partition.max_timestamp()
    else:
        found = partition.offset_for_timestamp(timestamp)
    if found is not None and found.offset < last_fetchable:
        return found.offset, found.timestamp, found.leader_epoch
    if lagging:
        raise OffsetNotAvailable
    return -1, -1, -1


async def handle(context: Context, request: Request) -> dict:
    from_client = request.body.replica_id == CONSUMER
    debugging = request.body.replica_id == DEBUGGING
    topics = [
        {
            "name": topic.name,
            "partitions": [
                _answer(context, topic.name, wanted, from_client, debugging, request.version)
                for wanted in topic.partitions
            ],
        }
        for topic in request.body.topics
    ]
    return {"throttle_time": 0, "topics": topics}


def _answer(
    context: Context, name: str, wanted: Any, from_client: bool, debugging: bool, version: int
) -> dict:
    """One partition's answer."""
    index = wanted.partition_index
    partition = context.replicas.replica(name, index)
    if partition is None:
        return _failed(index, ErrorCode.unknown_topic_or_partition)
    epoch = getattr(wanted, "current_leader_epoch", -1)
    error = None if debugging and epoch < 0 else partition.check_leader(epoch)
    if error is not None:
        return _failed(index, error)
    try:
        offset, timestamp, leader_epoch = _lookup(partition, wanted.timestamp, from_client)
    except OffsetNotAvailable:
        if version >= OFFSET_NOT_AVAILABLE_VERSION:
            return _failed(index, ErrorCode.offset_not_available)
        return _failed(index, ErrorCode.leader_not_available)
    return {
        "partition_index": index,
        "error_code": ErrorCode.none,
        "timestamp": timestamp,
        "offset": offset,
        "leader_epoch": leader_epoch,
    }


def _failed(index: int, error: ErrorCode) -> dict:
    return {"partition_index": index, "timestamp": -1, "offset": -1, "error_code": error}


SPECS = [ApiSpec(2, "ListOffsets", 1, 7, handle)]
