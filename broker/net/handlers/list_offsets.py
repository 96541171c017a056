"""ListOffsets (2): earliest (-2), latest (-1), max timestamp (-3) or the first offset at or
after a timestamp. Latest is the high watermark (the last stable offset is the same: no
transactions)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context
    from broker.replica.replica import Replica

LATEST = -1
EARLIEST = -2
MAX_TIMESTAMP = -3


def _lookup(partition: Replica, timestamp: int) -> tuple[int, int, int]:
    """(offset, timestamp, leader epoch) for one query; offset -1 when no record matches. A
    lookup by time answers the epoch of the batch it found, as Kafka does (-1: none)."""
    if timestamp == LATEST:
        return partition.high_watermark, -1, partition.leader_epoch
    if timestamp == EARLIEST:
        return partition.log_start_offset, -1, partition.leader_epoch
    if timestamp == MAX_TIMESTAMP:
        found = partition.max_timestamp()
    else:
        found = partition.offset_for_timestamp(timestamp)
    if found is None:
        return -1, -1, -1
    return found.offset, found.timestamp, found.leader_epoch


async def handle(context: Context, request: Request) -> dict:
    topics = []
    for topic in request.body.topics:
        answers = []
        for wanted in topic.partitions:
            index = wanted.partition_index
            partition = context.replicas.replica(topic.name, index)
            if partition is None:
                answers.append(
                    {
                        "partition_index": index,
                        "timestamp": -1,
                        "offset": -1,
                        "error_code": ErrorCode.unknown_topic_or_partition,
                    }
                )
                continue
            error = partition.check_leader(getattr(wanted, "current_leader_epoch", -1))
            if error is not None:
                answers.append(
                    {"partition_index": index, "timestamp": -1, "offset": -1, "error_code": error}
                )
                continue
            offset, timestamp, leader_epoch = _lookup(partition, wanted.timestamp)
            answers.append(
                {
                    "partition_index": index,
                    "error_code": ErrorCode.none,
                    "timestamp": timestamp,
                    "offset": offset,
                    "leader_epoch": leader_epoch,
                }
            )
        topics.append({"name": topic.name, "partitions": answers})
    return {"throttle_time": 0, "topics": topics}


SPECS = [ApiSpec(2, "ListOffsets", 1, 7, handle)]
