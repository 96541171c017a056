"""OffsetFetch (9): committed offsets of one group (v1-7) or several (v8+); -1 where none."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context

BATCHED_FROM = 8


def _group(context: Context, group_id: str, topics) -> list[dict]:
    """The committed offsets asked for (``topics`` None: every committed partition)."""
    wanted = None
    if topics is not None:
        wanted = [(t.name, index) for t in topics for index in t.partition_indexes]
    by_topic: dict[str, list[dict]] = {}
    for committed in context.groups.fetch(group_id, wanted):
        by_topic.setdefault(committed.topic, []).append(
            {
                "partition_index": committed.partition,
                "committed_offset": committed.offset,
                "committed_leader_epoch": committed.leader_epoch,
                "metadata": committed.metadata,
                "error_code": ErrorCode.none,
            }
        )
    return [{"name": name, "partitions": parts} for name, parts in by_topic.items()]


async def handle(context: Context, request: Request) -> dict:
    body = request.body
    if request.version >= BATCHED_FROM:
        return {
            "throttle_time": 0,
            "groups": [
                {
                    "group_id": g.group_id,
                    "topics": _group(context, g.group_id, g.topics),
                    "error_code": ErrorCode.none,
                }
                for g in body.groups
            ],
        }
    return {
        "throttle_time": 0,
        "error_code": ErrorCode.none,
        "topics": _group(context, body.group_id, body.topics),
    }


SPECS = [ApiSpec(9, "OffsetFetch", 1, 9, handle)]
