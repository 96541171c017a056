"""A group write that has to wait for its followers: ``Commits.then`` reports it committed
(``ErrorCode.none``) once the high watermark passes it, as on one node where it is committed
at once."""

from __future__ import annotations

import asyncio
import uuid

from kio.schema.errors import ErrorCode

from broker.clock import ManualClock
from broker.groups.writes import Commits
from broker.protocol.batch import validate_produced
from broker.replica.purgatory import AwaitedAck
from broker.replica.replica import ALL_ACKS, Replica
from broker.storage import LogConfig, PartitionLog
from tests.support.batches import make_batch

NOW_MS = 1_700_000_000_000


def test_a_write_committed_by_its_followers_is_reported_committed(tmp_path) -> None:
    partition_log = PartitionLog.create(
        tmp_path, "__consumer_offsets", 0, uuid.UUID(int=7), LogConfig()
    )
    clock = ManualClock()
    replica = Replica(
        "__consumer_offsets", 0, partition_log, 0, node_id=1, isr=frozenset({1, 2}), clock=clock
    )

    async def scenario() -> ErrorCode:
        batch = make_batch([b"group"])
        replica.append(batch, validate_produced(batch), NOW_MS, ALL_ACKS)
        answer = Commits(clock).then(AwaitedAck(replica, replica.log_end_offset), lambda e: e)
        assert isinstance(answer, asyncio.Future)
        await asyncio.sleep(0)
        assert not answer.done(), "follower 2 has not fetched the write yet"
        replica.update_follower(2, replica.log_end_offset)
        return await asyncio.wait_for(answer, 5)

    try:
        assert asyncio.run(scenario()) is ErrorCode.none
    finally:
        partition_log.close()
