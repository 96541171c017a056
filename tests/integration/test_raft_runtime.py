"""RaftRuntimes in one process, each behind a real CONTROLLER listener on 127.0.0.1 (the
project's ``Server`` with ``CONTROLLER_REGISTRY``), talking through ``NodeClients``: they elect
a leader, replicate and commit appends, hand over when the leader stops, keep what was
committed, reload it from disk after a restart, and answer DescribeQuorum."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from kio.schema.describe_quorum.v2.request import (
    DescribeQuorumRequest,
    PartitionData,
    TopicData,
)
from kio.schema.errors import ErrorCode

from broker.clock import SystemClock
from broker.config import BrokerConfig
from broker.net.client import KafkaClient, NodeClients
from broker.net.controller_handlers import CONTROLLER_REGISTRY, ControllerContext
from broker.net.server import Server, bind
from broker.raft import Entry, NotLeaderError, QuorumConfig, leader_change
from broker.raft.messages import FetchRequest
from broker.raft.runtime import RaftRuntime
from broker.raft.store import RaftStore, metadata_log_dir
from broker.raft.wire import request_to_kio

# Kafka's own fetch timeout (2 s) rather than the bundled 0.8 s: the tests share two busy
# cores with other processes, and a starved event loop must not look like a dead leader.
CONFIG = QuorumConfig(
    fetch_timeout_ms=2000,
    election_timeout_ms=500,
    election_backoff_max_ms=500,
    request_timeout_ms=1000,
)
HOST = "127.0.0.1"
CLUSTER_ID = "MkU3OEVBNTcwNTJENDM2Qg"


class Node:
    """One node: its runtime, its CONTROLLER listener, and what it was told was committed."""

    def __init__(self, node_id: int, data_dir: Path, config: QuorumConfig = CONFIG) -> None:
        self.node_id = node_id
        self.data_dir = data_dir
        self.config = config
        self.port = 0
        self.runtime: RaftRuntime | None = None
        self.server: Server | None = None
        self.clients: NodeClients | None = None
        self.committed: list[tuple[int, Entry]] = []

    async def bind(self) -> None:
        self._socket = await bind(HOST, self.port)
        self.port = self._socket.getsockname()[1]

    async def start(self, voters: dict[int, tuple[str, int]]) -> None:
        clock = SystemClock()
        self.clients = NodeClients()
        self.committed = []
        runtime = RaftRuntime(
            self.node_id, voters, metadata_log_dir(self.data_dir), clock, self.config, self.clients
        )
        runtime.subscribe(lambda offset, entry: self.committed.append((offset, entry)))
        context = ControllerContext(
            BrokerConfig(), clock, runtime, None, self.node_id, cluster_id=CLUSTER_ID
        )
        self.server = Server(context, CONTROLLER_REGISTRY, self._socket)
        await runtime.start()
        self.server.start()
        self.runtime = runtime

    async def stop(self) -> None:
        assert self.runtime and self.server and self.clients
        await self.runtime.stop()
        await self.server.stop()
        await self.clients.close()
        self.runtime = None

    def values(self) -> list[bytes]:
        return [entry.value for _, entry in self.committed if not entry.leader_change]


async def _eventually(condition: Callable[[], object], what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened within {timeout} s: {what}")


async def _cluster(
    tmp_path: Path, voters: int, observers: int = 0, config: QuorumConfig = CONFIG
) -> list[Node]:
    nodes = [Node(i, tmp_path / f"node-{i}", config) for i in range(voters + observers)]
    for node in nodes:
        await node.bind()
    endpoints = {node.node_id: (HOST, node.port) for node in nodes[:voters]}
    for node in nodes:
        await node.start(endpoints)
    return nodes


async def _leader(nodes: list[Node]) -> Node:
    def find() -> Node | None:
        leaders = [n for n in nodes if n.runtime is not None and n.runtime.is_leader]
        return leaders[0] if len(leaders) == 1 else None

    return await _eventually(find, "one leader")


async def _stop_all(nodes: list[Node]) -> None:
    for node in nodes:
        if node.runtime is not None:
            await node.stop()


def test_three_voters_elect_replicate_and_survive_the_leader_stopping(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="broker.raft")

    async def scenario() -> None:
        nodes = await _cluster(tmp_path, voters=3)
        try:
            leader = await _leader(nodes)
            offset = await leader.runtime.append([b"topic-a", b"topic-b"])
            assert offset == 2  # after this epoch's leader-change entry at 0
            await _eventually(
                lambda: all(n.values() == [b"topic-a", b"topic-b"] for n in nodes),
                "every node applied both entries",
            )
            first_epoch = leader.runtime.epoch
            change = leader.committed[0][1]
            assert change.leader_change and change.epoch == first_epoch
            assert leader_change.decode(change.value).leader_id == leader.node_id
            assert all(n.committed[0] == (0, change) for n in nodes)

            # The leader stops cleanly: it hands over and a new one is elected at once.
            await leader.stop()
            rest = [n for n in nodes if n is not leader]
            successor = await _leader(rest)
            assert successor.runtime.epoch > first_epoch
            offset = await successor.runtime.append([b"topic-c"])
            await _eventually(
                lambda: all(n.values() == [b"topic-a", b"topic-b", b"topic-c"] for n in rest),
                "the survivors applied the new entry after the old ones",
            )
            assert offset == 4  # 0 change, 1-2 values, 3 change, 4 value
            # Each step of the handover is in the log, as a classroom watches it.
            new_epoch = successor.runtime.epoch
            assert f"raft node {leader.node_id}: resigned in epoch {first_epoch}" in caplog.text
            assert f"raft node {successor.node_id}: leader in epoch {new_epoch}" in caplog.text
            for follower in rest:
                if follower is not successor:
                    assert (
                        f"raft node {follower.node_id}: follower of {successor.node_id} in epoch "
                        f"{new_epoch}"
                    ) in caplog.text
        finally:
            await _stop_all(nodes)

    asyncio.run(scenario())


def test_an_idle_quorum_with_the_bundled_timeouts_keeps_its_leader(tmp_path):
    """With the bundled timeouts the leader holds an idle Fetch 500 ms, close to the 800 ms
    fetch timeout: each answer must restart the follower's fetch timeout from its arrival.
    (Handled at the time of the follower's last tick, up to a hold earlier, it left the next
    answer 300 ms to come, and the quorum changed leader about every second.)"""

    async def scenario() -> None:
        nodes = await _cluster(tmp_path, voters=3, config=QuorumConfig())
        try:
            leader = await _leader(nodes)
            epoch = leader.runtime.epoch
            await asyncio.sleep(10 * QuorumConfig().fetch_max_wait_ms / 1000)
            assert [n.runtime.epoch for n in nodes] == [epoch] * 3
            assert leader.runtime.is_leader
        finally:
            await _stop_all(nodes)

    asyncio.run(scenario())


def test_a_restarted_node_reloads_its_log_and_state_from_disk(tmp_path):
    async def scenario() -> None:
        nodes = await _cluster(tmp_path, voters=3)
        try:
            leader = await _leader(nodes)
            await leader.runtime.append([b"x", b"y", b"z"])
            follower = next(n for n in nodes if n is not leader)
            await _eventually(lambda: follower.values() == [b"x", b"y", b"z"], "replicated")
            epoch = follower.runtime.epoch
            await follower.stop()

            # What it persisted: quorum-state names the epoch and leader, the log the entries.
            store = RaftStore.open(metadata_log_dir(follower.data_dir), (0, 1, 2))
            state, entries = store.election_state(), store.entries()
            store.close()
            assert (state.epoch, state.leader_id) == (epoch, leader.node_id)
            assert [e.value for e in entries if not e.leader_change] == [b"x", b"y", b"z"]

            await leader.runtime.append([b"while-away"])
            await follower.bind()
            await follower.start({n.node_id: (HOST, n.port) for n in nodes})
            # It replays its log as the leader's high watermark reaches it, then catches up.
            await _eventually(
                lambda: follower.values() == [b"x", b"y", b"z", b"while-away"],
                "the restarted node applied its old entries and the new one",
            )
            assert follower.runtime.epoch == epoch
        finally:
            await _stop_all(nodes)

    asyncio.run(scenario())


def test_a_single_voter_elects_itself_at_once(tmp_path):
    async def scenario() -> None:
        (node,) = await _cluster(tmp_path, voters=1)
        try:
            await _eventually(lambda: node.runtime.is_leader, "the single voter leads", 2.0)
            assert await node.runtime.append([b"one"]) == 1
            assert node.values() == [b"one"]
            assert node.runtime.high_watermark == 2
        finally:
            await node.stop()
        # Restarted, it leads again in a later epoch, its entries intact.
        await node.bind()
        await node.start({0: (HOST, node.port)})
        try:
            await _eventually(lambda: node.values() == [b"one"], "replayed from disk", 2.0)
            assert node.runtime.epoch == 2
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_an_observer_follows_the_log_and_only_voters_lead(tmp_path):
    async def scenario() -> None:
        nodes = await _cluster(tmp_path, voters=3, observers=1)
        observer = nodes[3]
        try:
            leader = await _leader(nodes)
            await leader.runtime.append([b"for-everyone"])
            await _eventually(lambda: observer.values() == [b"for-everyone"], "observer applied")
            assert not observer.runtime.is_leader
            assert observer.runtime.leader_id == leader.node_id
            with pytest.raises(NotLeaderError):
                await observer.runtime.append([b"refused"])
        finally:
            await _stop_all(nodes)

    asyncio.run(scenario())


def test_describe_quorum_over_the_controller_listener(tmp_path):
    async def scenario() -> None:
        nodes = await _cluster(tmp_path, voters=3)
        request = DescribeQuorumRequest(
            topics=(
                TopicData(
                    topic_name="__cluster_metadata", partitions=(PartitionData(partition_index=0),)
                ),
            )
        )
        try:
            leader = await _leader(nodes)
            await leader.runtime.append([b"v"])
            await _eventually(lambda: all(n.values() == [b"v"] for n in nodes), "replicated")
            client = KafkaClient(HOST, leader.port)
            try:
                answer = await client.request(request, timeout_s=5)
            finally:
                await client.close()
            partition = answer.topics[0].partitions[0]
            assert partition.error_code is ErrorCode.none
            assert (partition.leader_id, partition.leader_epoch) == (
                leader.node_id,
                leader.runtime.epoch,
            )
            assert partition.high_watermark == 2
            assert sorted(r.replica_id for r in partition.current_voters) == [0, 1, 2]
            await _eventually(lambda: leader.runtime.describe_quorum().voters, "voter rows")
            assert [node.node_id for node in answer.nodes] == [0, 1, 2]

            follower = next(n for n in nodes if n is not leader)
            client = KafkaClient(HOST, follower.port)
            try:
                answer = await client.request(request, timeout_s=5)
            finally:
                await client.close()
            partition = answer.topics[0].partitions[0]
            assert partition.error_code is ErrorCode.not_leader_or_follower
            assert partition.leader_id == leader.node_id
        finally:
            await _stop_all(nodes)

    asyncio.run(scenario())


def test_an_isolated_leader_steps_down_and_the_others_elect_a_new_one(tmp_path):
    """The leader is cut off both ways with no handover (its listener closes, and every voter
    address it dials refuses): the other two stop hearing from it and elect a new leader; it
    hears from no majority, resigns (KAFKA-15489) and fails the append it could not commit."""

    async def scenario() -> None:
        nodes = await _cluster(tmp_path, voters=3)
        try:
            leader = await _leader(nodes)
            await leader.runtime.append([b"before"])
            await _eventually(lambda: all(n.values() == [b"before"] for n in nodes), "replicated")
            old_epoch = leader.runtime.epoch
            await leader.server.stop()
            rest = [n for n in nodes if n is not leader]
            for other in rest:
                leader.clients.update(other.node_id, HOST, _refusing_port())

            with pytest.raises(NotLeaderError):
                await leader.runtime.append([b"never-committed"])
            assert not leader.runtime.is_leader
            assert leader.runtime.epoch == old_epoch  # it learnt of no later epoch: it resigned
            successor = await _leader(rest)
            assert successor.runtime.epoch > old_epoch
            await successor.runtime.append([b"after"])
            await _eventually(
                lambda: all(n.values() == [b"before", b"after"] for n in rest), "new entry"
            )
        finally:
            await _stop_all(nodes)

    asyncio.run(scenario())


def _refusing_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound once, then closed)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


async def _chirpstream(*args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "chirpstream",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def _describe_steadily(nodes: list[Node], node: Node, *flags: str) -> tuple[Node, str]:
    """``chirpstream quorum --describe`` asked of ``node``, once its answer came while one
    leader held the quorum throughout (a starved test machine may move leadership while the
    tool starts); returns that leader and the output."""
    for _ in range(5):
        leader = await _leader(nodes)
        epoch = leader.runtime.epoch
        code, out, err = await _chirpstream(
            "quorum", "--bootstrap-controller", f"{HOST}:{node.port}", "--describe", *flags
        )
        assert code == 0, err
        if leader.runtime.is_leader and leader.runtime.epoch == epoch:
            return leader, out
    raise AssertionError("leadership kept moving")


def test_chirpstream_quorum_describe_prints_what_kafka_metadata_quorum_prints(tmp_path):
    async def scenario() -> None:
        nodes = await _cluster(tmp_path, voters=3, observers=1)
        try:
            leader = await _leader(nodes)
            await leader.runtime.append([b"v"])
            await _eventually(lambda: all(n.values() == [b"v"] for n in nodes), "replicated")
            follower = next(n for n in nodes[:3] if not n.runtime.is_leader)
            # Asked through a follower: it names the leader, and the tool asks the leader.
            leader, out = await _describe_steadily(nodes, follower)
            status = dict(line.split(":", 1) for line in out.splitlines())
            # Kafka's order: the cluster id (from DescribeCluster to the controller) first.
            assert list(status)[:3] == ["ClusterId", "LeaderId", "LeaderEpoch"]
            assert status["ClusterId"].strip() == CLUSTER_ID
            assert status["LeaderId"].strip() == str(leader.node_id)
            assert status["LeaderEpoch"].strip() == str(leader.runtime.epoch)
            assert status["HighWatermark"].strip() == str(leader.runtime.high_watermark)
            assert f'{{"id": 0, "endpoints": ["CONTROLLER://{HOST}:{nodes[0].port}"]}}' in out
            assert status["CurrentObservers"].strip() == '[{"id": 3}]'

            leader, out = await _describe_steadily(nodes, leader, "--replication")
            header, *rows = [line.split() for line in out.splitlines()]
            assert header == [
                "NodeId",
                "DirectoryId",
                "LogEndOffset",
                "Lag",
                "LastFetchTimestamp",
                "LastCaughtUpTimestamp",
                "Status",
            ]
            assert rows[0][0] == str(leader.node_id) and rows[0][-1] == "Leader"
            assert sorted(r[-1] for r in rows) == ["Follower", "Follower", "Leader", "Observer"]
            assert all(int(r[3]) == int(rows[0][2]) - int(r[2]) for r in rows)  # lag = behind

            code, out, err = await _chirpstream(
                "quorum", "--bootstrap-controller", "127.0.0.1:1", "--describe"
            )
            assert code == 1 and out == ""
            assert err.startswith("error: cannot reach the controller at 127.0.0.1:1")
            assert len(err.splitlines()) == 1
        finally:
            await _stop_all(nodes)

    asyncio.run(scenario())


def test_a_fetch_held_by_a_leader_that_resigns_is_answered_at_once(tmp_path):
    """The core drops the Fetch it was holding (nothing new to send) when it stops leading;
    the runtime answers it as the core answers any Fetch now, NOT_LEADER_OR_FOLLOWER, instead
    of leaving the replica's connection waiting for an answer that never comes."""

    async def scenario() -> None:
        nodes = await _cluster(tmp_path, voters=3)
        try:
            leader = await _leader(nodes)
            await leader.runtime.append([b"v"])
            await _eventually(lambda: all(n.values() == [b"v"] for n in nodes), "replicated")
            runtime, epoch = leader.runtime, leader.runtime.epoch
            caught_up = FetchRequest(
                9,
                leader.node_id,
                1,
                current_leader_epoch=epoch,
                fetch_offset=runtime.high_watermark,
                last_fetched_epoch=epoch,
            )
            # The first is answered at once: it tells replica 9 the high watermark, which
            # the leader had not told it yet. The same Fetch again finds nothing to send.
            told = await runtime.handle(caught_up)
            assert told.error is ErrorCode.none and told.high_watermark == caught_up.fetch_offset
            held = asyncio.ensure_future(runtime.handle(caught_up))
            await asyncio.sleep(0)  # in the inbox before the leader is asked to resign
            await leader.stop()
            answer = await held
            assert answer.error is ErrorCode.not_leader_or_follower
            assert (answer.correlation_id, answer.leader_epoch) == (1, epoch)
        finally:
            await _stop_all(nodes)

    asyncio.run(scenario())


def test_a_fetch_for_another_partition_gets_invalid_request(tmp_path):
    async def scenario() -> None:
        (node,) = await _cluster(tmp_path, voters=1)
        try:
            await _eventually(lambda: node.runtime.is_leader, "the single voter leads", 2.0)
            fetch = request_to_kio(
                FetchRequest(5, 0, 1, current_leader_epoch=1, fetch_offset=0, last_fetched_epoch=0),
                fetch_max_wait_ms=10,
            )
            topic = dataclasses.replace(fetch.topics[0], topic="tweets")
            client = KafkaClient(HOST, node.port)
            try:
                answer = await client.request(
                    dataclasses.replace(fetch, topics=(topic,)), timeout_s=5
                )
                assert answer.error_code is ErrorCode.invalid_request
                assert answer.responses == ()
                # The node goes on serving the quorum's own Fetch on the same connection.
                answer = await client.request(fetch, timeout_s=5)
                assert answer.responses[0].partitions[0].error_code is ErrorCode.none
            finally:
                await client.close()
        finally:
            await node.stop()

    asyncio.run(scenario())


def test_a_rolling_restart_keeps_every_committed_entry(tmp_path):
    """Each voter in turn stops (the leader handing over when it is the one) and starts again
    from its disk while entries keep being appended: every entry ever acknowledged as
    committed is on every node afterwards, in the same order, and the logs agree."""

    async def scenario() -> None:
        nodes = await _cluster(tmp_path, voters=3)
        acknowledged: list[bytes] = []
        try:
            for round_, node in enumerate(nodes):
                leader = await _leader(nodes)
                value = f"before-restart-{round_}".encode()
                await leader.runtime.append([value])
                acknowledged.append(value)
                await node.stop()
                leader = await _leader([n for n in nodes if n is not node])
                value = f"while-{round_}-is-down".encode()
                await leader.runtime.append([value])
                acknowledged.append(value)
                await node.bind()
                await node.start({n.node_id: (HOST, n.port) for n in nodes})
            await _eventually(
                lambda: all(n.values() == acknowledged for n in nodes),
                "every node applied every acknowledged entry, in order",
            )
            logs = [[(o, e) for o, e in n.committed] for n in nodes]
            assert logs[0] == logs[1] == logs[2]
        finally:
            await _stop_all(nodes)

    asyncio.run(scenario())
