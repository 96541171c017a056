"""Snapshots (KIP-630) through the Raft runtime, on real CONTROLLER listeners on 127.0.0.1:
a snapshot taken by the state machine is written as Kafka's ``<offset>-<epoch>.checkpoint``
and the log starts at its end; a voter that was down while the others snapshotted catches up
by FetchSnapshot (in several chunks) and loads the state; a restarted node loads its own
snapshot, then the entries after it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path

from broker.clock import SystemClock
from broker.config import BrokerConfig
from broker.net.client import NodeClients
from broker.net.controller_handlers import CONTROLLER_REGISTRY, ControllerContext
from broker.net.server import Server, bind
from broker.raft import Entry, NotLeaderError, QuorumConfig
from broker.raft.runtime import RaftRuntime
from broker.raft.store import metadata_log_dir, snapshot_file_name

# Small chunks: a snapshot of a few hundred bytes comes in several FetchSnapshot answers.
CONFIG = QuorumConfig(fetch_snapshot_max_bytes=64)
HOST = "127.0.0.1"


class Node:
    """A runtime behind its CONTROLLER listener, with a state machine that keeps the values
    committed so far and serialises them as its snapshot."""

    def __init__(self, node_id: int, data_dir: Path) -> None:
        self.node_id = node_id
        self.data_dir = data_dir
        self.port = 0
        self.runtime: RaftRuntime | None = None
        self.server: Server | None = None
        self.clients: NodeClients | None = None
        self.state: list[str] = []
        self.applied = 0  # the offset after the last entry applied
        self.loaded: list[int] = []  # end offsets of the snapshots loaded

    async def bind(self) -> None:
        self._socket = await bind(HOST, self.port)
        self.port = self._socket.getsockname()[1]

    async def start(self, voters: dict[int, tuple[str, int]]) -> None:
        clock = SystemClock()
        self.clients = NodeClients()
        self.state, self.applied, self.loaded = [], 0, []
        runtime = RaftRuntime(
            self.node_id, voters, metadata_log_dir(self.data_dir), clock, CONFIG, self.clients
        )
        runtime.subscribe(self._on_commit, self._on_snapshot)
        context = ControllerContext(BrokerConfig(), clock, runtime, None, self.node_id)
        self.server = Server(context, CONTROLLER_REGISTRY, self._socket)
        await runtime.start()
        self.server.start()
        self.runtime = runtime

    def _on_commit(self, offset: int, entry: Entry) -> None:
        assert offset == self.applied, f"entry {offset} applied after {self.applied}"
        if not entry.leader_change:
            self.state.append(entry.value.decode())
        self.applied = offset + 1

    def _on_snapshot(self, end_offset: int, data: bytes) -> None:
        self.state = json.loads(data)
        self.applied = end_offset
        self.loaded.append(end_offset)

    async def snapshot(self) -> int:
        assert self.runtime is not None
        end = self.applied
        await self.runtime.take_snapshot(end, json.dumps(self.state).encode())
        return end

    async def stop(self) -> None:
        assert self.runtime and self.server and self.clients
        await self.runtime.stop()
        await self.server.stop()
        await self.clients.close()
        self.runtime = None

    def checkpoints(self) -> list[str]:
        return sorted(p.name for p in metadata_log_dir(self.data_dir).glob("*.checkpoint"))


async def _eventually(condition: Callable[[], object], what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        await asyncio.sleep(0.02)
    raise AssertionError(f"never happened within {timeout} s: {what}")


async def _leader(nodes: list[Node]) -> Node:
    def find() -> Node | None:
        leaders = [n for n in nodes if n.runtime is not None and n.runtime.is_leader]
        return leaders[0] if len(leaders) == 1 else None

    return await _eventually(find, "one leader")


async def _append(nodes: list[Node], value: str) -> None:
    """Append through whoever leads, again if leadership moved before the commit."""
    while True:
        leader = await _leader(nodes)
        try:
            assert leader.runtime is not None
            await leader.runtime.append([value.encode()])
            return
        except NotLeaderError:
            await asyncio.sleep(0.05)


def test_a_voter_behind_the_snapshots_fetches_one_and_a_restart_loads_its_own(tmp_path):
    async def scenario() -> None:
        nodes = [Node(i, tmp_path / f"node-{i}") for i in range(3)]
        for node in nodes:
            await node.bind()
        voters = {n.node_id: (HOST, n.port) for n in nodes}
        for node in nodes:
            await node.start(voters)
        try:
            leader = await _leader(nodes)
            lagging = next(n for n in nodes if n is not leader)
            await lagging.stop()
            running = [n for n in nodes if n is not lagging]
            values = [f"value-{i}-" + "x" * 20 for i in range(12)]
            for value in values:
                await _append(running, value)
            await _eventually(
                lambda: all(n.state == values for n in running), "both running nodes applied"
            )
            ends = [await node.snapshot() for node in running]
            for node, end in zip(running, ends, strict=True):
                assert node.runtime is not None
                epoch = node.runtime.epoch
                assert node.checkpoints() == [snapshot_file_name(end, epoch)]
            # The entries below the snapshot are gone: only FetchSnapshot can serve them.
            await _append(running, "after-the-snapshot")
            values.append("after-the-snapshot")

            await lagging.bind()
            await lagging.start(voters)
            await _eventually(lambda: lagging.state == values, "the lagging voter caught up")
            assert lagging.loaded and lagging.loaded[0] >= min(ends)
            assert lagging.checkpoints(), "the fetched snapshot is written as a checkpoint"

            # A restart loads the node's own snapshot, then the entries after it.
            restarted = running[0]
            await restarted.stop()
            await restarted.bind()
            await restarted.start(voters)
            await _eventually(lambda: restarted.state == values, "the restarted node reloaded")
            assert restarted.loaded[0] == ends[0]
        finally:
            for node in nodes:
                if node.runtime is not None:
                    await node.stop()

    asyncio.run(scenario())


def test_a_snapshot_of_entries_not_committed_yet_is_refused(tmp_path):
    async def scenario() -> None:
        node = Node(0, tmp_path / "node-0")
        await node.bind()
        await node.start({0: (HOST, node.port)})
        try:
            await _append([node], "one")
            assert node.runtime is not None
            try:
                await node.runtime.take_snapshot(node.applied + 5, b"[]")
            except ValueError as error:
                assert "committed" in str(error)
            else:
                raise AssertionError("a snapshot beyond the committed entries was taken")
            assert node.checkpoints() == []
        finally:
            await node.stop()

    asyncio.run(scenario())
