"""How the coordinator's writes to ``__consumer_offsets`` become answers.

A write is appended as an acks=all produce (``OffsetStore.write``) and its answer goes out
only once the batch is committed: the high watermark passed it, every member of the ISR holds
it (``broker.replica.purgatory``), or ``offsets.commit.timeout.ms`` went by. On one node the
batch is committed at the append, so the answer is given at once, with no task or timer.

A failed write is answered as Kafka's ``GroupMetadataManager`` answers it, by mapping the
produce error: ``offset_commit_error`` for OffsetCommit (``storeOffsets``), ``group_write_error``
for the group's own record (``storeGroup``, behind SyncGroup and a static member's rejoin).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from kio.schema.errors import ErrorCode

from broker.clock import Clock
from broker.replica.purgatory import AwaitedAck, await_acks, settled

T = TypeVar("T")

# Kafka's offsets.commit.timeout.ms: how long a write waits for the ISR.
OFFSET_COMMIT_TIMEOUT_MS = 5000

_UNAVAILABLE = frozenset(
    (
        ErrorCode.unknown_topic_or_partition,
        ErrorCode.not_enough_replicas,
        ErrorCode.not_enough_replicas_after_append,
    )
)
_NOT_COORDINATOR = frozenset((ErrorCode.not_leader_or_follower, ErrorCode.kafka_storage_error))


def offset_commit_error(code: ErrorCode) -> ErrorCode:
    """An OffsetCommit's answer when its append failed with ``code`` (REQUEST_TIMED_OUT
    stays itself, as in Kafka)."""
    if code in _UNAVAILABLE:
        return ErrorCode.coordinator_not_available
    if code in _NOT_COORDINATOR:
        return ErrorCode.not_coordinator
    if code in (
        ErrorCode.message_too_large,
        ErrorCode.record_list_too_large,
        ErrorCode.invalid_fetch_size,
    ):
        return ErrorCode.invalid_commit_offset_size
    return code


def group_write_error(code: ErrorCode) -> ErrorCode:
    """A SyncGroup's (or static rejoin's) answer when storing the group failed with
    ``code``."""
    if code in _UNAVAILABLE or code is ErrorCode.request_timed_out:
        return ErrorCode.coordinator_not_available
    if code in _NOT_COORDINATOR:
        return ErrorCode.not_coordinator
    if code in (ErrorCode.record_list_too_large, ErrorCode.invalid_fetch_size):
        return ErrorCode.unknown_server_error
    return code


class Commits:
    """Runs ``then`` with a write's outcome once it is committed: at once when it already
    is, else in a task whose result a future carries. ``close`` ends the waits left, each
    with NOT_LEADER_OR_FOLLOWER (this node no longer coordinates)."""

    def __init__(self, clock: Clock, timeout_ms: int = OFFSET_COMMIT_TIMEOUT_MS) -> None:
        self._clock = clock
        self._timeout_ms = timeout_ms
        self._tasks: set[asyncio.Task[None]] = set()

    def then(self, ack: AwaitedAck, then: Callable[[ErrorCode], T]) -> T | asyncio.Future[T]:
        """``then(error)`` once ``ack`` settled (``ErrorCode.none`` when committed)."""
        if settled((ack,)):
            assert ack.error is not None
            return then(ack.error)
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[T] = loop.create_future()

        async def wait() -> None:
            try:
                await await_acks((ack,), self._clock, self._timeout_ms)
            finally:
                if not answer.done():
                    error = ack.error
                    answer.set_result(
                        then(ErrorCode.not_leader_or_follower if error is None else error)
                    )

        task = loop.create_task(wait())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return answer

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
