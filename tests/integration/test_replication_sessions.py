"""Replica fetches in fetch sessions (KIP-227), between replica managers in one process over
real sockets (the harness of ``test_replication``): once caught up, a follower's long polls
name no partition and the leader answers none; a leader that lost its sessions (as after a
restart) answers FETCH_SESSION_ID_NOT_FOUND and the follower starts over with a full fetch,
losing nothing."""

from __future__ import annotations

import asyncio

from broker.replica.fetcher import FetcherConfig
from tests.integration.test_replication import Node, cluster, eventually

QUICK = FetcherConfig(max_wait_ms=50, backoff_ms=50)


def session_of(follower: Node, leader: Node):
    """The follower's fetcher's session with ``leader``."""
    assert follower.replicas.fetchers is not None
    return follower.replicas.fetchers._fetchers[leader.node_id].session


def test_a_caught_up_follower_fetches_incrementally_and_is_answered_with_nothing(
    tmp_path,
) -> None:
    async def run() -> None:
        nodes, _ = await cluster(tmp_path, 2, QUICK)
        leader, follower = nodes
        try:
            leader.write(10)
            await eventually(lambda: follower.replica.high_watermark == 10)
            session = session_of(follower, leader)
            epoch = session.epoch
            await eventually(lambda: session.epoch >= epoch + 5)  # idle polls go on
            (held,) = leader.context.fetch_sessions.sessions.values()
            assert held.id == session.session_id and held.privileged
            assert list(held.partitions) == [("t", 0)]
            leader.write(5)
            await eventually(lambda: follower.replica.high_watermark == 15)
            assert follower.everything() == leader.everything()
            assert leader.context.fetch_sessions.created == 1  # one session all along
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(run())


def test_a_follower_whose_session_is_gone_starts_over_and_loses_nothing(tmp_path) -> None:
    async def run() -> None:
        nodes, _ = await cluster(tmp_path, 2, QUICK)
        leader, follower = nodes
        try:
            leader.write(10)
            await eventually(lambda: follower.replica.high_watermark == 10)
            session = session_of(follower, leader)
            first = session.session_id
            leader.context.fetch_sessions.sessions.clear()  # what a restart leaves
            leader.write(7)
            await eventually(lambda: follower.replica.high_watermark == 17)
            assert follower.everything() == leader.everything()
            assert session.session_id not in (0, first)
            assert leader.context.fetch_sessions.created == 2
        finally:
            for node in nodes:
                await node.stop()

    asyncio.run(run())
