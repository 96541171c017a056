"""OffsetForLeaderEpoch (23): the end offset of a leader epoch, so clients can validate their
position after a leader change (KIP-101, KIP-320)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context


def _end_offset(context: Context, topic: str, wanted) -> dict:
    answer = {"partition": wanted.partition, "leader_epoch": -1, "end_offset": -1}
    partition = context.replicas.replica(topic, wanted.partition)
    if partition is None:
        return {**answer, "error_code": ErrorCode.unknown_topic_or_partition}
    error = partition.check_leader(wanted.current_leader_epoch)
    if error is not None:
        return {**answer, "error_code": error}
    epoch, end_offset = partition.end_offset_for_epoch(wanted.leader_epoch)
    if end_offset > partition.high_watermark:
        end_offset = partition.high_watermark
    return {**answer, "error_code": ErrorCode.none, "leader_epoch": epoch, "end_offset": end_offset}


async def handle(context: Context, request: Request) -> dict:
    return {
        "throttle_time": 0,
        "topics": [
            {
                "topic": t.topic,
                "partitions": [_end_offset(context, t.topic, p) for p in t.partitions],
            }
            for t in request.body.topics
        ],
    }


SPECS = [ApiSpec(23, "OffsetForLeaderEpoch", 2, 4, handle)]
