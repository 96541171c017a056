"""Fetch (1): whole batches below the high watermark, with long polling; and the leader's
side of replication.

Every requested partition appears in the answer (kafka-python rejects a full response that
omits one). The first partition with data may exceed the byte limits by one batch (KIP-74);
after it, the response stops at ``max_bytes``. With less than ``min_bytes`` available the
request waits up to ``max_wait`` for the high watermark of any of its partitions to move,
unless a partition's answer is an error (NOT_LEADER_OR_FOLLOWER after a leader change,
OFFSET_OUT_OF_RANGE, ...): that is sent at once, as Kafka does. No fetch sessions:
``session_id`` is always 0, so clients stay in full-fetch mode (G7).

A fetch with ``replica_id`` >= 0 comes from a follower (v4-v12 carry the id in the body;
v13+, with topic ids, are not served). It reads up to the log end offset, not the high
watermark; its ``fetch_offset`` is that follower's log end offset, which the leader's replica
records (and the high watermark may move on). When its ``last_fetched_epoch`` (v12) shows
that its log left this one, the answer carries no records but ``diverging_epoch``, and the
follower's position is not recorded (KIP-320, as Kafka's leader does). It waits for appends,
and is answered at once when the high watermark is not the one that follower was last sent
(Kafka's delayed fetch does the same), so followers learn it without a wait.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from kio.schema.errors import ErrorCode

from broker.net.registry import ApiSpec
from broker.protocol.codec import Request
from broker.protocol.fetch_response import FetchPartition, encode_fetch_response
from broker.storage.errors import OffsetOutOfRange

if TYPE_CHECKING:
    from broker.net.context import Context
    from broker.replica.replica import Replica


def _collect(
    context: Context, topics: Any, max_bytes: int, replica_id: int
) -> tuple[list, int, bool]:
    """The answer, its record bytes, and whether it must go at once: it holds an error or a
    diverging epoch, or tells a follower a high watermark it was not yet sent."""
    replicas = context.replicas
    from_follower = replica_id >= 0
    urgent = False
    remaining = max_bytes
    total = 0
    answer = []
    for topic in topics:
        name = topic.topic
        parts = []
        for wanted in topic.partitions:
            index = wanted.partition
            partition = replicas.replica(name, index)
            if partition is None:
                parts.append(FetchPartition(index, ErrorCode.unknown_topic_or_partition))
                urgent = True
                continue
            error = partition.check_leader(getattr(wanted, "current_leader_epoch", -1))
            log_start = partition.log_start_offset
            if error is not None:
                hw = partition.high_watermark
                parts.append(FetchPartition(index, error, hw, hw, log_start))
                urgent = True
                continue
            offset = wanted.fetch_offset
            if from_follower:
                last_epoch = getattr(wanted, "last_fetched_epoch", -1)
                diverging = partition.diverging_epoch(offset, last_epoch)
                if diverging is not None:
                    hw = partition.high_watermark
                    parts.append(FetchPartition(index, 0, hw, hw, log_start, b"", -1, diverging))
                    urgent = True
                    continue
                if log_start <= offset <= partition.log_end_offset:
                    partition.update_follower(replica_id, offset)
            hw = partition.high_watermark
            if from_follower:
                told = partition.follower_high_watermarks
                urgent = urgent or told.get(replica_id) != hw
                told[replica_id] = hw
            region = None
            if remaining > 0:
                limit = min(wanted.partition_max_bytes, remaining)
                try:
                    region = partition.read(offset, limit, to_log_end=from_follower)
                except OffsetOutOfRange:
                    parts.append(
                        FetchPartition(index, ErrorCode.offset_out_of_range, hw, hw, log_start)
                    )
                    urgent = True
                    continue
                if region is not None and total and region.length > remaining:
                    region = None  # only the first partition with data may overshoot
            if region is not None:
                total += region.length
                remaining -= region.length
            parts.append(FetchPartition(index, ErrorCode.none, hw, hw, log_start, region or b""))
        answer.append((name, parts))
    return answer, total, urgent


def _partitions(context: Context, topics: Any) -> list[Replica]:
    found = []
    for topic in topics:
        for wanted in topic.partitions:
            partition = context.replicas.replica(topic.topic, wanted.partition)
            if partition is not None:
                found.append(partition)
    return found


async def handle(context: Context, request: Request) -> list:
    body = request.body
    topics = body.topics
    replica_id = body.replica_id
    answer, total, urgent = _collect(context, topics, body.max_bytes, replica_id)
    deadline = time.monotonic() + body.max_wait.total_seconds()
    while total < body.min_bytes and not urgent and (wait := deadline - time.monotonic()) > 0:
        partitions = _partitions(context, topics)
        if not partitions:
            break
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for partition in partitions:
            partition.add_waiter(waiter, on_append=replica_id >= 0)
        try:
            await asyncio.wait((waiter,), timeout=wait)
        finally:
            for partition in partitions:
                partition.remove_waiter(waiter)
        answer, total, urgent = _collect(context, topics, body.max_bytes, replica_id)
    return encode_fetch_response(request.version, request.correlation_id, answer)


SPECS = [ApiSpec(1, "Fetch", 4, 12, handle)]
