"""DeleteRecords (21): move partitions' log start offsets, as ``kafka-delete-records.sh`` and
confluent-kafka's ``delete_records`` ask.

As Kafka's ``ReplicaManager.deleteRecords``: on each partition's leader the log start offset
moves to the requested offset (-1: the high watermark) and the segments wholly below it are
deleted (``Replica.delete_records``). A partition of an internal topic answers
INVALID_TOPIC_EXCEPTION, one this broker does not lead NOT_LEADER_OR_FOLLOWER (or
UNKNOWN_TOPIC_OR_PARTITION when the metadata has no such partition), an offset past the high
watermark OFFSET_OUT_OF_RANGE, a topic without ``delete`` in its cleanup.policy
POLICY_VIOLATION. The log-start checkpoint is written at once, so a restart keeps the new start.

The answer waits, as Kafka's ``DelayedDeleteRecords``, until the low watermark (the smallest
log start over the ISR: followers move theirs from the leader's fetch answers) reaches every
moved partition's new start, or the request's ``timeout_ms`` passes (REQUEST_TIMED_OUT). Each
partition answers its ``low_watermark``; on one node that is the new start, at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from broker.metadata.topics import is_internal
from broker.net.registry import ApiSpec, Deferred
from broker.protocol.codec import Request, encode_response, millis
from broker.replica.purgatory import AwaitedLowWatermark, await_acks, settled
from broker.replica.replica import ReplicaError
from broker.storage.errors import StorageError

if TYPE_CHECKING:
    from broker.net.context import Context

API_KEY = 21
# One answer per requested partition: (topic, partition index, the awaited low watermark or
# the error found at once).
Asked = tuple[str, int, AwaitedLowWatermark | ErrorCode]


async def handle(context: Context, request: Request) -> dict | Deferred:
    asked: list[Asked] = []
    for topic in request.body.topics:
        for wanted in topic.partitions:
            index = wanted.partition_index
            asked.append((topic.name, index, _delete(context, topic.name, index, wanted.offset)))
    waiting = [outcome for *_, outcome in asked if isinstance(outcome, AwaitedLowWatermark)]
    if waiting:
        context.replicas.checkpoint()  # the new log starts survive a crash
    if waiting and not settled(waiting):  # on one node, settled at once
        timeout_ms = millis(request.body.timeout)
        return Deferred(_once_deleted(context, request, asked, waiting, timeout_ms))
    return _answer(asked)


def _delete(
    context: Context, name: str, index: int, offset: int
) -> AwaitedLowWatermark | ErrorCode:
    """Move one partition's log start; what its answer waits for, or its error."""
    if is_internal(name):
        return ErrorCode.invalid_topic_exception
    replica = context.replicas.replica(name, index)
    if replica is None:
        topic = context.metadata.image.topics.get(name)
        known = topic is not None and index in topic.partitions
        return ErrorCode.not_leader_or_follower if known else ErrorCode.unknown_topic_or_partition
    try:
        required = replica.delete_records(offset)
    except ReplicaError as err:
        return err.code
    except StorageError:
        return ErrorCode.kafka_storage_error
    return AwaitedLowWatermark(replica, required)


async def _once_deleted(
    context: Context,
    request: Request,
    asked: list[Asked],
    waiting: list[AwaitedLowWatermark],
    timeout_ms: int,
) -> bytes:
    await await_acks(waiting, context.clock, timeout_ms)
    return encode_response(API_KEY, request.version, request.correlation_id, _answer(asked))


def _answer(asked: list[Asked]) -> dict[str, Any]:
    topics: dict[str, list[dict[str, Any]]] = {}
    for name, index, outcome in asked:
        if isinstance(outcome, ErrorCode):
            error, low_watermark = outcome, -1
        else:
            error = outcome.error if outcome.error is not None else ErrorCode.request_timed_out
            low_watermark = (
                -1 if error == ErrorCode.not_leader_or_follower else (outcome.replica.low_watermark)
            )
        topics.setdefault(name, []).append(
            {"partition_index": index, "low_watermark": low_watermark, "error_code": error}
        )
    return {
        "throttle_time": 0,
        "topics": [{"name": name, "partitions": parts} for name, parts in topics.items()],
    }


SPECS = [ApiSpec(API_KEY, "DeleteRecords", 0, 2, handle)]
