"""RaftRuntime on a manual clock: what it reports reads the injected clock, not the wall."""

from __future__ import annotations

import asyncio

import pytest

from broker.clock import ManualClock
from broker.net.client import NodeClients
from broker.raft import QuorumConfig
from broker.raft.core import NotLeaderError, Role
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


def test_the_election_timer_fires_after_turns_that_left_it_where_it_was(tmp_path):
    # The loop keeps its timer while the core's next deadline stays put (here: appends
    # refused by a node that does not lead); it must still wake at that deadline.
    async def scenario() -> None:
        clock = ManualClock(1_000)
        clients = NodeClients()
        voters = {0: ("127.0.0.1", 1), 1: ("127.0.0.1", 1)}  # node 1 never answers
        config = QuorumConfig()
        runtime = RaftRuntime(0, voters, metadata_log_dir(tmp_path), clock, config, clients)
        await runtime.start()
        try:
            for _ in range(3):
                with pytest.raises(NotLeaderError):
                    await runtime.append([b"x"])
            assert runtime.role is Role.UNATTACHED
            clock.advance(2 * config.election_timeout_ms)  # past the most jitter allows
            for _ in range(100):
                if runtime.role is not Role.UNATTACHED:
                    break
                await asyncio.sleep(0.01)
            assert runtime.role in (Role.PROSPECTIVE, Role.CANDIDATE)
        finally:
            await runtime.stop()
            await clients.close()

    asyncio.run(scenario())
