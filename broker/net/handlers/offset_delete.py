"""OffsetDelete (47): remove a group's committed offsets of some partitions, as
``kafka-consumer-groups.sh --delete-offsets`` asks.

As Kafka's ``KafkaApis.handleOffsetDeleteRequest``: a topic the metadata does not know answers
UNKNOWN_TOPIC_OR_PARTITION for its partitions, and the coordinator decides for the rest
(``GroupCoordinator.delete_offsets``: GROUP_SUBSCRIBED_TO_TOPIC, GROUP_ID_NOT_FOUND,
NON_EMPTY_GROUP, NOT_COORDINATOR, ...). A group error answers no topics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kio.schema.errors import ErrorCode

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request

if TYPE_CHECKING:
    from broker.net.context import Context


async def handle(context: Context, request: Request) -> dict:
    body = request.body
    topics = context.metadata.image.topics
    errors: dict[tuple[str, int], ErrorCode] = {}
    known: list[tuple[str, int]] = []
    for topic in body.topics:
        for part in topic.partitions:
            key = (topic.name, part.partition_index)
            if topic.name in topics:
                known.append(key)
            else:
                errors[key] = ErrorCode.unknown_topic_or_partition
    result = await context.groups.delete_offsets(body.group_id, known)
    if result.error_code is not ErrorCode.none:
        return {"error_code": result.error_code, "throttle_time": 0, "topics": []}
    errors.update(result.partitions)
    answered: dict[str, list[dict]] = {}
    for (name, index), error in errors.items():
        answered.setdefault(name, []).append({"partition_index": index, "error_code": error})
    return {
        "error_code": ErrorCode.none,
        "throttle_time": 0,
        "topics": [{"name": name, "partitions": parts} for name, parts in answered.items()],
    }


SPECS = [ApiSpec(47, "OffsetDelete", 0, 0, handle)]
