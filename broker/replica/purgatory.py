"""Delayed produce: an acks=all request waits here until its batches are replicated.

Kafka's ``DelayedProduce``: once the leader has appended, each partition of the request waits
until the high watermark reaches its last appended offset + 1, that is until every member of
the ISR holds the batch. The request is answered when every partition has settled, or at the
request's ``timeout_ms`` on the injected clock, when the partitions still waiting answer
REQUEST_TIMED_OUT (their batches stay in the log: the producer retries and, if idempotent,
is answered at the original offset). A partition settles with:

- NONE once the high watermark passed its batch and the ISR is at least
  ``min.insync.replicas``;
- NOT_ENOUGH_REPLICAS_AFTER_APPEND when the high watermark passed it but the ISR shrank below
  ``min.insync.replicas`` in the meantime;
- NOT_LEADER_OR_FOLLOWER when this node stopped leading the partition.

A DeleteRecords waits here the same way (``AwaitedLowWatermark``), for the low watermark
instead of the high watermark, and answers REQUEST_TIMED_OUT at its timeout too.

On one node (an ISR of itself) the high watermark is the log end right after the append, so
the first check settles everything and nothing waits: no timer, no future.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from kio.schema.errors import ErrorCode

from broker.clock import Clock
from broker.replica.replica import Replica


@dataclass(slots=True)
class AwaitedAck:
    """One partition of a delayed produce: the replica appended to and the offset its high
    watermark must reach; ``error`` is the partition's answer once settled."""

    replica: Replica
    required_offset: int
    error: ErrorCode | None = None

    def status(self) -> ErrorCode | None:
        """The partition's answer now, or None while it must wait."""
        return self.replica.acks_status(self.required_offset)


class AwaitedLowWatermark(AwaitedAck):
    """One partition of a delayed DeleteRecords (Kafka's ``DelayedDeleteRecords``): the
    offset the leader's low watermark must reach, that is every ISR member's log start."""

    __slots__ = ()

    def status(self) -> ErrorCode | None:
        return self.replica.delete_records_status(self.required_offset)


async def await_acks(waiting: Sequence[AwaitedAck], clock: Clock, timeout_ms: int) -> None:
    """Settle every partition of ``waiting``, or time the rest out after ``timeout_ms``."""
    if settled(waiting):
        return
    loop = asyncio.get_running_loop()
    expired = False
    waiter: asyncio.Future[None] = loop.create_future()

    def expire() -> None:
        nonlocal expired
        expired = True
        if not waiter.done():
            waiter.set_result(None)

    timer = clock.call_later(max(timeout_ms, 0) / 1000, expire)
    try:
        while True:
            replicas = {ack.replica for ack in waiting if ack.error is None}
            for replica in replicas:
                replica.add_waiter(waiter)
            try:
                await waiter
            finally:
                for replica in replicas:
                    replica.remove_waiter(waiter)
            if settled(waiting):
                return
            if expired:
                for ack in waiting:
                    if ack.error is None:
                        ack.error = ErrorCode.request_timed_out
                return
            waiter = loop.create_future()
    finally:
        timer.cancel()


def settled(waiting: Sequence[AwaitedAck]) -> bool:
    """Give an answer to each partition that has one now; whether all have."""
    settled = True
    for ack in waiting:
        if ack.error is None:
            ack.error = ack.status()
            settled = settled and ack.error is not None
    return settled
