"""OffsetCommit (8): a group's consumed positions, committed (every ISR member holds them)
before the answer goes out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.groups import CommitEntry
from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context


async def handle(context: Context, request: Request) -> dict:
    body = request.body
    image = context.metadata.image
    entries: list[CommitEntry] = []
    errors: dict[tuple[str, int], ErrorCode] = {}
    for topic in body.topics:
        for part in topic.partitions:
            if image.partition(topic.name, part.partition_index) is None:
                errors[(topic.name, part.partition_index)] = ErrorCode.unknown_topic_or_partition
                continue
            entries.append(
                CommitEntry(
                    topic.name,
                    part.partition_index,
                    part.committed_offset,
                    getattr(part, "committed_leader_epoch", -1),
                    part.committed_metadata or "",
                )
            )
    if entries:
        results = await context.groups.commit(
            body.group_id,
            body.generation_id_or_member_epoch,
            body.member_id,
            getattr(body, "group_instance_id", None),
            entries,
        )
        errors.update(
            ((e.topic, e.partition), code) for e, code in zip(entries, results, strict=True)
        )
    return {
        "throttle_time": 0,
        "topics": [
            {
                "name": topic.name,
                "partitions": [
                    {
                        "partition_index": p.partition_index,
                        "error_code": errors[(topic.name, p.partition_index)],
                    }
                    for p in topic.partitions
                ],
            }
            for topic in body.topics
        ],
    }


SPECS = [ApiSpec(8, "OffsetCommit", 2, 9, handle)]
