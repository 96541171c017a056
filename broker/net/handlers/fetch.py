"""Fetch (1): whole batches below the high watermark, with long polling.

Every requested partition appears in the answer (kafka-python rejects a full response that
omits one). The first partition with data may exceed the byte limits by one batch (KIP-74);
after it, the response stops at ``max_bytes``. With less than ``min_bytes`` available the
request waits up to ``max_wait`` for appends to any of its partitions. No fetch sessions:
``session_id`` is always 0, so clients stay in full-fetch mode (G7).
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


def _collect(context: Context, topics: Any, max_bytes: int) -> tuple[list, int]:
    replicas = context.replicas
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
                continue
            error = partition.check_leader(getattr(wanted, "current_leader_epoch", -1))
            hw = partition.high_watermark
            log_start = partition.log_start_offset
            if error is not None:
                parts.append(FetchPartition(index, error, hw, hw, log_start))
                continue
            region = None
            if remaining > 0:
                limit = min(wanted.partition_max_bytes, remaining)
                try:
                    region = partition.read(wanted.fetch_offset, limit)
                except OffsetOutOfRange:
                    parts.append(
                        FetchPartition(index, ErrorCode.offset_out_of_range, hw, hw, log_start)
                    )
                    continue
                if region is not None and total and region.length > remaining:
                    region = None  # only the first partition with data may overshoot
            if region is not None:
                total += region.length
                remaining -= region.length
            parts.append(FetchPartition(index, ErrorCode.none, hw, hw, log_start, region or b""))
        answer.append((name, parts))
    return answer, total


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
    answer, total = _collect(context, topics, body.max_bytes)
    deadline = time.monotonic() + body.max_wait.total_seconds()
    while total < body.min_bytes and (wait := deadline - time.monotonic()) > 0:
        partitions = _partitions(context, topics)
        if not partitions:
            break
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        for partition in partitions:
            partition.add_waiter(waiter)
        try:
            await asyncio.wait((waiter,), timeout=wait)
        finally:
            for partition in partitions:
                partition.remove_waiter(waiter)
        answer, total = _collect(context, topics, body.max_bytes)
    return encode_fetch_response(request.version, request.correlation_id, answer)


SPECS = [ApiSpec(1, "Fetch", 4, 12, handle)]
