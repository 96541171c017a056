"""Delayed produce on a manual clock: acks=all answers once the high watermark passes the batch,
REQUEST_TIMED_OUT at the timeout for what is not replicated, NOT_ENOUGH_REPLICAS_AFTER_APPEND
when the ISR shrank below min.insync.replicas meanwhile, NOT_LEADER_OR_FOLLOWER when
leadership is lost; on one node it answers at once, without a timer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from kio.schema.errors import ErrorCode

from broker.clock import ManualClock
from broker.protocol.batch import validate_produced
from broker.replica.purgatory import AwaitedAck, await_acks
from broker.replica.replica import ALL_ACKS, Replica
from broker.storage import LogConfig, PartitionLog
from tests.support.batches import make_batch

TOPIC_ID = uuid.UUID(int=7)
NOW_MS = 1_700_000_000_000
TIMEOUT_MS = 30_000


@pytest.fixture
def logs() -> Iterator[list[PartitionLog]]:
    made: list[PartitionLog] = []
    yield made
    for partition_log in made:
        partition_log.close()


def leader(
    root: Path, logs: list[PartitionLog], isr: set[int], clock: ManualClock, **config: int
) -> Replica:
    """The leader (node 1) of a new partition with ``isr``."""
    partition_log = PartitionLog.create(root, "t", len(logs), TOPIC_ID, LogConfig(**config))
    logs.append(partition_log)
    return Replica("t", len(logs) - 1, partition_log, 0, node_id=1, isr=frozenset(isr), clock=clock)


def appended(replica: Replica, records: int = 1) -> AwaitedAck:
    """An acks=all append of ``records`` records, as the produce handler waits for it."""
    batch = make_batch([b"v"] * records)
    replica.append(batch, validate_produced(batch), NOW_MS, ALL_ACKS)
    return AwaitedAck(replica, replica.log_end_offset)


def run(test: Coroutine[Any, Any, None]) -> None:
    asyncio.run(test)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def waiting_on(acks: list[AwaitedAck], clock: ManualClock) -> asyncio.Task[None]:
    return asyncio.get_running_loop().create_task(await_acks(acks, clock, TIMEOUT_MS))


def test_alone_in_its_isr_the_answer_is_immediate_and_sets_no_timer(tmp_path, logs) -> None:
    clock = ManualClock(NOW_MS)
    replica = leader(tmp_path, logs, {1}, clock)
    ack = appended(replica)

    async def scenario() -> None:
        waiting = await_acks([ack], clock, TIMEOUT_MS)
        with pytest.raises(StopIteration):  # finished without suspending even once
            waiting.send(None)

    run(scenario())
    assert ack.error == ErrorCode.none
    assert clock.live_timers == 0


def test_the_answer_waits_until_every_isr_member_holds_the_batch(tmp_path, logs) -> None:
    clock = ManualClock(NOW_MS)
    replica = leader(tmp_path, logs, {1, 2, 3}, clock)
    ack = appended(replica, records=3)

    async def scenario() -> None:
        task = waiting_on([ack], clock)
        await settle()
        replica.update_follower(2, 3)
        await settle()
        assert not task.done()  # 3 has not fetched yet
        replica.update_follower(3, 2)
        await settle()
        assert not task.done()  # 3 holds two of the three records
        replica.update_follower(3, 3)
        await settle()
        assert task.done()

    run(scenario())
    assert ack.error == ErrorCode.none
    assert clock.live_timers == 0  # the timeout was cancelled


def test_what_is_not_replicated_by_the_timeout_answers_request_timed_out(tmp_path, logs) -> None:
    clock = ManualClock(NOW_MS)
    fast = leader(tmp_path, logs, {1, 2}, clock)
    slow = leader(tmp_path, logs, {1, 2}, clock)
    acks = [appended(fast), appended(slow)]

    async def scenario() -> None:
        task = waiting_on(acks, clock)
        await settle()
        fast.update_follower(2, 1)
        await settle()
        clock.advance(TIMEOUT_MS - 1)
        await settle()
        assert not task.done()  # one partition settled, the other still waits
        clock.advance(1)
        await settle()
        assert task.done()

    run(scenario())
    assert [ack.error for ack in acks] == [ErrorCode.none, ErrorCode.request_timed_out]
    assert slow.log_end_offset == 1  # the batch stays: a retry is answered from it


def test_an_isr_that_shrank_below_min_insync_after_the_append_is_reported(tmp_path, logs) -> None:
    clock = ManualClock(NOW_MS)
    replica = leader(tmp_path, logs, {1, 2}, clock, min_insync_replicas=2)
    ack = appended(replica)

    async def scenario() -> None:
        task = waiting_on([ack], clock)
        await settle()
        replica.become_leader(0, frozenset({1}), partition_epoch=1, replicas=(1, 2))
        await settle()
        assert task.done()

    run(scenario())
    assert ack.error == ErrorCode.not_enough_replicas_after_append


@pytest.mark.parametrize("how", ["become_follower", "stop"])
def test_losing_leadership_while_waiting_answers_not_leader(tmp_path, logs, how) -> None:
    clock = ManualClock(NOW_MS)
    replica = leader(tmp_path, logs, {1, 2}, clock)
    ack = appended(replica)

    async def scenario() -> None:
        task = waiting_on([ack], clock)
        await settle()
        if how == "become_follower":
            replica.become_follower(2, 1)
        else:
            replica.stop()
        await settle()
        assert task.done()

    run(scenario())
    assert ack.error == ErrorCode.not_leader_or_follower
    assert clock.live_timers == 0
