"""A group write that waits for its followers is answered with its outcome once committed:
NONE (ErrorCode 0, falsy as an int) is success, not a lost leadership."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from kio.schema.errors import ErrorCode

from broker.clock import ManualClock
from broker.groups.writes import Commits
from broker.storage import PartitionLog
from tests.unit.replica.test_purgatory import NOW_MS, appended, leader, settle


@pytest.fixture
def logs() -> Iterator[list[PartitionLog]]:
    made: list[PartitionLog] = []
    yield made
    for partition_log in made:
        partition_log.close()


def test_a_write_committed_by_a_follower_later_is_answered_none(tmp_path, logs) -> None:
    clock = ManualClock(NOW_MS)
    replica = leader(tmp_path, logs, {1, 2}, clock)
    ack = appended(replica)
    outcomes: list[ErrorCode] = []

    async def scenario() -> None:
        answer = Commits(clock).then(ack, outcomes.append)
        assert isinstance(answer, asyncio.Future)  # waiting for node 2
        await settle()
        replica.update_follower(2, replica.log_end_offset)
        await answer

    asyncio.run(scenario())
    assert outcomes == [ErrorCode.none]
