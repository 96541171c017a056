"""RaftRuntime on a manual clock: what it reports reads the injected clock, not the wall."""

from __future__ import annotations

import asyncio

from broker.clock import ManualClock
from broker.net.client import NodeClients
from broker.raft import QuorumConfig
from broker.raft.runtime import RaftRuntime
from broker.raft.store import metadata_log_dir


def test_the_leaders_own_describe_quorum_row_is_as_of_now(tmp_path):
    async def scenario() -> None:
        clock = ManualClock(1_000)
        clients = NodeClients()
        runtime = RaftRuntime(
            0, {0: ("127.0.0.1", 1)}, metadata_log_dir(tmp_path), clock, QuorumConfig(), clients
        )
        await runtime.start()
        try:
            assert await runtime.append([b"x"]) == 1  # a single voter leads at once
            clock.advance(5_000)  # nothing for the core to do: it is not ticked meanwhile
            (own,) = runtime.describe_quorum().voters
            assert (own.replica_id, own.log_end_offset) == (0, 2)
            assert own.last_fetch_timestamp == own.last_caught_up_timestamp == 6_000
        finally:
            await runtime.stop()
            await clients.close()

    asyncio.run(scenario())
