"""How the coordinator's writes to ``__consumer_offsets`` become answers.

A write is appended as an acks=all produce (``OffsetStore.write``) and its answer goes out
only once the batch is committed: the high watermark passed it, every member of the ISR holds
it (``broker.replica.purgatory``), or ``offsets.commit.timeout.ms`` went by. On one node the
batch is committed at the append, so the answer is given at once, with no task or timer.

A failed write is answered as Kafka 4's group coordinator answers it (``CoordinatorRuntime``
fails a write not committed within ``offsets.commit.timeout.ms`` with REQUEST_TIMED_OUT, and
``CoordinatorOperationExceptionHelper.handleOperationException`` maps that and the other
append errors for every group request alike): ``coordinator_error``.
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
        # Kafka's coordinator appends with acks=1 and waits for the high watermark, so it never
        # meets this one; ours appends with acks=all, and this is NOT_ENOUGH_REPLICAS late.
        ErrorCode.not_enough_replicas_after_append,
        ErrorCode.request_timed_out,
    )
)
_NOT_COORDINATOR = frozenset((ErrorCode.not_leader_or_follower, ErrorCode.kafka_storage_error))
_TOO_LARGE = frozenset(
    (ErrorCode.message_too_large, ErrorCode.record_list_too_large, ErrorCode.invalid_fetch_size)
)


def coordinator_error(code: ErrorCode) -> ErrorCode:
    """A group request's answer when its write to ``__consumer_offsets`` failed with
    ``code``: COORDINATOR_NOT_AVAILABLE when the partition cannot take or commit it in time
    (the client looks the coordinator up again and retries), NOT_COORDINATOR when this broker
    no longer leads it, UNKNOWN_SERVER_ERROR when the batch is too large."""
    if code in _UNAVAILABLE:
        return ErrorCode.coordinator_not_available
    if code in _NOT_COORDINATOR:
        return ErrorCode.not_coordinator
    if code in _TOO_LARGE:
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
                    error = ErrorCode.not_leader_or_follower if ack.error is None else ack.error
                    answer.set_result(then(error))

        task = loop.create_task(wait())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return answer

    def close(self) -> None:
        for task in self._tasks:
            task.cancel()
