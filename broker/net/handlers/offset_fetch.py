"""OffsetFetch (9): committed offsets of one group (v1-7) or several (v8+); -1 where none."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context

BATCHED_FROM = 8
TOP_LEVEL_ERROR_FROM = 2


def _group(context: Context, group_id: str, topics) -> tuple[ErrorCode, list[dict]]:
    """The group's error and the committed offsets asked for (``topics`` None: every
    committed partition); with an error, none (before v2, each partition asked carries it,
    as Kafka answers)."""
    wanted = None
    if topics is not None:
        wanted = [(t.name, index) for t in topics for index in t.partition_indexes]
    error, found = context.groups.fetch(group_id, wanted)
    by_topic: dict[str, list[dict]] = {}
    for committed in found:
        by_topic.setdefault(committed.topic, []).append(
            {
                "partition_index": committed.partition,
                "committed_offset": committed.offset,
                "committed_leader_epoch": committed.leader_epoch,
                "metadata": committed.metadata,
                "error_code": ErrorCode.none,
            }
        )
    if error is not ErrorCode.none:
        for topic, index in wanted or ():
            by_topic.setdefault(topic, []).append(
                {
                    "partition_index": index,
                    "committed_offset": -1,
                    "committed_leader_epoch": -1,
                    "metadata": "",
                    "error_code": error,
                }
            )
    return error, [{"name": name, "partitions": parts} for name, parts in by_topic.items()]


async def handle(context: Context, request: Request) -> dict:
    body = request.body
    if request.version >= BATCHED_FROM:
        groups = []
        for g in body.groups:
            error, topics = _group(context, g.group_id, g.topics)
            groups.append(
                {
                    "group_id": g.group_id,
                    "topics": [] if error else topics,
                    "error_code": error,
                }
            )
        return {"throttle_time": 0, "groups": groups}
    error, topics = _group(context, body.group_id, body.topics)
    if error and request.version >= TOP_LEVEL_ERROR_FROM:
        topics = []
    return {"throttle_time": 0, "error_code": error, "topics": topics}


SPECS = [ApiSpec(9, "OffsetFetch", 1, 9, handle)]
